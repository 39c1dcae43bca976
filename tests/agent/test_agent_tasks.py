"""The agent with a fake master and real executor processes (the command executor)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import msgspec
import pytest

from agent import Agent, AgentFlags
from libprocess import PID, Node
from tests.agent.fakes import (
    AGENT_RESOURCES,
    FRAMEWORK,
    SCHEDULER_PID,
    WAIT_SECONDS,
    FakeMaster,
    command_task,
    master_address,
    sandboxes,
    start_agent,
)
from zmesos.protocol import (
    PARTITION_AWARE,
    ExitedExecutor,
    Pong,
    Reason,
    ReconcileTasks,
    RunTask,
    ShutdownAgent,
    Source,
    TaskState,
    TaskStatus,
)


def flags_for(node: Node, work_dir: Path, **overrides: object) -> AgentFlags:
    return AgentFlags(
        master=master_address(node),
        resources=AGENT_RESOURCES,
        work_dir=str(work_dir),
        **overrides,  # type: ignore[arg-type]
    )


async def test_agent_runs_echo_to_finished_with_stdout_in_the_sandbox(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        node.spawn(Agent(flags_for(node, tmp_path)))
        await master.wait_for(lambda: master.agent is not None)

        master.run_task(command_task("t1", "echo hello"))
        await master.wait_for(lambda: master.terminal("t1"))

        assert master.states("t1") == [TaskState.STARTING, TaskState.RUNNING, TaskState.FINISHED]
        assert {u.status.source for u in master.updates} == {Source.EXECUTOR}
        [sandbox] = sandboxes(tmp_path, "t1")
        assert (sandbox / "stdout").read_text() == "hello\n"


async def test_agent_reports_a_failing_command_with_its_exit_status(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        node.spawn(Agent(flags_for(node, tmp_path)))
        await master.wait_for(lambda: master.agent is not None)

        master.run_task(command_task("t1", "exit 3"))
        await master.wait_for(lambda: master.terminal("t1"))

        update = master.terminal("t1")
        assert update is not None
        assert update.status.state is TaskState.FAILED
        assert "status 3" in update.status.message
        assert Reason.EXECUTOR_TERMINATED not in {u.status.reason for u in master.updates}


async def snapshot(node: Node, agent: Agent) -> dict:
    return await node.dispatch(agent.pid, Agent.state)


async def test_agent_kill_task_ends_a_sleeping_command_as_killed(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path)
        master.run_task(command_task("t1", "sleep 60"))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))

        master.kill_task("t1")
        await master.wait_for(lambda: master.terminal("t1"))

        assert master.states("t1")[-1] is TaskState.KILLED


@pytest.mark.parametrize("aware", [True, False])
async def test_agent_tasks_it_never_launched_are_dropped_for_a_partition_aware_framework(
    tmp_path, aware
):
    """A kill or a reconciliation of a task this agent never received: TASK_DROPPED for a
    partition-aware framework, TASK_LOST for another (as Mesos's agent answers)."""
    capabilities = (PARTITION_AWARE,) if aware else ()
    framework = msgspec.structs.replace(FRAMEWORK, capabilities=capabilities)
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path)
        master.run_task(command_task("t1", "sleep 60"), framework)
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))

        master.kill_task("ghost")
        asked = (TaskStatus(task_id="phantom", state=TaskState.STAGING),)
        assert master.agent is not None
        master.send(master.agent, ReconcileTasks(framework_id=FRAMEWORK.id, statuses=asked))
        await master.wait_for(lambda: master.terminal("ghost") and master.terminal("phantom"))

        expected = TaskState.DROPPED if aware else TaskState.LOST
        for task_id, reason in (
            ("ghost", Reason.EXECUTOR_TERMINATED),
            ("phantom", Reason.RECONCILIATION),
        ):
            update = master.terminal(task_id)
            assert update is not None
            assert (update.status.state, update.status.reason) == (expected, reason), task_id
        master.kill_task("t1")
        await master.wait_for(lambda: master.terminal("t1"))


async def test_agent_kill_escalates_to_sigkill_after_the_grace_period(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path)
        # The shell ignores TERM; `exec` keeps it the only process, so only KILL ends it.
        master.run_task(
            command_task("t1", "trap '' TERM; echo ready; while :; do sleep 0.05; done")
        )
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))
        [sandbox] = sandboxes(tmp_path, "t1")
        await master.wait_for(lambda: (sandbox / "stdout").read_text() == "ready\n")

        master.kill_task("t1", grace=0.3)
        await master.wait_for(lambda: master.terminal("t1"))

        update = master.terminal("t1")
        assert update is not None and update.status.state is TaskState.KILLED
        assert "SIGKILL" in update.status.message


async def test_agent_fails_tasks_of_an_executor_killed_by_sigkill(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        master.run_task(command_task("t1", "sleep 60"))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))
        state = await snapshot(node, agent)
        executor = state["frameworks"]["framework-1"]["executors"]["t1"]

        os.kill(executor["os_pid"], signal.SIGKILL)
        await master.wait_for(lambda: master.terminal("t1") and master.of_type(ExitedExecutor))

        update = master.terminal("t1")
        assert update is not None
        assert update.status.state is TaskState.FAILED
        assert update.status.reason is Reason.EXECUTOR_TERMINATED
        assert update.status.source is Source.AGENT
        assert "SIGKILL" in update.status.message
        [exited] = master.of_type(ExitedExecutor)
        assert (exited.executor_id, exited.status) == ("t1", -signal.SIGKILL)
        await master.wait_for(lambda: not _alive(executor["os_pid"]))


async def test_agent_shutdown_framework_kills_its_executors(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path, executor_shutdown_grace_period=2.0)
        master.run_task(command_task("t1", "sleep 60"))
        master.run_task(command_task("t2", "sleep 60"))
        await master.wait_for(
            lambda: (
                TaskState.RUNNING in master.states("t1")
                and TaskState.RUNNING in master.states("t2")
            )
        )
        executors = (await snapshot(node, agent))["frameworks"]["framework-1"]["executors"]
        pids = [executors[task]["os_pid"] for task in ("t1", "t2")]
        updates_before = len(master.updates)

        master.shutdown_framework()
        await master.wait_for(lambda: len(master.of_type(ExitedExecutor)) == 2)

        assert len(master.updates) == updates_before  # the master marks them killed itself
        for pid in pids:
            await master.wait_for(lambda pid=pid: not _alive(pid))
        assert (await snapshot(node, agent))["frameworks"] == {}


async def test_agent_answers_ping_with_pong(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path)
        master.ping()
        await master.wait_for(lambda: master.of_type(Pong))


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, reaped by nobody in a test, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


async def test_agent_shutdown_by_the_master_stops_executors_then_itself(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        master.run_task(command_task("t1", "sleep 60"))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))
        executors = (await snapshot(node, agent))["frameworks"]["framework-1"]["executors"]
        os_pid = executors["t1"]["os_pid"]

        master.send(agent.pid, ShutdownAgent(message="removed"))
        await asyncio.wait_for(node.wait(agent.pid), WAIT_SECONDS)

        assert agent.terminated
        assert master.of_type(ExitedExecutor)
        await master.wait_for(lambda: not _alive(os_pid))


async def test_agent_command_executor_sigterm_kills_the_task_and_exits_cleanly(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        master.run_task(command_task("t1", "sleep 60"))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))
        executors = (await snapshot(node, agent))["frameworks"]["framework-1"]["executors"]

        os.kill(executors["t1"]["os_pid"], signal.SIGTERM)
        await master.wait_for(lambda: master.terminal("t1") and master.of_type(ExitedExecutor))

        assert master.states("t1")[-1] is TaskState.KILLED
        assert master.of_type(ExitedExecutor)[0].status == 0


class CountingMaster(FakeMaster):
    """Gives every registering agent its own id: agent-1, agent-2, ...

    An agent that retries before the answer (a loaded machine) keeps its id, as
    with a real master."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[PID, str] = {}

    def on_register(self, sender, message) -> None:
        self.agent_id = self.ids.setdefault(sender, f"agent-{len(self.ids) + 1}")
        super().on_register(sender, message)


async def test_agent_many_agents_share_one_node(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master = CountingMaster()
        node.spawn(master)
        agents = [Agent(flags_for(node, tmp_path), name=None) for _ in range(3)]
        for agent in agents:
            node.spawn(agent)
        await master.wait_for(lambda: all(agent.connected for agent in agents))
        assert len({agent.pid for agent in agents}) == 3
        assert sorted(agent.agent_id for agent in agents) == ["agent-1", "agent-2", "agent-3"]

        for index, agent in enumerate(agents):
            task = command_task(f"t{index}", f"echo {agent.agent_id}")
            master.send(
                agent.pid, RunTask(framework=FRAMEWORK, framework_pid=SCHEDULER_PID, task=task)
            )
        await master.wait_for(lambda: all(master.terminal(f"t{index}") for index in range(3)))

        for index, agent in enumerate(agents):
            [sandbox] = sandboxes(tmp_path, f"t{index}")
            assert sandbox.parts[-7] == agent.agent_id
            assert (sandbox / "stdout").read_text() == f"{agent.agent_id}\n"
