"""Agent <-> executor messages. The agent forwards `RunTask`, `KillTask` and
`FrameworkToExecutor`, and acknowledges with `StatusUpdateAcknowledgement`; the
executor sends `StatusUpdateMessage` and `ExecutorToFramework`."""

from __future__ import annotations

from libprocess import Message
from zmesos.protocol.common import (
    ID,
    AgentInfo,
    ExecutorInfo,
    FrameworkInfo,
    StatusUpdate,
    TaskInfo,
)


class RegisterExecutor(Message, frozen=True, kw_only=True):
    framework_id: ID
    executor_id: ID


class ExecutorRegistered(Message, frozen=True, kw_only=True):
    executor: ExecutorInfo
    framework: FrameworkInfo
    agent: AgentInfo


class ReregisterExecutor(Message, frozen=True, kw_only=True):
    """Executor -> agent after the agent came back: the tasks it runs whose terminal
    update the agent has not acknowledged, and its unacknowledged updates."""

    framework_id: ID
    executor_id: ID
    tasks: tuple[TaskInfo, ...] = ()
    updates: tuple[StatusUpdate, ...] = ()


class ReconnectExecutor(Message, frozen=True, kw_only=True):
    """Agent -> executor, from a restarted agent recovering it: re-register with the
    sender (which may have a new address)."""

    agent_id: ID


class ExecutorReregistered(Message, frozen=True, kw_only=True):
    agent: AgentInfo


class ShutdownExecutor(Message, frozen=True, kw_only=True):
    message: str = ""


__all__ = [
    "ExecutorRegistered",
    "ExecutorReregistered",
    "ReconnectExecutor",
    "RegisterExecutor",
    "ReregisterExecutor",
    "ShutdownExecutor",
]
