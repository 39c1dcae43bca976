"""Scheduler <-> master messages (Mesos's v0 scheduler protocol)."""

from __future__ import annotations

from libprocess import Message
from zmesos.protocol.common import (
    Filters,
    FrameworkInfo,
    MasterInfo,
    Offer,
    Operation,
    StatusUpdate,
    TaskStatus,
)

# -- scheduler to master --------------------------------------------------------


class RegisterFramework(Message, frozen=True):
    framework: FrameworkInfo


class ReregisterFramework(Message, frozen=True):
    framework: FrameworkInfo  # with its id set
    failover: bool = True


class UnregisterFramework(Message, frozen=True):
    framework_id: str


class DeactivateFramework(Message, frozen=True):
    framework_id: str


class AcceptOffers(Message, frozen=True):
    framework_id: str
    offer_ids: tuple[str, ...]
    operations: tuple[Operation, ...] = ()
    filters: Filters = Filters()


class DeclineOffers(Message, frozen=True):
    framework_id: str
    offer_ids: tuple[str, ...]
    filters: Filters = Filters()


class ReviveOffers(Message, frozen=True):
    framework_id: str
    roles: tuple[str, ...] = ()  # empty: every role of the framework


class SuppressOffers(Message, frozen=True):
    framework_id: str
    roles: tuple[str, ...] = ()


class KillTask(Message, frozen=True):
    """Scheduler -> master -> agent -> executor: kill one task."""

    framework_id: str
    task_id: str
    agent_id: str = ""
    grace_period_seconds: float | None = None


class ShutdownFrameworkExecutor(Message, frozen=True):
    """Scheduler -> master -> agent: shut one of the framework's executors down
    (Mesos's SHUTDOWN call); its tasks end as when an executor exits."""

    framework_id: str
    executor_id: str
    agent_id: str


class ReconcileTasks(Message, frozen=True):
    framework_id: str
    statuses: tuple[TaskStatus, ...] = ()  # empty: implicit reconciliation


class StatusUpdateAcknowledgement(Message, frozen=True):
    """Scheduler -> master -> agent, and agent -> executor."""

    agent_id: str
    framework_id: str
    task_id: str
    uuid: bytes


class FrameworkToExecutor(Message, frozen=True):
    agent_id: str
    framework_id: str
    executor_id: str
    data: bytes


# -- master to scheduler --------------------------------------------------------


class FrameworkRegistered(Message, frozen=True):
    framework_id: str
    master: MasterInfo


class FrameworkReregistered(Message, frozen=True):
    framework_id: str
    master: MasterInfo


class ResourceOffers(Message, frozen=True):
    offers: tuple[Offer, ...]


class RescindResourceOffer(Message, frozen=True):
    offer_id: str


class StatusUpdateMessage(Message, frozen=True):
    """Executor -> agent -> master -> scheduler. `pid` is who acknowledges it."""

    update: StatusUpdate
    pid: str = ""


class LostAgent(Message, frozen=True):
    agent_id: str


class ExitedExecutor(Message, frozen=True):
    """Agent -> master -> scheduler: an executor ended."""

    agent_id: str
    framework_id: str
    executor_id: str
    status: int = 0


class ExecutorToFramework(Message, frozen=True):
    agent_id: str
    framework_id: str
    executor_id: str
    data: bytes


class FrameworkError(Message, frozen=True):
    message: str


class NotLeader(Message, frozen=True):
    """Master -> scheduler or agent: this master does not lead; `leader` is the one that
    does (its actor PID), empty while none is elected. Shared by both conversations."""

    leader: str = ""


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
