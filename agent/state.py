"""What the agent knows: frameworks -> executors -> tasks, each task with its latest state.

Plain records, mutated only by the Agent actor. A task is *queued* until its
executor registers and the agent hands it over (`delivered`); it is forgotten
once its terminal update is acknowledged. An executor is forgotten once it has
terminated and all of its tasks are forgotten; a framework once it has no
executors left.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
from pathlib import Path

from agent.containerizer import Container
from libprocess import PID, Timer
from zmesos.protocol import (
    ExecutorInfo,
    FrameworkInfo,
    Reason,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
)

__all__ = [
    "AgentExecutor",
    "AgentFramework",
    "AgentTask",
    "ExecutorState",
    "FrameworkState",
    "Termination",
]

# What /state keeps of the past, as Mesos's agent does (its defaults).
MAX_COMPLETED_FRAMEWORKS = 50
MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK = 150
MAX_COMPLETED_TASKS_PER_EXECUTOR = 200


class ExecutorState(enum.Enum):
    REGISTERING = "REGISTERING"  # launched (or recovered); has not (re-)registered yet
    RUNNING = "RUNNING"  # registered: tasks go straight to it
    TERMINATING = "TERMINATING"  # being shut down or killed
    TERMINATED = "TERMINATED"  # its process has been reaped


class FrameworkState(enum.Enum):
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"  # shut down by the master: no more updates for it


@dataclasses.dataclass
class AgentTask:
    info: TaskInfo
    state: TaskState = TaskState.STAGING
    delivered: bool = False  # handed to the executor (Mesos: launched, not queued)
    statuses: list[TaskStatus] = dataclasses.field(default_factory=list)  # for /state
    group: TaskGroupInfo | None = None  # the task group it came in, handed over whole

    @property
    def id(self) -> str:
        return self.info.task_id


@dataclasses.dataclass(frozen=True)
class Termination:
    """Why the agent ended an executor: what its live tasks become instead of the default."""

    reason: Reason
    message: str
    state: TaskState | None = None  # None: TASK_FAILED (Mesos's default, any executor)


@dataclasses.dataclass
class AgentExecutor:
    info: ExecutorInfo
    framework_id: str
    container_id: str
    sandbox: Path
    command_executor: bool  # made by the agent for a command task
    state: ExecutorState = ExecutorState.REGISTERING
    pid: PID | None = None
    container: Container | None = None
    tasks: dict[str, AgentTask] = dataclasses.field(default_factory=dict)
    registration_timer: Timer | None = None
    shutdown_timer: Timer | None = None
    termination: Termination | None = None
    exit_status: int | None = None
    recovered: bool = False  # found in the checkpoint after a restart; re-registers, not registers
    # Tasks whose terminal update was acknowledged, for /state.
    completed_tasks: collections.deque[AgentTask] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=MAX_COMPLETED_TASKS_PER_EXECUTOR)
    )

    @property
    def id(self) -> str:
        return self.info.executor_id

    def queued_tasks(self) -> list[AgentTask]:
        return [task for task in self.tasks.values() if not task.delivered]

    def queued_group(self, group: TaskGroupInfo) -> list[AgentTask]:
        """The tasks of `group` still queued here and not terminal."""
        queued = (self.tasks.get(task_id) for task_id in group.task_ids)
        return [
            task
            for task in queued
            if task is not None and task.group is group and not task.delivered
            if not task.state.terminal
        ]

    def live_tasks(self) -> list[AgentTask]:
        return [task for task in self.tasks.values() if not task.state.terminal]

    def cancel_timers(self) -> None:
        for timer in (self.registration_timer, self.shutdown_timer):
            if timer is not None:
                timer.cancel()
        self.registration_timer = self.shutdown_timer = None


@dataclasses.dataclass
class AgentFramework:
    info: FrameworkInfo
    pid: str  # the scheduler's PID, as the master gave it
    state: FrameworkState = FrameworkState.RUNNING
    executors: dict[str, AgentExecutor] = dataclasses.field(default_factory=dict)
    # Executors that ended and were removed, for /state.
    completed_executors: collections.deque[AgentExecutor] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK)
    )

    @property
    def id(self) -> str:
        return self.info.id

    def executor_of_task(self, task_id: str) -> AgentExecutor | None:
        for executor in self.executors.values():
            if task_id in executor.tasks:
                return executor
        return None
