"""The agent's work-directory layout, as in Mesos (src/slave/paths.hpp).

```
<work_dir>/agents/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/<container_id>
<work_dir>/volumes/roles/<role>/<persistence_id>
<work_dir>/meta/resources/resources.info      the checkpointed resources (any agent id)
```
Every function is pure path arithmetic except `create_sandbox`. Ids become single
path components: one holding a path separator, or `.`/`..`, is refused with
ValueError so a peer-chosen id can never point outside the work directory.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from zmesos.resources import Resource

__all__ = [
    "agent_dir",
    "create_sandbox",
    "executor_dir",
    "framework_dir",
    "meta_dir",
    "new_container_id",
    "resources_info_path",
    "sandbox_dir",
    "volume_dir",
    "volume_path",
]


def new_container_id() -> str:
    """A fresh container id (a uuid4, as Mesos's containerizer uses)."""
    return str(uuid.uuid4())


def _component(kind: str, value: str) -> str:
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise ValueError(f"{kind} {value!r} cannot be a directory name")
    return value


def agent_dir(work_dir: str | Path, agent_id: str) -> Path:
    return Path(work_dir) / "agents" / _component("agent id", agent_id)


def framework_dir(work_dir: str | Path, agent_id: str, framework_id: str) -> Path:
    return agent_dir(work_dir, agent_id) / "frameworks" / _component("framework id", framework_id)


def executor_dir(work_dir: str | Path, agent_id: str, framework_id: str, executor_id: str) -> Path:
    return (
        framework_dir(work_dir, agent_id, framework_id)
        / "executors"
        / _component("executor id", executor_id)
    )


def sandbox_dir(
    work_dir: str | Path, agent_id: str, framework_id: str, executor_id: str, container_id: str
) -> Path:
    """The directory one run of an executor lives in (its cwd, stdout and stderr)."""
    return (
        executor_dir(work_dir, agent_id, framework_id, executor_id)
        / "runs"
        / _component("container id", container_id)
    )


def create_sandbox(
    work_dir: str | Path, agent_id: str, framework_id: str, executor_id: str, container_id: str
) -> Path:
    """Make the sandbox directory (and its parents); return it. OSError if the disk refuses."""
    path = sandbox_dir(work_dir, agent_id, framework_id, executor_id, container_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def volume_dir(work_dir: str | Path, role: str, persistence_id: str) -> Path:
    """Where a persistent volume's data lives; it outlives every sandbox.

    A nested role's `/` is written as a space (Mesos does the same), so a
    sub-role never looks like a directory inside its parent role's volumes.
    """
    encoded_role = _component("role", role.replace("/", " "))
    return Path(
        work_dir, "volumes", "roles", encoded_role, _component("persistence id", persistence_id)
    )


def meta_dir(work_dir: str | Path) -> Path:
    """Where the agent's checkpoints live (Mesos's `<work_dir>/meta`)."""
    return Path(work_dir) / "meta"


def resources_info_path(work_dir: str | Path) -> Path:
    """The checkpointed resources (dynamic reservations, volumes); not under any agent id."""
    return meta_dir(work_dir) / "resources" / "resources.info"


def volume_path(work_dir: str | Path, volume: Resource) -> Path:
    """Where a persistent volume resource's data lives (see `volume_dir`)."""
    if volume.disk is None or not volume.disk.persistence_id:
        raise ValueError(f"{volume} is not a persistent volume")
    return volume_dir(work_dir, volume.role, volume.disk.persistence_id)
