"""Test doubles for the agent's tests: a fake master that records and acknowledges.

`FakeMaster` is named "master" like the real one. It answers registrations
(unless told not to), records every message an agent sends, acknowledges status
updates at once (unless `auto_ack` is off), and sends RunTask, KillTask and the
rest on demand. `wait_for` polls a predicate as messages arrive, bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent import Agent, AgentFlags
from libprocess import PID, Message, Node, Process
from zmesos.protocol import (
    AgentRegistered,
    AgentReregistered,
    CommandInfo,
    ExecutorInfo,
    ExecutorToFramework,
    ExecutorType,
    ExitedExecutor,
    FrameworkInfo,
    FrameworkToExecutor,
    KillPolicy,
    KillTask,
    Ping,
    Pong,
    RegisterAgent,
    ReregisterAgent,
    RunTask,
    RunTaskGroup,
    ShutdownFramework,
    StatusUpdate,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
)
from zmesos.resources import Resources

FRAMEWORK = FrameworkInfo(user="tester", name="agent-tests", id="framework-1")
SCHEDULER_PID = "scheduler@127.0.0.1:1"
AGENT_RESOURCES = "cpus:2;mem:1024;disk:1024;ports:[31000-31100]"
WAIT_SECONDS = 20.0
POLL_SECONDS = 0.02


class FakeMaster(Process):
    def __init__(
        self,
        agent_id: str = "agent-1",
        *,
        answer: bool = True,
        auto_ack: bool = True,
        ping_interval: float = 15.0,
        name: str = "master",
    ) -> None:
        super().__init__(name)
        self.agent_id = agent_id
        self.answer = answer
        self.auto_ack = auto_ack
        self.ping_interval = ping_interval
        self.agent: PID | None = None
        self.received: list[tuple[PID, Message]] = []
        self.updates: list[StatusUpdate] = []
        self._arrived = asyncio.Event()

    def initialize(self) -> None:
        self.install(RegisterAgent, self.on_register)
        self.install(ReregisterAgent, self.on_reregister)
        self.install(StatusUpdateMessage, self.on_update)
        self.install(ExitedExecutor, self.record)
        self.install(ExecutorToFramework, self.record)
        self.install(Pong, self.record)

    # -- what the agent sends --------------------------------------------------

    def record(self, sender: PID, message: Message) -> None:
        self.received.append((sender, message))
        self._arrived.set()

    def on_register(self, sender: PID, message: RegisterAgent) -> None:
        self.record(sender, message)
        if self.answer:
            self.agent = sender
            self.send(
                sender, AgentRegistered(agent_id=self.agent_id, ping_interval=self.ping_interval)
            )

    def on_reregister(self, sender: PID, message: ReregisterAgent) -> None:
        self.record(sender, message)
        if self.answer:
            self.agent = sender
            self.send(
                sender,
                AgentReregistered(agent_id=message.agent.id, ping_interval=self.ping_interval),
            )

    def on_update(self, sender: PID, message: StatusUpdateMessage) -> None:
        self.record(sender, message)
        self.updates.append(message.update)
        if self.auto_ack:
            self.acknowledge(message.update, sender)

    def acknowledge(self, update: StatusUpdate, agent: PID | None = None) -> None:
        """Acknowledge to `agent` (the agent that sent the update; the last one by default)."""
        agent = agent or self.agent
        assert update.uuid is not None and agent is not None
        self.send(
            agent,
            StatusUpdateAcknowledgement(
                agent_id=update.agent_id,
                framework_id=update.framework_id,
                task_id=update.status.task_id,
                uuid=update.uuid,
            ),
        )

    def of_type(self, kind: type[Message]) -> list[Any]:
        return [message for _, message in self.received if isinstance(message, kind)]

    def states(self, task_id: str) -> list[TaskState]:
        return [u.status.state for u in self.updates if u.status.task_id == task_id]

    def terminal(self, task_id: str) -> StatusUpdate | None:
        for update in self.updates:
            if update.status.task_id == task_id and update.status.state.terminal:
                return update
        return None

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = WAIT_SECONDS) -> None:
        """Until `predicate()` holds: re-checked on every message and every 20 ms, bounded."""

        async def poll() -> None:
            while not predicate():
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), POLL_SECONDS)

        await asyncio.wait_for(poll(), timeout)

    # -- what the test makes the master send -----------------------------------

    def run_task(self, task: TaskInfo, framework: FrameworkInfo = FRAMEWORK) -> None:
        assert self.agent is not None
        self.send(self.agent, RunTask(framework=framework, framework_pid=SCHEDULER_PID, task=task))

    def run_task_group(
        self, executor: ExecutorInfo, tasks: list[TaskInfo], framework: FrameworkInfo = FRAMEWORK
    ) -> None:
        assert self.agent is not None
        group = TaskGroupInfo(tasks=tuple(tasks))
        message = RunTaskGroup(
            framework=framework, framework_pid=SCHEDULER_PID, executor=executor, task_group=group
        )
        self.send(self.agent, message)

    def kill_task(self, task_id: str, grace: float | None = None, framework_id: str = "") -> None:
        assert self.agent is not None
        framework_id = framework_id or FRAMEWORK.id
        self.send(
            self.agent,
            KillTask(
                framework_id=framework_id,
                task_id=task_id,
                agent_id=self.agent_id,
                grace_period_seconds=grace,
            ),
        )

    def shutdown_framework(self, framework_id: str = FRAMEWORK.id) -> None:
        assert self.agent is not None
        self.send(self.agent, ShutdownFramework(framework_id=framework_id))

    def framework_message(self, executor_id: str, data: bytes) -> None:
        assert self.agent is not None
        message = FrameworkToExecutor(
            agent_id=self.agent_id, framework_id=FRAMEWORK.id, executor_id=executor_id, data=data
        )
        self.send(self.agent, message)

    def ping(self, connected: bool = True) -> None:
        assert self.agent is not None
        self.send(self.agent, Ping(connected=connected))


def command_task(
    task_id: str, command: str, *, kill_grace: float | None = None, shell: bool = True
) -> TaskInfo:
    return TaskInfo(
        name=task_id,
        task_id=task_id,
        agent_id="agent-1",
        command=CommandInfo(value=command, shell=shell),
        kill_policy=KillPolicy(grace_period_seconds=kill_grace) if kill_grace is not None else None,
    )


def executor_task(task_id: str, executor_id: str, command: CommandInfo) -> TaskInfo:
    return TaskInfo(
        name=task_id,
        task_id=task_id,
        agent_id="agent-1",
        executor=ExecutorInfo(executor_id=executor_id, command=command),
    )


def default_executor(executor_id: str = "default") -> ExecutorInfo:
    """A DEFAULT executor (task groups) with Mesos's least resources."""
    return ExecutorInfo(
        executor_id=executor_id,
        framework_id=FRAMEWORK.id,
        type=ExecutorType.DEFAULT,
        resources=tuple(Resources.parse("cpus:0.1;mem:32;disk:32").to_list()),
    )


def group_task(task_id: str, command: str, executor: ExecutorInfo) -> TaskInfo:
    """A task of a group run by `executor`, as the master sends it (executor filled in)."""
    return TaskInfo(
        name=task_id,
        task_id=task_id,
        agent_id="agent-1",
        command=CommandInfo(value=command),
        executor=executor,
        resources=tuple(Resources.parse("cpus:0.1;mem:32").to_list()),
    )


def master_address(node: Node) -> str:
    """The fake master's actor, named directly (no HTTP to learn it from)."""
    return f"master@{node.host}:{node.port}"


def sandboxes(work_dir: Path, executor_id: str) -> list[Path]:
    pattern = f"agents/*/frameworks/*/executors/{executor_id}/runs/*"
    return sorted(path for path in work_dir.glob(pattern) if path.name != "latest")


async def start_agent(node: Node, work_dir: Path, **overrides: Any) -> tuple[FakeMaster, Agent]:
    """A FakeMaster and a real Agent (AGENT_RESOURCES, `overrides` as flags) on `node`,
    returned once the agent has registered."""
    master = FakeMaster()
    node.spawn(master)
    flags = AgentFlags(
        master=master_address(node),
        resources=AGENT_RESOURCES,
        work_dir=str(work_dir),
        **overrides,
    )
    agent = Agent(flags)
    node.spawn(agent)
    await master.wait_for(lambda: master.agent is not None)
    return master, agent
