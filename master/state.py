"""What the master knows: agents, frameworks, tasks and executors, in memory.

Plain records mutated only by the Master actor. The registrar
(master.registry) persists the part that must survive a master restart
(admitted, unreachable and gone agents, weights, quota); the rest is rebuilt
from agents and frameworks re-registering, as in Mesos.

Invariants kept by `Cluster`'s methods:
- a live (non-terminal, or terminal but not yet removed) task is indexed in
  its framework's `tasks` and its agent's `tasks`;
- an executor is indexed in its framework's and its agent's `executors`;
- `MasterAgent.used` is the sum of its tasks' and executors' resources.

Observers (the operator API's event streams) hear of each change as
`observer(event, record)`, with Mesos's event names: AGENT_ADDED,
AGENT_REMOVED, FRAMEWORK_ADDED, FRAMEWORK_UPDATED, FRAMEWORK_REMOVED,
TASK_ADDED, TASK_UPDATED. They run inside the master's actor, at the change.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterator

from libprocess import PID, Timer
from zmesos.protocol import (
    AgentInfo,
    ExecutorInfo,
    FrameworkInfo,
    ReregisterAgent,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from zmesos.resources import Resources

__all__ = [
    "Cluster",
    "ClusterObserver",
    "MasterAgent",
    "MasterFramework",
    "MasterTask",
]


ClusterObserver = Callable[[str, "MasterTask | MasterFramework | MasterAgent"], None]


@dataclasses.dataclass(eq=False)
class MasterTask:
    """A task the master launched or learned of from a re-registering agent."""

    info: TaskInfo
    framework_id: str
    agent_id: str
    executor_id: str
    resources: Resources
    role: str | None = None  # the role of the offer it was launched on, when known
    state: TaskState = TaskState.STAGING
    status: TaskStatus | None = None  # the latest status seen
    statuses: list[TaskStatus] = dataclasses.field(default_factory=list)
    # A terminal update's uuid until the scheduler acknowledges it: the task stays listed
    # until then (Mesos too), though its resources went back when it became terminal.
    terminal_uuid: bytes | None = None
    # Its resources are no longer charged to its agent: it became terminal or unreachable
    # (Mesos's Master::updateTask recovers them then, not when the update is acknowledged).
    released: bool = False

    @property
    def id(self) -> str:
        return self.info.task_id


@dataclasses.dataclass(eq=False)
class MasterFramework:
    """A registered framework, connected or waiting out its failover timeout."""

    id: str
    info: FrameworkInfo
    pid: PID | None
    registered_time: float
    active: bool = True
    connected: bool = True
    # Whether `info.principal` was proved (authentication) or only claimed.
    authenticated: bool = False
    reregistered_time: float | None = None
    unregistered_time: float | None = None
    tasks: dict[str, MasterTask] = dataclasses.field(default_factory=dict)
    completed_tasks: collections.deque[MasterTask] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=1000)
    )
    # agent id -> executor id -> info
    executors: dict[str, dict[str, ExecutorInfo]] = dataclasses.field(default_factory=dict)
    suppressed_roles: set[str] = dataclasses.field(default_factory=set)
    failover_timer: Timer | None = None
    # Tasks of agents marked unreachable, by task id (UNREACHABLE, or LOST when the
    # framework is not partition-aware); bounded like completed_tasks.
    unreachable_tasks: dict[str, MasterTask] = dataclasses.field(default_factory=dict)

    @property
    def roles(self) -> tuple[str, ...]:
        return self.info.roles or ("*",)

    @property
    def partition_aware(self) -> bool:
        return self.info.partition_aware

    def has_executor(self, agent_id: str, executor_id: str) -> bool:
        return executor_id in self.executors.get(agent_id, {})


@dataclasses.dataclass(eq=False)
class MasterAgent:
    """A registered agent. `connected` falls when its link breaks; removal waits for pings."""

    id: str
    info: AgentInfo
    pid: PID
    total: Resources
    registered_time: float
    connected: bool = True
    active: bool = True
    principal: str | None = None  # the principal it authenticated as, if it did
    reregistered_time: float | None = None
    tasks: dict[tuple[str, str], MasterTask] = dataclasses.field(default_factory=dict)
    # framework id -> executor id -> info
    executors: dict[str, dict[str, ExecutorInfo]] = dataclasses.field(default_factory=dict)
    used: Resources = dataclasses.field(default_factory=Resources)
    used_by_framework: dict[str, Resources] = dataclasses.field(default_factory=dict)
    pings_missed: int = 0
    pong_received: bool = True
    ping_timer: Timer | None = None
    # The re-registration last taken from it (master.agent_handlers: a retry of the very
    # same one is answered again, not taken twice).
    reregistration: ReregisterAgent | None = None

    @property
    def hostname(self) -> str:
        return self.info.hostname

    def framework_ids(self) -> set[str]:
        return {fid for fid, _ in self.tasks} | set(self.executors)

    def charge(self, framework_id: str, resources: Resources) -> None:
        self.used = self.used + resources
        held = self.used_by_framework.get(framework_id)
        self.used_by_framework[framework_id] = resources if held is None else held + resources

    def release(self, framework_id: str, resources: Resources) -> None:
        self.used = self.used - resources
        left = self.used_by_framework.get(framework_id, Resources()) - resources
        if left:
            self.used_by_framework[framework_id] = left
        else:
            self.used_by_framework.pop(framework_id, None)


class Cluster:
    """The registries: agents and frameworks by id, and the operations that keep them aligned."""

    def __init__(self, max_completed_frameworks: int = 50, max_completed_tasks: int = 1000) -> None:
        self.agents: dict[str, MasterAgent] = {}
        self.agents_by_pid: dict[PID, MasterAgent] = {}
        self.frameworks: dict[str, MasterFramework] = {}
        self.frameworks_by_pid: dict[PID, MasterFramework] = {}
        self.completed_frameworks: collections.deque[MasterFramework] = collections.deque(
            maxlen=max_completed_frameworks
        )
        self.max_completed_tasks = max_completed_tasks
        self.observers: list[ClusterObserver] = []

    def notify(self, event: str, record: MasterTask | MasterFramework | MasterAgent) -> None:
        """Tell the observers of a change (see the module docstring)."""
        for observer in self.observers:
            observer(event, record)

    # -- agents ------------------------------------------------------------------

    def add_agent(self, agent: MasterAgent) -> None:
        self.agents[agent.id] = agent
        self.agents_by_pid[agent.pid] = agent
        self.notify("AGENT_ADDED", agent)

    def set_agent_pid(self, agent: MasterAgent, pid: PID) -> None:
        if self.agents_by_pid.get(agent.pid) is agent:
            del self.agents_by_pid[agent.pid]
        agent.pid = pid
        self.agents_by_pid[pid] = agent

    def remove_agent(self, agent: MasterAgent) -> None:
        self.agents.pop(agent.id, None)
        if self.agents_by_pid.get(agent.pid) is agent:
            del self.agents_by_pid[agent.pid]
        self.notify("AGENT_REMOVED", agent)

    # -- frameworks --------------------------------------------------------------

    def add_framework(self, framework: MasterFramework) -> None:
        framework.completed_tasks = collections.deque(maxlen=self.max_completed_tasks)
        self.frameworks[framework.id] = framework
        if framework.pid is not None:
            self.frameworks_by_pid[framework.pid] = framework
        self.notify("FRAMEWORK_ADDED", framework)

    def set_framework_pid(self, framework: MasterFramework, pid: PID | None) -> None:
        if framework.pid is not None and self.frameworks_by_pid.get(framework.pid) is framework:
            del self.frameworks_by_pid[framework.pid]
        framework.pid = pid
        if pid is not None:
            self.frameworks_by_pid[pid] = framework

    def remove_framework(self, framework: MasterFramework) -> None:
        self.frameworks.pop(framework.id, None)
        self.set_framework_pid(framework, None)
        self.completed_frameworks.append(framework)
        self.notify("FRAMEWORK_REMOVED", framework)

    # -- tasks and executors -------------------------------------------------------

    def add_task(self, task: MasterTask, *, charge: bool = True) -> None:
        """Index a task under its framework (if known) and agent, and charge its resources
        (unless the caller charges many tasks at once: `charge=False`)."""
        framework = self.frameworks.get(task.framework_id)
        if framework is not None:
            framework.tasks[task.id] = task
        agent = self.agents[task.agent_id]
        agent.tasks[(task.framework_id, task.id)] = task
        if charge:
            agent.charge(task.framework_id, task.resources)
        self.notify("TASK_ADDED", task)

    def release_task(self, task: MasterTask) -> bool:
        """Stop charging a task's resources to its agent, once; whether they were charged."""
        if task.released:
            return False
        task.released = True
        agent = self.agents.get(task.agent_id)
        if agent is None or agent.tasks.get((task.framework_id, task.id)) is not task:
            return False
        agent.release(task.framework_id, task.resources)
        return True

    def remove_task(self, task: MasterTask, *, unreachable: bool = False) -> None:
        """Unindex a task and release its resources (if it still held them); it joins the
        completed tasks, or the framework's unreachable tasks when `unreachable` (its agent
        went silent)."""
        self.release_task(task)
        framework = self.frameworks.get(task.framework_id)
        if framework is not None and framework.tasks.get(task.id) is task:
            del framework.tasks[task.id]
            if unreachable:
                framework.unreachable_tasks[task.id] = task
                while len(framework.unreachable_tasks) > self.max_completed_tasks:
                    del framework.unreachable_tasks[next(iter(framework.unreachable_tasks))]
            else:
                framework.completed_tasks.append(task)
        agent = self.agents.get(task.agent_id)
        if agent is not None and agent.tasks.get((task.framework_id, task.id)) is task:
            del agent.tasks[(task.framework_id, task.id)]

    def add_executor(self, agent_id: str, framework_id: str, executor: ExecutorInfo) -> None:
        agent = self.agents[agent_id]
        agent.executors.setdefault(framework_id, {})[executor.executor_id] = executor
        agent.charge(framework_id, Resources(executor.resources))
        framework = self.frameworks.get(framework_id)
        if framework is not None:
            framework.executors.setdefault(agent_id, {})[executor.executor_id] = executor

    def remove_executor(
        self, agent_id: str, framework_id: str, executor_id: str
    ) -> ExecutorInfo | None:
        agent = self.agents.get(agent_id)
        executor = None
        if agent is not None:
            executors = agent.executors.get(framework_id, {})
            executor = executors.pop(executor_id, None)
            if not executors:
                agent.executors.pop(framework_id, None)
            if executor is not None:
                agent.release(framework_id, Resources(executor.resources))
        framework = self.frameworks.get(framework_id)
        if framework is not None:
            executors = framework.executors.get(agent_id, {})
            executors.pop(executor_id, None)
            if not executors:
                framework.executors.pop(agent_id, None)
        return executor

    def tasks(self) -> Iterator[MasterTask]:
        for agent in self.agents.values():
            yield from agent.tasks.values()
