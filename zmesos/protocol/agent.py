"""Master <-> agent messages. `KillTask`, `StatusUpdateMessage`, `ExitedExecutor`,
`StatusUpdateAcknowledgement` and the framework-message pair are shared with the
scheduler conversation (zmesos.protocol.scheduler), as in Mesos."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from libprocess import Message
from zmesos.protocol.common import (
    ID,
    AgentInfo,
    ExecutorInfo,
    FrameworkInfo,
    OptionalPIDText,
    PIDText,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
)
from zmesos.resources import Resource


class RegisterAgent(Message, frozen=True, kw_only=True):
    agent: AgentInfo
    version: str = ""


class ReportedTask(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A task a re-registering agent runs: its framework, what it is, its latest state."""

    framework_id: ID
    task: TaskInfo
    state: TaskState


class ReregisterAgent(Message, frozen=True, kw_only=True):
    # An agent resends it unchanged until answered: thousands after a master failover.
    resent: ClassVar[bool] = True
    agent: AgentInfo  # with its id set
    tasks: tuple[ReportedTask, ...] = ()
    frameworks: tuple[FrameworkInfo, ...] = ()
    framework_pids: dict[ID, OptionalPIDText] = {}
    executors: tuple[ExecutorInfo, ...] = ()
    checkpointed_resources: tuple[Resource, ...] = ()
    version: str = ""


class AgentRegistered(Message, frozen=True, kw_only=True):
    agent_id: ID
    ping_interval: float = 15.0


class AgentReregistered(Message, frozen=True, kw_only=True):
    agent_id: ID
    ping_interval: float = 15.0


class AgentRegistrationRefused(Message, frozen=True, kw_only=True):
    """Master -> agent: (re-)registration refused for who sent it (not authenticated, or
    another principal's agent id). The agent logs it and tries again, authenticating anew."""

    message: str


class UnregisterAgent(Message, frozen=True, kw_only=True):
    agent_id: ID


class RunTask(Message, frozen=True, kw_only=True):
    """Master -> agent -> executor: start a task for a framework."""

    framework: FrameworkInfo
    framework_pid: PIDText
    task: TaskInfo


class RunTaskGroup(Message, frozen=True, kw_only=True):
    """Master -> agent -> executor: start a task group on `executor`, all tasks or none
    (Mesos's RunTaskGroupMessage; to a v1 executor, the LAUNCH_GROUP event). Each task
    carries `executor` too, as the master fills it in."""

    framework: FrameworkInfo
    framework_pid: PIDText
    executor: ExecutorInfo
    task_group: TaskGroupInfo


class ShutdownFramework(Message, frozen=True, kw_only=True):
    framework_id: ID


class ShutdownAgent(Message, frozen=True, kw_only=True):
    message: str = ""


class UpdateFramework(Message, frozen=True, kw_only=True):
    framework_id: ID
    framework_pid: PIDText


class CheckpointResources(Message, frozen=True, kw_only=True):
    """Master -> agent: the agent's reserved and volume resources, now (replaces the old)."""

    resources: tuple[Resource, ...]


class Ping(Message, frozen=True, kw_only=True):
    connected: bool = True


class Pong(Message, frozen=True, kw_only=True):
    pass


__all__ = [
    "AgentRegistered",
    "AgentRegistrationRefused",
    "AgentReregistered",
    "CheckpointResources",
    "Ping",
    "Pong",
    "RegisterAgent",
    "ReportedTask",
    "ReregisterAgent",
    "RunTask",
    "RunTaskGroup",
    "ShutdownAgent",
    "ShutdownFramework",
    "UnregisterAgent",
    "UpdateFramework",
]
