"""Agent <-> executor messages. The agent forwards `RunTask`, `KillTask` and
`FrameworkToExecutor`, and acknowledges with `StatusUpdateAcknowledgement`; the
executor sends `StatusUpdateMessage` and `ExecutorToFramework`."""

from __future__ import annotations

from libprocess import Message
from zmesos.protocol.common import AgentInfo, ExecutorInfo, FrameworkInfo, StatusUpdate, TaskInfo


class RegisterExecutor(Message, frozen=True):
    framework_id: str
    executor_id: str


class ExecutorRegistered(Message, frozen=True):
    executor: ExecutorInfo
    framework: FrameworkInfo
    agent: AgentInfo


class ReregisterExecutor(Message, frozen=True):
    """Executor -> agent after the agent came back: the tasks it runs whose terminal
    update the agent has not acknowledged, and its unacknowledged updates."""

    framework_id: str
    executor_id: str
    tasks: tuple[TaskInfo, ...] = ()
    updates: tuple[StatusUpdate, ...] = ()


class ReconnectExecutor(Message, frozen=True):
    """Agent -> executor, from a restarted agent recovering it: re-register with the
    sender (which may have a new address)."""

    agent_id: str


class ExecutorReregistered(Message, frozen=True):
    agent: AgentInfo


class ShutdownExecutor(Message, frozen=True):
    message: str = ""


__all__ = [
    "ExecutorRegistered",
    "ExecutorReregistered",
    "ReconnectExecutor",
    "RegisterExecutor",
    "ReregisterExecutor",
    "ShutdownExecutor",
]
