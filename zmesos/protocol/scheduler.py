"""Scheduler <-> master messages (Mesos's v0 scheduler protocol)."""

from __future__ import annotations

from libprocess import Message
from zmesos.protocol.common import (
    ID,
    Filters,
    FrameworkInfo,
    MasterInfo,
    Offer,
    Operation,
    OptionalPIDText,
    Seconds,
    StatusUpdate,
    TaskStatus,
)

# -- scheduler to master --------------------------------------------------------


class RegisterFramework(Message, frozen=True, kw_only=True):
    framework: FrameworkInfo


class ReregisterFramework(Message, frozen=True, kw_only=True):
    framework: FrameworkInfo  # with its id set
    failover: bool = True


class UnregisterFramework(Message, frozen=True, kw_only=True):
    framework_id: ID


class DeactivateFramework(Message, frozen=True, kw_only=True):
    framework_id: ID


class AcceptOffers(Message, frozen=True, kw_only=True):
    framework_id: ID
    offer_ids: tuple[ID, ...]
    operations: tuple[Operation, ...] = ()
    filters: Filters = Filters()


class DeclineOffers(Message, frozen=True, kw_only=True):
    framework_id: ID
    offer_ids: tuple[ID, ...]
    filters: Filters = Filters()


class ReviveOffers(Message, frozen=True, kw_only=True):
    framework_id: ID
    roles: tuple[str, ...] = ()  # empty: every role of the framework


class SuppressOffers(Message, frozen=True, kw_only=True):
    framework_id: ID
    roles: tuple[str, ...] = ()


class KillTask(Message, frozen=True, kw_only=True):
    """Scheduler -> master -> agent -> executor: kill one task."""

    framework_id: ID
    task_id: str
    agent_id: ID = ""
    grace_period_seconds: Seconds | None = None  # overrides the task's kill policy


class ShutdownFrameworkExecutor(Message, frozen=True, kw_only=True):
    """Scheduler -> master -> agent: shut one of the framework's executors down
    (Mesos's SHUTDOWN call); its tasks end as when an executor exits."""

    framework_id: ID
    executor_id: ID
    agent_id: ID


class ReconcileTasks(Message, frozen=True, kw_only=True):
    framework_id: ID
    statuses: tuple[TaskStatus, ...] = ()  # empty: implicit reconciliation


class StatusUpdateAcknowledgement(Message, frozen=True, kw_only=True):
    """Scheduler -> master -> agent, and agent -> executor."""

    agent_id: ID
    framework_id: ID
    task_id: str
    uuid: bytes


class FrameworkToExecutor(Message, frozen=True, kw_only=True):
    agent_id: ID
    framework_id: ID
    executor_id: ID
    data: bytes


# -- master to scheduler --------------------------------------------------------


class FrameworkRegistered(Message, frozen=True, kw_only=True):
    framework_id: ID
    master: MasterInfo


class FrameworkReregistered(Message, frozen=True, kw_only=True):
    framework_id: ID
    master: MasterInfo


class ResourceOffers(Message, frozen=True, kw_only=True):
    offers: tuple[Offer, ...]


class RescindResourceOffer(Message, frozen=True, kw_only=True):
    offer_id: ID


class StatusUpdateMessage(Message, frozen=True, kw_only=True):
    """Executor -> agent -> master -> scheduler. `pid` is who acknowledges it."""

    update: StatusUpdate
    pid: OptionalPIDText = ""


class LostAgent(Message, frozen=True, kw_only=True):
    agent_id: ID


class ExitedExecutor(Message, frozen=True, kw_only=True):
    """Agent -> master -> scheduler: an executor ended."""

    agent_id: ID
    framework_id: ID
    executor_id: ID
    status: int = 0


class ExecutorToFramework(Message, frozen=True, kw_only=True):
    agent_id: ID
    framework_id: ID
    executor_id: ID
    data: bytes


class FrameworkError(Message, frozen=True, kw_only=True):
    message: str


class NotLeader(Message, frozen=True, kw_only=True):
    """Master -> scheduler or agent: this master does not lead; `leader` is the one that
    does (its actor PID), empty while none is elected. Shared by both conversations."""

    leader: OptionalPIDText = ""


__all__ = [
    "AcceptOffers",
    "DeactivateFramework",
    "DeclineOffers",
    "ExecutorToFramework",
    "ExitedExecutor",
    "FrameworkError",
    "FrameworkRegistered",
    "FrameworkReregistered",
    "FrameworkToExecutor",
    "KillTask",
    "LostAgent",
    "NotLeader",
    "ReconcileTasks",
    "RegisterFramework",
    "ReregisterFramework",
    "RescindResourceOffer",
    "ResourceOffers",
    "ReviveOffers",
    "ShutdownFrameworkExecutor",
    "StatusUpdateAcknowledgement",
    "StatusUpdateMessage",
    "SuppressOffers",
    "UnregisterFramework",
]
