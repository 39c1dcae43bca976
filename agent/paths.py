"""The agent's work-directory layout, as in Mesos (src/slave/paths.hpp).

```
<work_dir>/agents/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/<container_id>
    .../runs/latest -> <container_id>             (a symlink to the executor's current run)
<work_dir>/volumes/roles/<role>/<persistence_id>
<work_dir>/fetch/cache/<sha256 of the URI>          the fetcher cache (emptied on start)
<work_dir>/meta/resources/resources.info      the checkpointed resources (any agent id)
<work_dir>/meta/boot_id
<work_dir>/meta/agents/latest                     (the current agent id)
<work_dir>/meta/agents/<agent_id>/agent.info
    .../frameworks/<framework_id>/framework.info, framework.pid
    .../executors/<executor_id>/executor.info
    .../executors/<executor_id>/runs/latest       (the current container id)
    .../runs/<container_id>/pids/forked.pid, pids/libprocess.pid
    .../runs/<container_id>/tasks/<task_id>/task.info, task.updates
```
In the sandbox tree `runs/latest` is a symlink, as in Mesos, so operators and
`/files` can name the current run. Under meta/, Mesos's `latest` is a symlink;
ours is a small file holding the name, written like every checkpoint
(zmesos.durable.write_atomically). Every function is pure path arithmetic
except `create_sandbox`. Ids become single
path components: one holding a path separator, or `.`/`..`, is refused with
ValueError so a peer-chosen id can never point outside the work directory.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from zmesos.resources import Resource

__all__ = [
    "agent_dir",
    "agent_info_path",
    "agent_meta_dir",
    "boot_id_path",
    "create_sandbox",
    "executor_dir",
    "executor_info_path",
    "executor_meta_dir",
    "fetcher_cache_dir",
    "forked_pid_path",
    "framework_dir",
    "framework_info_path",
    "framework_meta_dir",
    "framework_pid_path",
    "latest_agent_path",
    "latest_run_path",
    "libprocess_pid_path",
    "meta_dir",
    "new_container_id",
    "resources_info_path",
    "run_meta_dir",
    "sandbox_dir",
    "task_info_path",
    "task_meta_dir",
    "task_updates_path",
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
    """Make the sandbox directory (and its parents) and point the executor's `runs/latest`
    symlink at it (Mesos's link, relative, swapped in atomically); return the sandbox.
    OSError if the disk refuses."""
    path = sandbox_dir(work_dir, agent_id, framework_id, executor_id, container_id)
    path.mkdir(parents=True, exist_ok=True)
    latest = path.parent / "latest"
    temporary = path.parent / f".latest.{container_id}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(container_id, target_is_directory=True)
    os.replace(temporary, latest)
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


def fetcher_cache_dir(work_dir: str | Path) -> Path:
    """Where the fetcher keeps the files of URIs marked `cache`."""
    return Path(work_dir) / "fetch" / "cache"


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


def boot_id_path(work_dir: str | Path) -> Path:
    """The boot id the agent last ran under: a different one means the machine rebooted."""
    return meta_dir(work_dir) / "boot_id"


def latest_agent_path(work_dir: str | Path) -> Path:
    """Holds the id of the agent to recover (Mesos: the `latest` symlink)."""
    return meta_dir(work_dir) / "agents" / "latest"


def agent_meta_dir(work_dir: str | Path, agent_id: str) -> Path:
    return meta_dir(work_dir) / "agents" / _component("agent id", agent_id)


def agent_info_path(work_dir: str | Path, agent_id: str) -> Path:
    return agent_meta_dir(work_dir, agent_id) / "agent.info"


def framework_meta_dir(work_dir: str | Path, agent_id: str, framework_id: str) -> Path:
    return (
        agent_meta_dir(work_dir, agent_id) / "frameworks" / _component("framework id", framework_id)
    )


def framework_info_path(work_dir: str | Path, agent_id: str, framework_id: str) -> Path:
    return framework_meta_dir(work_dir, agent_id, framework_id) / "framework.info"


def framework_pid_path(work_dir: str | Path, agent_id: str, framework_id: str) -> Path:
    return framework_meta_dir(work_dir, agent_id, framework_id) / "framework.pid"


def executor_meta_dir(
    work_dir: str | Path, agent_id: str, framework_id: str, executor_id: str
) -> Path:
    return (
        framework_meta_dir(work_dir, agent_id, framework_id)
        / "executors"
        / _component("executor id", executor_id)
    )


def executor_info_path(
    work_dir: str | Path, agent_id: str, framework_id: str, executor_id: str
) -> Path:
    return executor_meta_dir(work_dir, agent_id, framework_id, executor_id) / "executor.info"


def latest_run_path(
    work_dir: str | Path, agent_id: str, framework_id: str, executor_id: str
) -> Path:
    """Holds the container id of the executor's current run."""
    return executor_meta_dir(work_dir, agent_id, framework_id, executor_id) / "runs" / "latest"


def run_meta_dir(
    work_dir: str | Path, agent_id: str, framework_id: str, executor_id: str, container_id: str
) -> Path:
    return (
        executor_meta_dir(work_dir, agent_id, framework_id, executor_id)
        / "runs"
        / _component("container id", container_id)
    )


def forked_pid_path(
    work_dir: str | Path, agent_id: str, framework_id: str, executor_id: str, container_id: str
) -> Path:
    """The OS pid of the executor's process (it leads the container's session)."""
    run = run_meta_dir(work_dir, agent_id, framework_id, executor_id, container_id)
    return run / "pids" / "forked.pid"


def libprocess_pid_path(
    work_dir: str | Path, agent_id: str, framework_id: str, executor_id: str, container_id: str
) -> Path:
    """The executor's actor PID (name@host:port), once it has registered."""
    run = run_meta_dir(work_dir, agent_id, framework_id, executor_id, container_id)
    return run / "pids" / "libprocess.pid"


def task_meta_dir(
    work_dir: str | Path,
    agent_id: str,
    framework_id: str,
    executor_id: str,
    container_id: str,
    task_id: str,
) -> Path:
    run = run_meta_dir(work_dir, agent_id, framework_id, executor_id, container_id)
    return run / "tasks" / _component("task id", task_id)


def task_info_path(
    work_dir: str | Path,
    agent_id: str,
    framework_id: str,
    executor_id: str,
    container_id: str,
    task_id: str,
) -> Path:
    return (
        task_meta_dir(work_dir, agent_id, framework_id, executor_id, container_id, task_id)
        / "task.info"
    )


def task_updates_path(
    work_dir: str | Path,
    agent_id: str,
    framework_id: str,
    executor_id: str,
    container_id: str,
    task_id: str,
) -> Path:
    """The task's status update stream: each update, then each acknowledgement, in order."""
    return (
        task_meta_dir(work_dir, agent_id, framework_id, executor_id, container_id, task_id)
        / "task.updates"
    )
