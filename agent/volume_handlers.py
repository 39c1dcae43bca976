"""Checkpointed resources and persistent volumes on the agent.

The master sends CheckpointResources after every operation that changes the
agent's dynamic reservations or volumes. The agent checks them against its
flag resources, writes them to `<work_dir>/meta/resources/resources.info`
(atomically: temp file, fsync, rename, directory fsync) and only then takes
them as its own: a later message (a RunTask using a new volume) is handled
after the file is on disk. A restarted agent reads the file and advertises
its reservations and volumes again, whatever its agent id becomes.

Each volume is the directory `<work_dir>/volumes/roles/<role>/<persistence_id>`,
made when the volume appears and deleted when it disappears (DESTROY), but
never while a task of the agent uses it. A task's volumes appear in its
sandbox at their container paths (agent.volume_links).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec

from agent import paths
from agent.base import AgentBase
from agent.paths import volume_path
from libprocess import PID
from zmesos.durable import read_if_exists, write_atomically
from zmesos.errors import ResourcesError
from zmesos.protocol import CheckpointResources
from zmesos.resources import Resource, Resources, apply_checkpoint, needs_checkpoint

__all__ = [
    "VolumeHandlers",
    "load_checkpointed_resources",
    "write_checkpointed_resources",
]

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[Resource])


def write_checkpointed_resources(work_dir: str | Path, resources: Resources) -> None:
    """Put the checkpointed resources on disk, durably (see the module docstring)."""
    write_atomically(paths.resources_info_path(work_dir), _ENCODER.encode(resources.to_list()))


def load_checkpointed_resources(work_dir: str | Path) -> Resources:
    """The checkpointed resources on disk; empty when there are none.

    Raises ResourcesError when the file is unreadable or holds invalid resources.
    """
    data = read_if_exists(paths.resources_info_path(work_dir))
    if data is None:
        return Resources()
    try:
        return Resources.from_list(_DECODER.decode(data))
    except msgspec.DecodeError as error:
        raise ResourcesError(f"checkpointed resources are unreadable: {error}") from None


def _volume_key(volume: Resource) -> tuple[str, str]:
    assert volume.disk is not None
    return (volume.role, volume.disk.persistence_id)


class VolumeHandlers(AgentBase):
    """CheckpointResources from the master; volume directories made and removed."""

    def _recover_checkpointed_resources(self, flag_resources: Resources) -> Resources:
        """At start: the agent's total, its flag resources with the checkpoint applied."""
        self.flag_resources = flag_resources
        try:
            checkpointed = load_checkpointed_resources(self.flags.work_dir)
            total = apply_checkpoint(flag_resources, checkpointed)
        except ResourcesError as error:
            # Mesos refuses to start here; we start with the flag resources and keep
            # the file and the volumes' data untouched for an operator to look at.
            self.metrics["checkpointed_resources_incompatible"] += 1
            self.log.error(
                "checkpointed_resources_ignored",
                path=str(paths.resources_info_path(self.flags.work_dir)),
                reason=str(error),
            )
            return flag_resources
        self.checkpointed = checkpointed
        if checkpointed:
            self.log.info("checkpointed_resources_recovered", resources=str(checkpointed))
        for volume in checkpointed.persistent_volumes():
            volume_path(self.flags.work_dir, volume).mkdir(parents=True, exist_ok=True)
        return total

    def checkpoint_resources(self, sender: PID, message: CheckpointResources) -> None:
        self.metrics["messages_checkpoint_resources"] += 1
        if not self._from_master(sender, message):
            return
        try:
            checkpointed = Resources.from_list(message.resources)
            if not all(needs_checkpoint(resource) for resource in checkpointed):
                raise ResourcesError("only dynamic reservations and volumes are checkpointed")
            total = apply_checkpoint(self.flag_resources, checkpointed)
        except ResourcesError as error:
            self.metrics["invalid_checkpointed_resources"] += 1
            self._drop(message, f"invalid checkpointed resources: {error}")
            return
        try:
            self._make_volumes(checkpointed)
            write_checkpointed_resources(self.flags.work_dir, checkpointed)
        except (OSError, ValueError) as error:
            # The agent cannot keep what the master decided: say so loudly; the master
            # sends its view again when the agent re-registers.
            self.metrics["checkpoint_failures"] += 1
            self.log.error("checkpointing_resources_failed", error=str(error))
            return
        previous = self.checkpointed
        self.checkpointed = checkpointed
        self.info = msgspec.structs.replace(self.info, resources=tuple(total.to_list()))
        self.log.info("resources_checkpointed", resources=str(checkpointed))
        self._remove_destroyed_volumes(previous, checkpointed)

    def _make_volumes(self, checkpointed: Resources) -> None:
        for volume in checkpointed.persistent_volumes():
            path = volume_path(self.flags.work_dir, volume)
            if not path.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                self.log.info("volume_created", path=str(path), volume=str(volume))

    def _remove_destroyed_volumes(self, previous: Resources, checkpointed: Resources) -> None:
        """Delete the data of volumes that are gone, unless a task still uses one."""
        kept = {_volume_key(volume) for volume in checkpointed.persistent_volumes()}
        in_use = {_volume_key(volume) for volume in self._volumes_in_use()}
        for volume in previous.persistent_volumes():
            key = _volume_key(volume)
            if key in kept:
                continue
            path = volume_path(self.flags.work_dir, volume)
            if key in in_use:
                self.metrics["volume_removals_refused"] += 1
                self.log.error("volume_not_removed", path=str(path), reason="a task uses it")
                continue
            shutil.rmtree(path, ignore_errors=True)
            self.log.info("volume_destroyed", path=str(path))

    def _volumes_in_use(self) -> list[Resource]:
        used: list[Resource] = []
        for framework in self.frameworks.values():
            for executor in framework.executors.values():
                used.extend(r for r in executor.info.resources if r.is_persistent_volume)
                for task in executor.live_tasks():
                    used.extend(r for r in task.info.resources if r.is_persistent_volume)
        return used
