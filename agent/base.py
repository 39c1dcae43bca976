"""The agent's state and the helpers its handler groups share.

The Agent actor (agent.agent) is assembled from handler groups, one module
each (agent.registration_handlers, task_handlers, executor_handlers,
volume_handlers, recovery_handlers). They share the framework table, the
status update manager and these helpers; a group never calls another group's
methods (the task and executor groups share the executor's life,
agent.executor_lifecycle, as their common base).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from agent import paths
from agent.checkpoints import Checkpointer, UpdateLog
from agent.containerizer import Containerizer
from agent.fetcher import Fetcher
from agent.flags import AgentFlags
from agent.gc import GarbageCollector, collectable, disk_usage, max_allowed_age
from agent.state import (
    MAX_COMPLETED_FRAMEWORKS,
    AgentExecutor,
    AgentFramework,
    AgentTask,
    ExecutorState,
    FrameworkState,
)
from agent.status_updates import StatusUpdateManager
from agent.volume_links import BIND, VolumeLink, prepare_volume_links
from libprocess import PID, Message, Process, Timer, clock
from zmesos.backoff import Backoff
from zmesos.protocol import (
    AgentInfo,
    Reason,
    ShutdownExecutor,
    Source,
    StatusUpdate,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    TaskState,
    TaskStatus,
    new_status_update,
)
from zmesos.resources import Resource, Resources

__all__ = ["AgentBase"]

REGISTRATION_RETRY_MAX = 60.0  # Mesos: REGISTER_RETRY_INTERVAL_MAX
REGISTRATION_RETRY_MIN = 0.01  # a zero backoff factor must not spin


class AgentBase(Process):
    """State and shared helpers of the Agent actor; see agent.agent.Agent."""

    def __init__(
        self,
        flags: AgentFlags,
        name: str | None = "agent",
        *,
        containerizer: Containerizer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(name)
        self.flags = flags
        self.containerizer = containerizer or Containerizer.from_flags(flags)
        self.detector = flags.master_detector
        # The master's actor: known from the start when --master names it, else once
        # detected; it may change on every re-registration (a restarted or new master).
        self.master: PID | None = self.detector.fixed
        self.agent_id = ""
        self.info: AgentInfo = None  # type: ignore[assignment]  # set in initialize
        self.connected = False
        self.frameworks: dict[str, AgentFramework] = {}
        self.completed_frameworks: collections.deque[AgentFramework] = collections.deque(
            maxlen=MAX_COMPLETED_FRAMEWORKS
        )
        self.start_time = clock.now()
        self.metrics: collections.Counter[str] = collections.Counter()
        self.status_updates: StatusUpdateManager = None  # type: ignore[assignment]
        self.checkpointer = Checkpointer(flags.work_dir)
        self.gc: GarbageCollector = None  # type: ignore[assignment]  # set in initialize
        self.disk_usage: Callable[[], float] = functools.partial(disk_usage, flags.work_dir)
        self.fetcher = Fetcher(paths.fetcher_cache_dir(flags.work_dir), flags.fetcher_cache_size)
        self.recovering = False  # waiting for recovered executors to re-register
        self._recovery_timer: Timer | None = None
        self._unsent_notices: list[Message] = []  # for the master, kept while it is away
        self._registration_timer: Timer | None = None
        self._registration_backoff = Backoff(
            flags.registration_backoff_factor,
            REGISTRATION_RETRY_MAX,
            minimum=REGISTRATION_RETRY_MIN,
            rng=rng,
        )
        # zk://: the leader ZooKeeper's watch named last, once it has answered.
        self._leader_watched: PID | None = None
        self._leader_watch_answered = False
        self._leader_watch: asyncio.Future[PID | None] | None = None
        self._ping_timer: Timer | None = None
        self._ping_timeout = 0.0
        # With --credential: the master this agent proved its principal to (None: none
        # yet, or it must again), and the authentication in flight.
        self._authenticated_with: PID | None = None
        self._authenticating: asyncio.Future[str] | None = None
        self.shutting_down = False
        self.flag_resources = Resources()  # from --resources and the machine (agent.flags)
        self.checkpointed = Resources()  # dynamic reservations and volumes (agent.volumes)

    def _link_volumes(
        self, sandbox: Path, volumes: Sequence[Resource], *, bind: bool
    ) -> list[VolumeLink] | None:
        """Make volumes appear in a sandbox (agent.volume_links); None when that failed."""
        if not volumes:
            return []
        try:
            pairs = [(volume, paths.volume_path(self.flags.work_dir, volume)) for volume in volumes]
            links = prepare_volume_links(sandbox, pairs, bind=bind)
        except (OSError, ValueError) as error:
            self.metrics["volume_link_failures"] += 1
            self.log.error("volume_link_failed", sandbox=str(sandbox), error=str(error))
            return None
        for link in links:
            self.log.info(
                "volume_linked",
                source=str(link.source),
                target=str(link.target),
                mode=link.mode,
                how=link.how,
                enforced=link.how == BIND or link.mode == "RW",
            )
        return links

    # -- sandbox garbage collection (agent.gc) --------------------------------------------

    def _start_gc(self) -> None:
        """Before recovery: executors found dead while recovering are collected as usual."""
        work_dir = Path(self.flags.work_dir)
        self.gc = GarbageCollector(
            [work_dir / "agents", paths.meta_dir(work_dir) / "agents"],
            delay=self.delay,
            defer=self.defer,
            log=self.log,
        )

    def _collect_leftovers(self) -> None:
        """After recovery: what no recovered executor uses is scheduled from its
        modification time; the disk is watched every --disk-watch-interval."""
        work_dir = Path(self.flags.work_dir)
        live = {
            framework.id: {
                executor.id: executor.container_id for executor in framework.executors.values()
            }
            for framework in self.frameworks.values()
        }
        for path in collectable(work_dir, self.agent_id, live):
            self._collect(path, touch=False)
        self.delay(self.flags.disk_watch_interval, self._check_disk_usage)

    def _collect(self, path: Path, *, touch: bool = True) -> None:
        """Remove `path` --gc-delay after its modification time (now, when `touch`)."""
        if self.gc is None:
            return
        try:
            if touch:
                os.utime(path)
            age = clock.now() - os.stat(path, follow_symlinks=False).st_mtime
        except OSError:
            return  # never made, or gone already
        self.gc.schedule(self.flags.gc_delay - max(age, 0.0), path)

    def _keep(self, path: Path) -> None:
        """`path` is in use again (an executor or framework came back under its id)."""
        if self.gc is not None:
            self.gc.unschedule(path)

    def _check_disk_usage(self) -> None:
        """Mesos's disk watch: the fuller the disk, the younger what is collected."""
        try:
            usage = self.disk_usage()
        except OSError as error:
            self.log.warning("disk_usage_unknown", error=str(error))
        else:
            self.metrics["gc_disk_checks"] += 1
            age = max_allowed_age(self.flags.gc_delay, self.flags.gc_disk_headroom, usage)
            pruned = self.gc.prune(self.flags.gc_delay - age)
            if pruned:
                self.log.info(
                    "gc_disk_pressure", usage=round(usage, 4), max_age=round(age, 1), pruned=pruned
                )
        self.delay(self.flags.disk_watch_interval, self._check_disk_usage)

    def _executor(
        self, framework_id: str, executor_id: str, container_id: str
    ) -> AgentExecutor | None:
        """The executor of that run, if the agent still has it (else a stale event)."""
        framework = self.frameworks.get(framework_id)
        executor = framework.executors.get(executor_id) if framework else None
        if executor is None or executor.container_id != container_id:
            return None
        return executor

    def _executor_by_pid(self, pid: PID) -> AgentExecutor | None:
        for framework in self.frameworks.values():
            for executor in framework.executors.values():
                if executor.pid == pid:
                    return executor
        return None

    def _from_master(self, sender: PID, message: Any) -> bool:
        if sender == self.master:
            return True
        self.metrics["invalid_messages"] += 1
        self._drop(message, f"it did not come from the master ({self.master})", sender=str(sender))
        return False

    def _refuse_executor(self, sender: PID, message: Any, reason: str) -> None:
        self._drop(message, reason, sender=str(sender))
        self.send(sender, ShutdownExecutor(message=f"Refused by the agent: {reason}"))

    def _drop(self, message: Any, reason: str, task_id: str = "", **fields: Any) -> None:
        self.metrics["dropped_messages"] += 1
        if task_id:
            fields["task_id"] = task_id
        self.log.warning(
            "dropping_message", message=type(message).__name__, reason=reason, **fields
        )

    def _recovered_executor_back(self) -> None:
        """A recovered executor re-registered: recovery ends once none is awaited."""
        if not self.recovering:
            return
        for framework in self.frameworks.values():
            for executor in framework.executors.values():
                if executor.recovered and executor.state is ExecutorState.REGISTERING:
                    return
        self._end_recovery()

    def _end_recovery(self) -> None:
        raise NotImplementedError  # agent.recovery_handlers.RecoveryHandlers

    def _info_to_checkpoint(self) -> AgentInfo:
        """The agent's info as checkpointed: with the resources it was started with (the
        flags and the machine), which a restart must match; reservations and volumes
        have their own checkpoint (agent.volume_handlers)."""
        return msgspec.structs.replace(self.info, resources=tuple(self.flag_resources.to_list()))

    def _notify_master(self, notice: Message) -> None:
        """Send a notice the master must not miss (ExitedExecutor): now if connected, else
        when the agent next (re-)registers. A stopping agent sends at once: it has no next."""
        if self.connected or self.shutting_down:
            self._send_master(notice)
        else:
            self._unsent_notices.append(notice)

    def _checkpoints(self, framework: AgentFramework) -> bool:
        return framework.info.checkpoint and bool(self.agent_id)

    def _update_log(
        self, framework_id: str, executor: AgentExecutor, task_id: str
    ) -> UpdateLog | None:
        """Where a task's update stream is persisted (frameworks that checkpoint), else None."""
        framework = self.frameworks.get(framework_id)
        if framework is None or not self._checkpoints(framework) or task_id not in executor.tasks:
            return None
        return self.checkpointer.update_log(
            self.agent_id, framework_id, executor.id, executor.container_id, task_id
        )

    def _take_executor_update(self, sender: PID, update: StatusUpdate) -> None:
        """An executor's update: into its task's stream (on disk first), then acknowledged."""
        status = update.status
        framework = self.frameworks.get(update.framework_id)
        executor_id = update.executor_id or status.executor_id
        executor = framework.executors.get(executor_id) if framework else None
        if framework is None or executor is None or update.uuid is None:
            self.metrics["invalid_status_updates"] += 1
            self._drop(update, "unknown framework or executor, or no uuid", status.task_id)
            return
        if executor.pid is not None and sender != executor.pid:
            self.metrics["invalid_status_updates"] += 1
            self._drop(update, "it did not come from the task's executor", sender=str(sender))
            return
        if executor.recovered and executor.state is ExecutorState.REGISTERING:
            # Not acknowledged: the executor resends it, after the older updates it
            # still holds, once it has re-registered (a forwarded one would overtake them).
            self.metrics["invalid_status_updates"] += 1
            self._drop(update, "its executor has not re-registered yet", status.task_id)
            return
        if framework.state is FrameworkState.TERMINATING:
            # The master has marked its tasks killed already; nobody would acknowledge.
            self._acknowledge_executor(sender, update)
            self._drop(update, "the framework is terminating", status.task_id)
            return
        task = executor.tasks.get(status.task_id)
        if task is None or task.state.terminal:
            # Forgotten or finished: acknowledge so the executor stops resending.
            self._acknowledge_executor(sender, update)
            self._drop(update, "the task is unknown or terminal already", status.task_id)
            return
        status = msgspec.structs.replace(
            status, agent_id=self.agent_id, executor_id=executor.id, uuid=update.uuid
        )
        if status.state is TaskState.FAILED and executor.container is not None:
            # The kernel killed the task's process for going over the container's limit.
            limitation = self.containerizer.limitation(executor.container)
            if limitation is not None:
                status = msgspec.structs.replace(
                    status, reason=limitation.reason, message=limitation.message
                )
        update = msgspec.structs.replace(
            update, status=status, agent_id=self.agent_id, executor_id=executor.id
        )
        log = self._update_log(framework.id, executor, task.id)
        if self.status_updates.update(update, log):
            self._record_status(task, status)
            self.metrics["status_updates"] += 1
            self.log.info(
                "status_update",
                task_id=task.id,
                state=status.state.value,
                framework_id=framework.id,
                source=status.source.value,
            )
        self._acknowledge_executor(sender, update)

    def _record_status(self, task: AgentTask, status: TaskStatus) -> None:
        """A task's new state, kept with its history (for /state) and counted by state."""
        task.state = status.state
        task.statuses.append(status)
        if status.state.terminal:
            self.metrics[f"tasks_{status.state.removeprefix('TASK_').lower()}"] += 1

    def _never_launched(self, framework_id: str) -> TaskState:
        """What a task this agent never launched becomes: TASK_DROPPED for a partition-aware
        framework, TASK_LOST for the others (Mesos: for backward compatibility), and for
        a framework the agent does not know."""
        framework = self.frameworks.get(framework_id)
        if framework is not None and framework.info.partition_aware:
            return TaskState.DROPPED
        return TaskState.LOST

    def _agent_update(
        self,
        framework_id: str,
        task_id: str,
        executor_id: str,
        state: TaskState,
        reason: Reason,
        message: str,
    ) -> None:
        """An update the agent makes itself (source AGENT), through the status update manager."""
        update = new_status_update(
            framework_id,
            TaskStatus(task_id=task_id, state=state, reason=reason, message=message),
            source=Source.AGENT,
            agent_id=self.agent_id,
            executor_id=executor_id,
            timestamp=clock.now(),
        )
        framework = self.frameworks.get(framework_id)
        executor = framework.executors.get(executor_id) if framework else None
        log = None
        if executor is not None and task_id in executor.tasks:
            self._record_status(executor.tasks[task_id], update.status)
            log = self._update_log(framework_id, executor, task_id)
        self.log.info(
            "status_update",
            task_id=task_id,
            state=state.value,
            framework_id=framework_id,
            source=Source.AGENT.value,
            reason=reason.value,
        )
        self.status_updates.update(update, log)

    def _send_master(self, message: Message) -> None:
        """To the master, once one is known (before that, no master could want it)."""
        if self.master is not None:
            self.send(self.master, message)

    def _forward_update(self, update: StatusUpdate) -> None:
        self._send_master(StatusUpdateMessage(update=update, pid=str(self.pid)))

    def _acknowledge_executor(self, executor_pid: PID, update: StatusUpdate) -> None:
        assert update.uuid is not None
        self.send(
            executor_pid,
            StatusUpdateAcknowledgement(
                agent_id=self.agent_id,
                framework_id=update.framework_id,
                task_id=update.status.task_id,
                uuid=update.uuid,
            ),
        )

    def _remove_executor_if_done(self, framework: AgentFramework, executor: AgentExecutor) -> None:
        if executor.state is not ExecutorState.TERMINATED:
            return
        if executor.tasks and framework.state is not FrameworkState.TERMINATING:
            return  # terminal updates still wait for acknowledgements
        if framework.executors.get(executor.id) is executor:
            del framework.executors[executor.id]
            framework.completed_executors.append(executor)
            if self._checkpoints(framework):
                self.checkpointer.remove_executor(self.agent_id, framework.id, executor.id)
            self.log.info("executor_removed", executor_id=executor.id, framework_id=framework.id)
            self._collect(executor.sandbox)
            self._collect(executor.sandbox.parent.parent)  # the executor's directory, every run
        self._remove_framework_if_idle(framework)

    def _remove_framework_if_idle(self, framework: AgentFramework) -> None:
        if framework.executors or self.frameworks.get(framework.id) is not framework:
            return
        del self.frameworks[framework.id]
        self.completed_frameworks.append(framework)
        if self._checkpoints(framework):
            self.checkpointer.remove_framework(self.agent_id, framework.id)
        if self.agent_id:
            self._collect(paths.framework_dir(self.flags.work_dir, self.agent_id, framework.id))
        if framework.state is FrameworkState.TERMINATING:
            self.status_updates.cleanup(framework.id)
        self.log.info("framework_removed", framework_id=framework.id)
        if self.shutting_down and not self.frameworks:
            self.log.info("agent_shut_down")
            self.terminate()

    def _forget_everything(self) -> None:
        self._unsent_notices.clear()
        for framework in self.frameworks.values():
            if self._checkpoints(framework):
                self.checkpointer.remove_framework(self.agent_id, framework.id)
            for executor in framework.executors.values():
                executor.cancel_timers()
                if executor.container is not None:
                    self.containerizer.destroy(executor.container)
        self.frameworks.clear()
        self.status_updates.close_all()
