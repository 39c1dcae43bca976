"""Master <-> agent messages. `KillTask`, `StatusUpdateMessage`, `ExitedExecutor`,
`StatusUpdateAcknowledgement` and the framework-message pair are shared with the
scheduler conversation (zmesos.protocol.scheduler), as in Mesos."""

from __future__ import annotations

from libprocess import Message
from zmesos.protocol.common import AgentInfo, ExecutorInfo, FrameworkInfo, TaskInfo
from zmesos.resources import Resource


class RegisterAgent(Message, frozen=True):
    agent: AgentInfo
    version: str = ""


class ReregisterAgent(Message, frozen=True):
    agent: AgentInfo  # with its id set
    tasks: tuple[TaskInfo, ...] = ()
    task_states: dict[str, str] = {}  # task id -> latest TaskState
    frameworks: tuple[FrameworkInfo, ...] = ()
    framework_pids: dict[str, str] = {}
    executors: tuple[ExecutorInfo, ...] = ()
    checkpointed_resources: tuple[Resource, ...] = ()
    version: str = ""
    # The framework of each task, index-aligned with `tasks` (TaskInfo has no framework id).
    task_framework_ids: tuple[str, ...] = ()


class AgentRegistered(Message, frozen=True):
    agent_id: str
    ping_interval: float = 15.0


class AgentReregistered(Message, frozen=True):
    agent_id: str
    ping_interval: float = 15.0


class UnregisterAgent(Message, frozen=True):
    agent_id: str


class RunTask(Message, frozen=True):
    """Master -> agent -> executor: start a task for a framework."""

    framework: FrameworkInfo
    framework_pid: str
    task: TaskInfo


class ShutdownFramework(Message, frozen=True):
    framework_id: str


class ShutdownAgent(Message, frozen=True):
    message: str = ""


class UpdateFramework(Message, frozen=True):
    framework_id: str
    framework_pid: str


class CheckpointResources(Message, frozen=True):
    """Master -> agent: the agent's reserved and volume resources, now (replaces the old)."""

    resources: tuple[Resource, ...]


class Ping(Message, frozen=True):
    connected: bool = True


class Pong(Message, frozen=True):
    pass


__all__ = [
    "AgentRegistered",
    "AgentReregistered",
    "CheckpointResources",
    "Ping",
    "Pong",
    "RegisterAgent",
    "ReregisterAgent",
    "RunTask",
    "ShutdownAgent",
    "ShutdownFramework",
    "UnregisterAgent",
    "UpdateFramework",
]
