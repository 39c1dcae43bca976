"""The executor API, in-process: a custom Executor and its driver against a fake agent."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import msgspec
import pytest

from frameworks import DriverStatus, Executor, ExecutorDriver, ExecutorEnvironment, run_executor
from frameworks.executor import ExecutorEnvironmentError
from libprocess import PID, Message, Node, Process, clock
from libprocess.testing import settle
from zmesos.protocol import (
    AgentInfo,
    ExecutorInfo,
    ExecutorRegistered,
    ExecutorReregistered,
    ExecutorToFramework,
    FrameworkInfo,
    FrameworkToExecutor,
    KillTask,
    ReconnectExecutor,
    RegisterExecutor,
    ReregisterExecutor,
    RunTask,
    RunTaskGroup,
    ShutdownExecutor,
    Source,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from zmesos.protocol import environment as env

FRAMEWORK = FrameworkInfo(user="u", name="f", id="f1")
EXECUTOR = ExecutorInfo(executor_id="e1", framework_id="f1")
AGENT = AgentInfo(hostname="h", id="a1")
TASK = TaskInfo(name="t1", task_id="t1", agent_id="a1")


class FakeAgent(Process):
    """Records what the executor sends; answers registration when `answer` is set."""

    def __init__(
        self,
        *,
        answer: bool = True,
        auto_ack: bool = False,
        framework: FrameworkInfo = FRAMEWORK,
        name: str = "agent",
    ) -> None:
        super().__init__(name)
        self.framework = framework
        self.answer = answer
        self.auto_ack = auto_ack
        self.arrived = asyncio.Event()
        self.received: list[tuple[float, Message]] = []
        self.executor: PID | None = None

    def initialize(self) -> None:
        for kind in (
            RegisterExecutor,
            ReregisterExecutor,
            StatusUpdateMessage,
            ExecutorToFramework,
        ):
            self.install(kind, self.on_message)

    def on_message(self, sender: PID, message: Message) -> None:
        self.received.append((clock.now(), message))
        self.arrived.set()
        self.executor = sender
        if isinstance(message, StatusUpdateMessage) and self.auto_ack:
            self.acknowledge(message)
        if isinstance(message, RegisterExecutor) and self.answer:
            self.send(
                sender, ExecutorRegistered(executor=EXECUTOR, framework=self.framework, agent=AGENT)
            )
        if isinstance(message, ReregisterExecutor) and self.answer:
            self.send(sender, ExecutorReregistered(agent=AGENT))

    def of_type(self, kind: type[Message]) -> list[Any]:
        return [message for _, message in self.received if isinstance(message, kind)]

    def states(self) -> list[TaskState]:
        return [message.update.status.state for message in self.of_type(StatusUpdateMessage)]

    async def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        """Until `predicate()` holds: re-checked on every message and every 20 ms, bounded."""

        async def poll() -> None:
            while not predicate():
                self.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.arrived.wait(), 0.02)

        await asyncio.wait_for(poll(), timeout)

    def acknowledge(self, message: StatusUpdateMessage) -> None:
        assert self.executor is not None
        assert message.update.uuid is not None
        ack = StatusUpdateAcknowledgement(
            agent_id="a1",
            framework_id="f1",
            task_id=message.update.status.task_id,
            uuid=message.update.uuid,
        )
        self.send(self.executor, ack)


class Recording(Executor):
    """Records every callback; runs launched tasks at once."""

    def __init__(self, *, stop_on_shutdown: bool = True) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.stop_on_shutdown = stop_on_shutdown

    def registered(self, driver, executor_info, framework_info, agent_info) -> None:
        self.calls.append(("registered", executor_info, framework_info, agent_info))

    def reregistered(self, driver, agent_info) -> None:
        self.calls.append(("reregistered", agent_info))

    def disconnected(self, driver) -> None:
        self.calls.append(("disconnected",))

    def launch_task(self, driver, task) -> None:
        self.calls.append(("launch_task", task.task_id))
        driver.send_status_update(TaskStatus(task_id=task.task_id, state=TaskState.RUNNING))

    def kill_task(self, driver, task_id) -> None:
        self.calls.append(("kill_task", task_id, driver.kill_grace_period(task_id)))

    def framework_message(self, driver, data) -> None:
        self.calls.append(("framework_message", data))
        driver.send_framework_message(data.upper())

    def shutdown(self, driver) -> None:
        self.calls.append(("shutdown",))
        if self.stop_on_shutdown:
            driver.stop()

    def error(self, driver, message) -> None:
        self.calls.append(("error", message))

    def acknowledged(self, driver, task_id, uuid) -> None:
        self.calls.append(("acknowledged", task_id))

    def names(self) -> list[str]:
        return [call[0] for call in self.calls]


def environment(node: Node, **overrides: Any) -> ExecutorEnvironment:
    return ExecutorEnvironment(
        agent_pid=PID("agent", node.host, node.port),
        framework_id="f1",
        executor_id="e1",
        agent_id="a1",
        **overrides,
    )


def start(
    node: Node, executor: Executor, *, answer: bool = True, **overrides: Any
) -> tuple[FakeAgent, ExecutorDriver]:
    agent = FakeAgent(answer=answer)
    node.spawn(agent)
    driver = ExecutorDriver(executor, environment(node, **overrides))
    node.spawn(driver)
    return agent, driver


async def test_executor_registers_runs_a_task_and_gets_acknowledgements():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, driver = start(node, executor)
        await settle()
        assert agent.of_type(RegisterExecutor) == [
            RegisterExecutor(framework_id="f1", executor_id="e1")
        ]
        assert executor.calls == [("registered", EXECUTOR, FRAMEWORK, AGENT)]

        agent.send(
            driver.pid, RunTask(framework=FRAMEWORK, framework_pid="scheduler@h:1", task=TASK)
        )
        await settle()
        [message] = agent.of_type(StatusUpdateMessage)
        update = message.update
        assert message.pid == str(driver.pid)
        assert (update.framework_id, update.agent_id, update.executor_id) == ("f1", "a1", "e1")
        assert update.status.state is TaskState.RUNNING
        assert update.status.source is Source.EXECUTOR
        assert update.uuid is not None and update.status.uuid == update.uuid
        assert update.timestamp == clock.now()
        assert list(driver.unacknowledged) == [update.uuid]

        agent.acknowledge(message)
        await settle()
        assert executor.names()[-1] == "acknowledged"
        assert driver.unacknowledged == {}
        assert "t1" in driver.tasks  # not terminal: still the executor's


async def test_executor_framework_messages_both_ways():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, driver = start(node, executor)
        await settle()
        agent.send(
            driver.pid,
            FrameworkToExecutor(agent_id="a1", framework_id="f1", executor_id="e1", data=b"hello"),
        )
        await settle()
        assert ("framework_message", b"hello") in executor.calls
        assert agent.of_type(ExecutorToFramework) == [
            ExecutorToFramework(agent_id="a1", framework_id="f1", executor_id="e1", data=b"HELLO")
        ]


async def test_executor_kill_task_carries_the_grace_period_asked_for():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, driver = start(node, executor)
        await settle()
        agent.send(
            driver.pid,
            KillTask(framework_id="f1", task_id="t1", agent_id="a1", grace_period_seconds=0.5),
        )
        agent.send(driver.pid, KillTask(framework_id="f1", task_id="t2", agent_id="a1"))
        await settle()
        assert ("kill_task", "t1", 0.5) in executor.calls
        assert ("kill_task", "t2", None) in executor.calls


async def test_executor_registration_is_retried_with_backoff():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, _ = start(node, executor, answer=False)
        start_time = clock.now()
        await settle()
        for _ in range(40):
            clock.advance(1)
            await settle()
        times = [
            round(at - start_time) for at, m in agent.received if isinstance(m, RegisterExecutor)
        ]
        assert [b - a for a, b in itertools.pairwise(times)][:5] == [1, 2, 4, 8, 10]
        agent.answer = True
        clock.advance(10)
        await settle()
        assert executor.names() == ["registered"]
        count = len(agent.of_type(RegisterExecutor))
        clock.advance(600)
        await settle()
        assert len(agent.of_type(RegisterExecutor)) == count


async def test_executor_shutdown_calls_back_and_stops():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, driver = start(node, executor)
        await settle()
        agent.send(driver.pid, ShutdownExecutor())
        await settle()
        assert executor.names()[-1] == "shutdown"
        assert await asyncio.wait_for(driver.join(), 5) is DriverStatus.STOPPED


async def test_executor_that_ignores_shutdown_is_aborted_after_the_grace_period():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording(stop_on_shutdown=False)
        agent, driver = start(node, executor, shutdown_grace_period=5.0)
        await settle()
        agent.send(driver.pid, ShutdownExecutor())
        await settle()
        clock.advance(4.9)
        await settle()
        assert not driver.terminated
        clock.advance(0.2)
        await settle()
        assert await asyncio.wait_for(driver.join(), 5) is DriverStatus.ABORTED


async def test_executor_without_checkpoint_shuts_down_when_the_agent_exits():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, driver = start(node, executor)
        await settle()
        node.terminate(agent.pid)
        await settle()
        assert executor.names() == ["registered", "disconnected", "shutdown"]
        assert await asyncio.wait_for(driver.join(), 5) is DriverStatus.STOPPED


async def test_executor_with_checkpoint_reregisters_and_resends_unacknowledged_updates():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, driver = start(node, executor, checkpoint=True, recovery_timeout=60.0)
        await settle()
        agent.send(
            driver.pid, RunTask(framework=FRAMEWORK, framework_pid="scheduler@h:1", task=TASK)
        )
        await settle()
        [unacknowledged] = agent.of_type(StatusUpdateMessage)

        node.terminate(agent.pid)
        await settle()
        returned = FakeAgent()
        node.spawn(returned)
        clock.advance(1)
        await settle()

        [reregistration] = returned.of_type(ReregisterExecutor)
        assert [task.task_id for task in reregistration.tasks] == ["t1"]
        assert returned.of_type(StatusUpdateMessage) == [unacknowledged]
        assert executor.names()[-2:] == ["disconnected", "reregistered"]
        clock.advance(120)  # past the recovery timeout: reregistered, so it stays
        await settle()
        assert not driver.terminated


async def test_executor_reconnect_from_a_restarted_agent_at_a_new_address():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, driver = start(node, executor, checkpoint=True, recovery_timeout=60.0)
        await settle()
        agent.send(
            driver.pid, RunTask(framework=FRAMEWORK, framework_pid="scheduler@h:1", task=TASK)
        )
        await settle()
        [unacknowledged] = agent.of_type(StatusUpdateMessage)
        node.terminate(agent.pid)
        await settle()

        restarted = FakeAgent(name="agent-restarted")  # another address than the old agent's
        node.spawn(restarted)
        restarted.send(driver.pid, ReconnectExecutor(agent_id="a1"))
        await settle()  # no clock advance: it answers the reconnect at once

        [reregistration] = restarted.of_type(ReregisterExecutor)
        assert [task.task_id for task in reregistration.tasks] == ["t1"]
        assert list(reregistration.updates) == [unacknowledged.update]
        assert driver.agent == restarted.pid
        assert executor.names()[-1] == "reregistered"


async def test_executor_reconnect_naming_another_agent_is_dropped():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, driver = start(node, executor, checkpoint=True, recovery_timeout=60.0)
        await settle()
        stranger = FakeAgent(name="stranger")
        node.spawn(stranger)
        stranger.send(driver.pid, ReconnectExecutor(agent_id="someone-else"))
        await settle()
        assert stranger.of_type(ReregisterExecutor) == []
        assert driver.agent == agent.pid and driver.connected


async def test_executor_with_checkpoint_gives_up_after_the_recovery_timeout():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, driver = start(node, executor, checkpoint=True, recovery_timeout=60.0)
        await settle()
        node.terminate(agent.pid)
        for _ in range(61):
            clock.advance(1)
            await settle()
        assert executor.names()[-1] == "shutdown"
        assert await asyncio.wait_for(driver.join(), 5) is DriverStatus.STOPPED


async def test_executor_cannot_send_staging_and_callback_errors_reach_error():
    class Failing(Recording):
        def framework_message(self, driver, data) -> None:
            raise RuntimeError("boom")

    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Failing()
        agent, driver = start(node, executor)
        await settle()
        with pytest.raises(ValueError, match="TASK_STAGING"):
            driver.send_status_update(TaskStatus(task_id="t1", state=TaskState.STAGING))
        agent.send(
            driver.pid,
            FrameworkToExecutor(agent_id="a1", framework_id="f1", executor_id="e1", data=b"x"),
        )
        await settle()
        assert executor.calls[-1] == ("error", "framework_message raised RuntimeError: boom")
        assert not driver.terminated


def test_executor_environment_reads_what_the_agent_sets():
    read = ExecutorEnvironment.from_environ(
        {
            env.AGENT_PID: "agent@127.0.0.1:5051",
            env.FRAMEWORK_ID: "f1",
            env.EXECUTOR_ID: "e1",
            env.AGENT_ID: "a1",
            env.SANDBOX: "/sandbox",
            env.CHECKPOINT: "1",
            env.RECOVERY_TIMEOUT: "30",
            env.SHUTDOWN_GRACE_PERIOD: "2.5",
        }
    )
    assert read == ExecutorEnvironment(
        agent_pid=PID("agent", "127.0.0.1", 5051),
        framework_id="f1",
        executor_id="e1",
        agent_id="a1",
        sandbox="/sandbox",
        checkpoint=True,
        recovery_timeout=30.0,
        shutdown_grace_period=2.5,
    )


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({}, env.AGENT_PID),
        ({env.AGENT_PID: "nonsense"}, env.AGENT_PID),
        ({env.AGENT_PID: "agent@h:1", env.FRAMEWORK_ID: "f1"}, env.EXECUTOR_ID),
        (
            {env.AGENT_PID: "agent@h:1", env.FRAMEWORK_ID: "f", env.EXECUTOR_ID: "e",
             env.RECOVERY_TIMEOUT: "soon"},
            env.RECOVERY_TIMEOUT,
        ),
    ],
)  # fmt: skip
def test_executor_environment_errors_name_the_variable(environ, complaint):
    with pytest.raises(ExecutorEnvironmentError, match=complaint):
        ExecutorEnvironment.from_environ(environ)


def test_executor_run_outside_an_agent_exits_with_an_error(capsys):
    assert run_executor(Recording(), environ={}) == 1
    assert env.AGENT_PID in capsys.readouterr().err


async def test_executor_task_group_reaches_launch_task_for_each_task_by_default():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        executor = Recording()
        agent, driver = start(node, executor)
        await settle()
        tasks = tuple(msgspec.structs.replace(TASK, task_id=f"g{i}") for i in range(3))
        intruder = FakeAgent(name="intruder")
        node.spawn(intruder)
        group = RunTaskGroup(
            framework=FRAMEWORK,
            framework_pid="scheduler@h:1",
            executor=EXECUTOR,
            task_group=TaskGroupInfo(tasks=tasks),
        )
        intruder.send(driver.pid, group)  # not its agent: dropped
        agent.send(driver.pid, group)
        await settle()
        assert [call for call in executor.calls if call[0] == "launch_task"] == [
            ("launch_task", "g0"),
            ("launch_task", "g1"),
            ("launch_task", "g2"),
        ]
        assert set(driver.tasks) == {"g0", "g1", "g2"}
