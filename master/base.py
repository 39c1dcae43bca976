"""The master's state and the helpers its handler groups share.

The Master actor (master.master) is assembled from handler groups, one
module each: agents, frameworks, offers and Accept, tasks. They share the
registries, the offer book and these helpers.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from typing import Any

import msgspec

from libprocess import PID, Process, clock
from master.allocation import AllocatorProcess
from master.flags import MasterFlags
from master.offers import OfferBook, OutstandingOffer
from master.state import Agent, Cluster, Framework, Task
from zmesos.protocol import (
    CheckpointResources,
    FrameworkInfo,
    MasterInfo,
    Reason,
    RescindResourceOffer,
    Source,
    StatusUpdate,
    StatusUpdateMessage,
    TaskState,
    TaskStatus,
)
from zmesos.resources import Resources, checkpointed_part

__all__ = ["MasterBase"]


_MAX_STATUSES_PER_TASK = 20


class MasterBase(Process):
    """State and helpers shared by the master's handler groups (see master.master)."""

    def __init__(self, flags: MasterFlags | None = None, *, name: str = "master") -> None:
        super().__init__(name)
        self.flags = flags or MasterFlags()
        self.id = self.flags.new_master_id()
        self.cluster = Cluster(
            self.flags.max_completed_frameworks, self.flags.max_completed_tasks_per_framework
        )
        self.offers = OfferBook(self.id)
        self.metrics: collections.Counter[str] = collections.Counter()
        self.start_time = 0.0
        self.info: MasterInfo = None  # type: ignore[assignment]  # set in initialize
        self.allocator: PID = None  # type: ignore[assignment]
        self._agent_numbers = itertools.count()
        self._framework_numbers = itertools.count()
        self._removed_agents: collections.OrderedDict[str, None] = collections.OrderedDict()

    def _drop(self, message: object, sender: PID, reason: str, metric: str = "") -> None:
        """Log and count a message the master refuses."""
        self.metrics["dropped_messages"] += 1
        if metric:
            self.metrics[metric] += 1
        self.log.warning(
            "dropping_message", message=type(message).__name__, sender=str(sender), reason=reason
        )

    def _allocator_call(self, method: Callable[..., Any], *args: Any) -> None:
        """Tell the allocator of a change; it applies changes in the order they were made."""
        future = self.node.dispatch(self.allocator, method, *args)
        future.add_done_callback(self._allocator_call_done)

    def _allocator_call_done(self, future: Any) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.log.error("allocator_call_failed", error=repr(future.exception()))

    def _recover(
        self,
        framework_id: str,
        agent_id: str,
        resources: Resources,
        refuse: float = 0.0,
        role: str | None = None,
    ) -> None:
        """Give resources back to the allocator; `refuse` seconds of filter; `role` if known."""
        if resources:
            self._allocator_call(
                AllocatorProcess.recover_resources, framework_id, agent_id, resources, refuse, role
            )

    def _framework_for(self, sender: PID, framework_id: str, message: object) -> Framework | None:
        """The registered framework `framework_id` if `sender` is its scheduler, else drop."""
        framework = self.cluster.frameworks.get(framework_id)
        if framework is None:
            self._drop(message, sender, f"framework {framework_id!r} is not registered")
            return None
        if framework.pid != sender:
            self._drop(
                message,
                sender,
                f"framework {framework_id} is at {framework.pid}, not {sender}",
                "invalid_messages",
            )
            return None
        return framework

    def _send_status(self, framework: Framework, status: TaskStatus) -> None:
        """A status update the master makes up: no uuid, never acknowledged."""
        if framework.pid is None or not framework.connected:
            return
        update = StatusUpdate(
            framework_id=framework.id,
            status=status,
            agent_id=status.agent_id,
            executor_id=status.executor_id,
            timestamp=status.timestamp,
        )
        self.send(framework.pid, StatusUpdateMessage(update=update))

    def _checkpoint_resources(self, agent: Agent) -> None:
        """Send the agent its checkpointed resources (dynamic reservations, volumes) as now."""
        checkpointed = checkpointed_part(agent.total)
        self.send(agent.pid, CheckpointResources(resources=tuple(checkpointed.to_list())))
        self.log.info("checkpointing_resources", agent_id=agent.id, resources=str(checkpointed))

    def _master_status(
        self,
        task_id: str,
        state: TaskState,
        reason: Reason | None,
        message: str,
        agent_id: str = "",
        executor_id: str = "",
    ) -> TaskStatus:
        return TaskStatus(
            task_id=task_id,
            state=state,
            source=Source.MASTER,
            reason=reason,
            message=message,
            agent_id=agent_id,
            executor_id=executor_id,
            timestamp=clock.now(),
        )

    def _count_terminal(self, state: TaskState) -> None:
        self.metrics[f"tasks_{state.removeprefix('TASK_').lower()}"] += 1

    def _rescind(
        self, outstanding: OutstandingOffer, *, notify: bool = True, recover: bool = True
    ) -> None:
        """End an offer: tell its framework (if `notify`) and give its resources back."""
        self.offers.remove(outstanding.id)
        self.metrics["offers_rescinded"] += 1
        framework = self.cluster.frameworks.get(outstanding.framework_id)
        if notify and framework is not None and framework.connected and framework.pid:
            self.send(framework.pid, RescindResourceOffer(outstanding.id))
        if recover:
            self._recover(
                outstanding.framework_id,
                outstanding.agent_id,
                outstanding.resources,
                role=outstanding.role,
            )

    def _set_task_status(self, task: Task, status: TaskStatus) -> None:
        """Record a task's latest status; a first terminal one is counted."""
        if status.state.terminal and not task.state.terminal:
            self._count_terminal(status.state)
        task.state = status.state
        task.status = status
        task.statuses.append(status)
        if len(task.statuses) > _MAX_STATUSES_PER_TASK:
            del task.statuses[0]

    def _recover_framework(self, info: FrameworkInfo, pid_text: str | None) -> Framework:
        """A framework named by a re-registering agent: kept inactive until it re-registers."""
        pid = None
        if pid_text:
            try:
                pid = PID.parse(pid_text)
            except ValueError:
                pid = None
        info = msgspec.structs.replace(info, roles=info.roles or ("*",))
        framework = Framework(info.id, info, None, registered_time=clock.now())
        framework.active = False
        framework.connected = False
        self.cluster.add_framework(framework)
        if pid is not None:
            framework.pid = pid
        self._allocator_call(AllocatorProcess.add_framework, info.id, framework.roles, {}, False)
        self.log.info("framework_recovered", framework_id=info.id)
        return framework

    def _agents_of(self, framework: Framework) -> set[str]:
        agents = {task.agent_id for task in framework.tasks.values()}
        return agents | set(framework.executors)
