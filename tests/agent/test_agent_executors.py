"""Custom executors on a real agent: registration timeout, kill before registration,
framework messages both ways, and an executor's death losing its tasks."""

from __future__ import annotations

import os
import signal
import sys

import msgspec

from agent import Agent
from agent.state import ExecutorState
from libprocess import Node
from tests.agent.fakes import (
    FRAMEWORK,
    FakeMaster,
    command_task,
    executor_task,
    start_agent,
)
from zmesos.protocol import (
    CommandInfo,
    ExecutorToFramework,
    ExitedExecutor,
    Reason,
    ReregisterExecutor,
    Source,
    StatusUpdateMessage,
    TaskState,
    TaskStatus,
    new_status_update,
)

ECHO_EXECUTOR = CommandInfo(
    value=sys.executable, shell=False, arguments=("-m", "tests.agent.echo_executor")
)
SILENT_EXECUTOR = CommandInfo(value="exec sleep 30")  # never registers


async def test_agent_fails_tasks_of_an_executor_that_never_registers(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path, executor_registration_timeout=0.3)
        master.run_task(executor_task("t1", "silent", SILENT_EXECUTOR))

        await master.wait_for(lambda: master.terminal("t1") and master.of_type(ExitedExecutor))

        update = master.terminal("t1")
        assert update is not None
        assert update.status.state is TaskState.FAILED
        assert update.status.reason is Reason.EXECUTOR_REGISTRATION_TIMEOUT
        assert update.status.source is Source.AGENT
        [exited] = master.of_type(ExitedExecutor)
        assert (exited.executor_id, exited.status) == ("silent", -signal.SIGKILL)


async def test_agent_kills_a_queued_task_itself_and_the_idle_executor(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path)
        master.run_task(executor_task("t1", "silent", SILENT_EXECUTOR))
        master.kill_task("t1")

        await master.wait_for(lambda: master.terminal("t1") and master.of_type(ExitedExecutor))

        update = master.terminal("t1")
        assert update is not None
        assert update.status.state is TaskState.KILLED
        assert update.status.reason is Reason.TASK_KILLED_DURING_LAUNCH
        assert master.states("t1") == [TaskState.KILLED]


async def test_agent_relays_framework_messages_both_ways(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path)
        master.run_task(executor_task("t1", "echo", ECHO_EXECUTOR))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))

        master.framework_message("echo", b"ping")
        await master.wait_for(lambda: master.of_type(ExecutorToFramework))

        [reply] = master.of_type(ExecutorToFramework)
        assert (reply.agent_id, reply.framework_id, reply.executor_id, reply.data) == (
            "agent-1",
            "framework-1",
            "echo",
            b"echo:ping",
        )
        master.kill_task("t1")
        await master.wait_for(lambda: master.terminal("t1") and master.of_type(ExitedExecutor))
        assert master.states("t1") == [TaskState.RUNNING, TaskState.KILLED]
        assert master.of_type(ExitedExecutor)[0].status == 0


async def test_agent_sends_a_second_task_to_the_registered_executor(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        master.run_task(executor_task("t1", "echo", ECHO_EXECUTOR))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))

        master.run_task(executor_task("t2", "echo", ECHO_EXECUTOR))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t2"))

        state = await node.dispatch(agent.pid, Agent.state)
        executors = state["frameworks"]["framework-1"]["executors"]
        assert list(executors) == ["echo"]
        assert executors["echo"]["tasks"] == {"t1": "TASK_RUNNING", "t2": "TASK_RUNNING"}


async def test_agent_fails_the_tasks_of_a_dead_custom_executor(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        master.run_task(executor_task("t1", "echo", ECHO_EXECUTOR))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))
        state = await node.dispatch(agent.pid, Agent.state)

        os.kill(state["frameworks"]["framework-1"]["executors"]["echo"]["os_pid"], signal.SIGKILL)
        await master.wait_for(lambda: master.terminal("t1") and master.of_type(ExitedExecutor))

        update = master.terminal("t1")
        assert update is not None
        # Current Mesos: TASK_FAILED for the tasks of any executor that dies (older
        # releases said TASK_LOST for those of a custom one).
        assert update.status.state is TaskState.FAILED
        assert update.status.reason is Reason.EXECUTOR_TERMINATED
        # The update was acknowledged: task, executor and framework are forgotten.
        await master.wait_for(lambda: not agent.frameworks)


async def test_agent_refuses_a_task_naming_a_running_executor_with_other_info(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path)
        master.run_task(executor_task("t1", "echo", ECHO_EXECUTOR))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))

        master.run_task(executor_task("t2", "echo", SILENT_EXECUTOR))
        await master.wait_for(lambda: master.terminal("t2"))

        update = master.terminal("t2")
        assert update is not None
        assert (update.status.state, update.status.reason) == (
            TaskState.LOST,
            Reason.TASK_INVALID,
        )


async def test_agent_drops_updates_not_sent_by_the_tasks_executor(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        master.run_task(executor_task("t1", "echo", ECHO_EXECUTOR))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))
        genuine = master.updates[-1]
        forged = msgspec.structs.replace(
            genuine,
            status=msgspec.structs.replace(genuine.status, state=TaskState.FINISHED),
            uuid=b"f" * 16,
        )

        master.send(agent.pid, StatusUpdateMessage(update=forged, pid=str(master.pid)))
        await master.wait_for(lambda: agent.metrics["invalid_status_updates"] == 1)

        assert master.states("t1") == [TaskState.RUNNING]


async def test_agent_fails_a_task_whose_id_cannot_be_a_directory(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        master.run_task(command_task("../escape", "true"))
        await master.wait_for(lambda: master.terminal("../escape"))

        update = master.terminal("../escape")
        assert update is not None
        assert update.status.reason is Reason.CONTAINER_LAUNCH_FAILED
        assert not list(tmp_path.rglob("escape"))
        await master.wait_for(lambda: not agent.frameworks)


async def test_agent_holds_a_recovered_executors_update_until_it_has_reregistered(tmp_path):
    # After an agent restart an executor that has not noticed may send a new update
    # before re-registering with its older unacknowledged ones: taking it would let
    # it overtake them (RUNNING reaching the scheduler before STARTING).
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        master.run_task(executor_task("t1", "echo", ECHO_EXECUTOR))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))
        executor = agent.frameworks[FRAMEWORK.id].executors["echo"]
        stand_in = FakeMaster(name="stand-in", answer=False)
        node.spawn(stand_in)
        executor.recovered, executor.state, executor.pid = (
            True,
            ExecutorState.REGISTERING,
            stand_in.pid,
        )
        older, newer = (
            new_status_update(
                FRAMEWORK.id,
                TaskStatus(task_id="t1", state=state),
                source=Source.EXECUTOR,
                agent_id=agent.agent_id,
                executor_id="echo",
                timestamp=1.0,
            )
            for state in (TaskState.RUNNING, TaskState.FINISHED)
        )

        stand_in.send(agent.pid, StatusUpdateMessage(update=newer, pid=str(stand_in.pid)))
        await master.wait_for(lambda: agent.metrics["invalid_status_updates"] == 1)
        assert master.states("t1") == [TaskState.RUNNING]

        reregistration = ReregisterExecutor(
            framework_id=FRAMEWORK.id, executor_id="echo", updates=(older, newer)
        )
        stand_in.send(agent.pid, reregistration)
        await master.wait_for(lambda: master.terminal("t1"))
        assert master.states("t1") == [TaskState.RUNNING, TaskState.RUNNING, TaskState.FINISHED]
        assert [update.uuid for update in master.updates[-2:]] == [older.uuid, newer.uuid]
