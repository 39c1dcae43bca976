"""The agent's watch over its containers: limits from resources, limitations, disk, usage.

- Limits: a container gets its executor's resources plus its tasks'; a command
  executor adds what Mesos adds for its own (0.1 cpus, 32 MB) to its task's
  memory of at least 32 MB (Mesos's MIN_MEMORY), and any container gets at least
  64 MB: our executors are Python processes that take some 20-27 MB of their own
  before they run anything (Mesos's C++ executors fit in its 32 MB floor). They
  grow as tasks join a running executor.
- Limitations: the containerizer's `watch` reports a container that went over
  its memory limit (the kernel killed one of its processes); the agent then
  ends the container and its live tasks become TASK_FAILED with the limitation's
  reason and message. An executor's own TASK_FAILED for a task whose process the
  kernel killed is given the same reason (agent.base).
- disk/du: every `--container-disk-watch-interval` (on the runtime clock) each
  running container's sandbox and persistent volumes are measured with `du`;
  with `--enforce-container-disk-quota` a sandbox over its `disk` (or a volume
  over its size) ends the container, REASON_CONTAINER_LIMITATION_DISK.
- `statistics()`: each running container's usage (agent.monitor, agent.usage),
  Mesos's `/monitor/statistics` entries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent import paths
from agent.base import AgentBase
from agent.containerizer import Container, Limitation
from agent.isolation import Limits
from agent.monitor import usage_request
from agent.state import AgentExecutor, ExecutorState, Termination
from libprocess import Timer
from zmesos.protocol import ExecutorInfo, Reason, TaskState
from zmesos.resources import Resource, Resources

__all__ = [
    "COMMAND_EXECUTOR_CPUS",
    "COMMAND_EXECUTOR_MEM_MB",
    "MIN_CONTAINER_MEM_MB",
    "MIN_MEM_MB",
    "ContainerMonitor",
    "disk_usage_bytes",
]

COMMAND_EXECUTOR_CPUS = 0.1  # Mesos: DEFAULT_EXECUTOR_CPUS
COMMAND_EXECUTOR_MEM_MB = 32.0  # Mesos: DEFAULT_EXECUTOR_MEM
MIN_MEM_MB = 32.0  # Mesos: MIN_MEMORY (of a command task)
MIN_CONTAINER_MEM_MB = 64.0  # see the module docstring
_MB = 1024 * 1024


def container_limits(
    info: ExecutorInfo, command_executor: bool, task_resources: Sequence[Resource]
) -> Limits:
    """A container's share: its executor's resources and its tasks' (see the module docstring)."""
    resources = Resources.from_list(info.resources) + Resources.from_list(task_resources)
    cpus, mem = resources.cpus, resources.mem
    disk = resources.filter(lambda r: not r.is_persistent_volume).disk
    if command_executor:
        cpus += COMMAND_EXECUTOR_CPUS
        mem = max(mem, MIN_MEM_MB) + COMMAND_EXECUTOR_MEM_MB
    return Limits(cpus=cpus, mem_mb=max(mem, MIN_CONTAINER_MEM_MB), disk_mb=disk)


async def disk_usage_bytes(path: Path) -> int | None:
    """What `du` says `path` takes on disk (symbolic links not followed); None if it cannot."""
    try:
        process = await asyncio.create_subprocess_exec(
            "du",
            "-s",
            "-k",
            str(path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    output, _ = await process.communicate()
    try:
        return int(output.split()[0]) * 1024
    except (IndexError, ValueError):
        return None  # e.g. the sandbox was removed meanwhile


@dataclasses.dataclass(frozen=True)
class DiskTarget:
    """What one disk/du round measures for one container."""

    framework_id: str
    executor_id: str
    container_id: str
    sandbox: Path
    quota_bytes: int  # 0: no quota
    volumes: list[tuple[Resource, Path]]


class ContainerMonitor(AgentBase):
    """Limits, limitations, disk/du and usage of the agent's containers (no handlers)."""

    _disk_timer: Timer | None = None

    def _destroy_executor(self, executor: AgentExecutor) -> None:
        raise NotImplementedError  # agent.executor_lifecycle.ExecutorLifecycle

    def _limits_of(self, executor: AgentExecutor) -> Limits:
        task_resources = [r for task in executor.live_tasks() for r in task.info.resources]
        return container_limits(executor.info, executor.command_executor, task_resources)

    def _resize_container(self, executor: AgentExecutor) -> None:
        """A task joined a running executor: its container's limits grow with it."""
        container = executor.container
        if container is None:
            return
        limits = self._limits_of(executor)
        if limits == container.limits:
            return
        try:
            self.containerizer.update(container, limits)
        except OSError as error:
            self.log.warning("container_update_failed", executor_id=executor.id, error=str(error))

    def _watch_container(self, executor: AgentExecutor, container: Container) -> None:
        """Hear when the container goes over a limit (until it ends)."""
        self.defer(
            self.containerizer.watch(container),
            functools.partial(
                self._container_limited,
                executor.framework_id,
                executor.id,
                executor.container_id,
            ),
        )

    def _container_limited(
        self, framework_id: str, executor_id: str, container_id: str, done: Any
    ) -> None:
        executor = self._executor(framework_id, executor_id, container_id)
        if executor is None or done.cancelled() or done.exception() is not None:
            return
        limitation: Limitation | None = done.result()
        if limitation is not None:
            self._limit_reached(executor, limitation)

    def _limit_reached(self, executor: AgentExecutor, limitation: Limitation) -> None:
        """End a container that went over a limit; its live tasks fail with the reason."""
        if executor.state is ExecutorState.TERMINATED or executor.container is None:
            return
        executor.container.limitation = executor.container.limitation or limitation
        if executor.termination is not None and executor.termination.reason == limitation.reason:
            return  # heard already
        self.metrics["container_limitations"] += 1
        self.log.warning(
            "container_limit_exceeded",
            executor_id=executor.id,
            framework_id=executor.framework_id,
            container_id=executor.container_id,
            reason=limitation.reason.value,
            message=limitation.message,
        )
        executor.termination = Termination(
            reason=limitation.reason, message=limitation.message, state=TaskState.FAILED
        )
        self._destroy_executor(executor)

    def _termination_at_exit(self, executor: AgentExecutor) -> None:
        """Right before its cleanup: a container the kernel killed for memory says so."""
        if executor.container is None:
            return
        limitation = self.containerizer.limitation(executor.container)
        if limitation is not None and (
            executor.termination is None or executor.termination.reason != limitation.reason
        ):
            executor.termination = Termination(
                reason=limitation.reason, message=limitation.message, state=TaskState.FAILED
            )

    # -- disk/du ---------------------------------------------------------------

    def _start_disk_watch(self) -> None:
        if self.containerizer.isolation.uses("disk/du") and self._disk_timer is None:
            self._disk_timer = self.delay(
                self.flags.container_disk_watch_interval, self._watch_disks
            )

    def _watch_disks(self) -> None:
        """Measure every running container's sandbox and volumes (off the mailbox)."""
        self._disk_timer = None
        targets: list[DiskTarget] = []
        for framework in self.frameworks.values():
            for executor in framework.executors.values():
                if executor.container is None or executor.state is ExecutorState.TERMINATED:
                    continue
                volumes = [
                    (volume, paths.volume_path(self.flags.work_dir, volume))
                    for volume in self._volumes_of(executor)
                ]
                targets.append(
                    DiskTarget(
                        framework_id=framework.id,
                        executor_id=executor.id,
                        container_id=executor.container_id,
                        sandbox=executor.sandbox,
                        quota_bytes=executor.container.limits.disk_bytes,
                        volumes=volumes,
                    )
                )
        self.defer(_measure(targets), self._disks_measured)

    def _volumes_of(self, executor: AgentExecutor) -> list[Resource]:
        resources = [*executor.info.resources]
        for task in executor.live_tasks():
            resources.extend(task.info.resources)
        return [r for r in resources if r.is_persistent_volume]

    def _disks_measured(self, done: Any) -> None:
        if not done.cancelled() and done.exception() is None:
            for target, used, over in done.result():
                executor = self._executor(
                    target.framework_id, target.executor_id, target.container_id
                )
                if executor is None or executor.container is None:
                    continue
                executor.container.disk_used_bytes = used
                if over and self.flags.enforce_container_disk_quota:
                    self._limit_reached(
                        executor,
                        Limitation(reason=Reason.CONTAINER_LIMITATION_DISK, message=over),
                    )
        if not self.shutting_down:
            self._start_disk_watch()

    # -- usage -----------------------------------------------------------------

    def statistics(self) -> list[dict[str, Any]]:
        """Each running container's usage now, as Mesos's `/monitor/statistics` lists it
        (the HTTP endpoint measures off the actor: agent.monitor)."""
        return usage_request(self).measure()


async def _measure(targets: list[DiskTarget]) -> list[tuple[DiskTarget, int | None, str]]:
    """For each target, one at a time: its sandbox's bytes, and why it is over (or '')."""
    results = []
    for target in targets:
        used = await disk_usage_bytes(target.sandbox)
        over = ""
        if used is not None and target.quota_bytes and used > target.quota_bytes:
            over = (
                f"Disk usage ({used / _MB:.1f} MB) exceeds quota ({target.quota_bytes / _MB:g} MB)"
            )
        for volume, path in target.volumes:
            volume_used = await disk_usage_bytes(path)
            size = int(volume.scalar * _MB)
            if not over and volume_used is not None and size and volume_used > size:
                name = volume.disk.persistence_id if volume.disk else path.name
                over = (
                    f"Disk usage of persistent volume {name} ({volume_used / _MB:.1f} MB) "
                    f"exceeds its size ({size / _MB:g} MB)"
                )
        results.append((target, used, over))
    return results
