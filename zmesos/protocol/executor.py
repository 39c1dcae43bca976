"""Agent <-> executor messages. The agent forwards `RunTask`, `KillTask` and
`FrameworkToExecutor`, and acknowledges with `StatusUpdateAcknowledgement`; the
executor sends `StatusUpdateMessage` and `ExecutorToFramework`."""

from __future__ import annotations

from libprocess import Message
from zmesos.protocol.common import AgentInfo, ExecutorInfo, FrameworkInfo, TaskInfo


class RegisterExecutor(Message, frozen=True):
    framework_id: str
    executor_id: str


class ExecutorRegistered(Message, frozen=True):
    executor: ExecutorInfo
    framework: FrameworkInfo
    agent: AgentInfo


class ReregisterExecutor(Message, frozen=True):
    framework_id: str
    executor_id: str
    tasks: tuple[TaskInfo, ...] = ()


class ExecutorReregistered(Message, frozen=True):
    agent: AgentInfo


class ShutdownExecutor(Message, frozen=True):
    message: str = ""


__all__ = [
    "ExecutorRegistered",
    "ExecutorReregistered",
    "RegisterExecutor",
    "ReregisterExecutor",
    "ShutdownExecutor",
]
