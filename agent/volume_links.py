"""A task's persistent volumes made visible at their container paths in its sandbox.

Two ways, chosen per task:
- bind mount (`BIND`): where the agent can mount (root on Linux), the
  container path is made an empty directory and the command executor
  bind-mounts the volume there in the task's own mount namespace, read-only
  for RO volumes (frameworks.volume_mounts). Only the task sees the mount.
- symlink (`SYMLINK`): everywhere else, and for custom executors (whose tasks
  arrive after the executor started): the container path is a symlink to the
  volume. The mode is then advisory; the agent logs it.

Container paths were validated by the master (relative, no `..`); they are
checked again here, since a path leaving the sandbox would be a hole.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from zmesos.resources import Resource, container_path_problem

__all__ = ["BIND", "SYMLINK", "VolumeLink", "can_bind_mount", "prepare_volume_links"]

BIND = "bind"
SYMLINK = "symlink"


@dataclasses.dataclass(frozen=True)
class VolumeLink:
    """One volume in one sandbox: where its data is, where the task sees it, how."""

    source: Path
    target: Path
    mode: str  # RW or RO
    how: str  # BIND or SYMLINK


def can_bind_mount() -> bool:
    """Whether this agent can give a task a mount namespace of its own (root on Linux)."""
    return sys.platform.startswith("linux") and os.geteuid() == 0


def prepare_volume_links(
    sandbox: Path, volumes: Iterable[tuple[Resource, Path]], *, bind: bool
) -> list[VolumeLink]:
    """Make each volume's place in the sandbox: an empty mount point, or a symlink.

    `volumes`: (volume, its directory). Raises ValueError for a container path
    that would leave the sandbox, OSError when the sandbox refuses.
    """
    links = []
    for volume, source in volumes:
        assert volume.disk is not None
        problem = container_path_problem(volume.disk.container_path)
        if problem is not None:
            raise ValueError(problem)
        target = sandbox / volume.disk.container_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if bind:
            target.mkdir(exist_ok=True)
        elif not target.is_symlink():
            target.symlink_to(source, target_is_directory=True)
        elif Path(os.readlink(target)) != source:
            raise ValueError(f"{target} already links to another volume")
        links.append(VolumeLink(source, target, volume.disk.mode, BIND if bind else SYMLINK))
    return links
