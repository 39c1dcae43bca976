"""Task groups on a real agent: the default executor (an OS process) runs each task of a
group as its own process in its own sandbox, kills the rest of a group when one of
its tasks fails or is killed, takes later groups, and exits when it has no task left."""

from __future__ import annotations

import os
from pathlib import Path
from signal import SIGKILL

import msgspec

from agent import Agent, paths
from libprocess import Node
from tests.agent.fakes import (
    FakeMaster,
    default_executor,
    group_task,
    sandboxes,
    start_agent,
)
from zmesos.protocol import CheckpointResources, ExitedExecutor, Reason, Source, TaskState
from zmesos.resources import Resources

DONE = [TaskState.STARTING, TaskState.RUNNING]


async def start(node: Node, work_dir: Path) -> tuple[FakeMaster, Agent]:
    return await start_agent(node, work_dir, executor_shutdown_grace_period=5.0)


def exited(master: FakeMaster) -> list[ExitedExecutor]:
    return master.of_type(ExitedExecutor)


async def test_agent_task_group_runs_each_task_in_its_own_sandbox_then_the_executor_exits(
    tmp_path,
):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start(node, tmp_path)
        executor = default_executor()
        ids = ["one", "two", "three"]
        tasks = [group_task(i, f'echo "$MESOS_SANDBOX" {i}', executor) for i in ids]
        master.run_task_group(executor, tasks)

        await master.wait_for(lambda: exited(master))

        for task_id in ids:
            assert master.states(task_id) == [*DONE, TaskState.FINISHED]
            final = master.terminal(task_id)
            assert final is not None and final.status.source is Source.EXECUTOR
        [run] = sandboxes(tmp_path, "default")
        for task_id in ids:
            sandbox = run / "tasks" / task_id
            assert (sandbox / "stdout").read_text() == f"{sandbox} {task_id}\n"
        assert exited(master)[0].status == 0
        assert not agent.frameworks  # every task acknowledged, the executor gone


async def test_agent_task_group_a_failed_task_kills_the_rest_of_its_group(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start(node, tmp_path)
        executor = default_executor()
        tasks = [
            group_task("bad", "sleep 0.2; exit 3", executor),
            group_task("long1", "sleep 60", executor),
            group_task("long2", "sleep 60", executor),
        ]
        master.run_task_group(executor, tasks)

        await master.wait_for(lambda: exited(master))

        bad = master.terminal("bad")
        assert bad is not None and bad.status.state is TaskState.FAILED
        assert "status 3" in bad.status.message
        for sibling in ("long1", "long2"):
            update = master.terminal(sibling)
            assert update is not None and update.status.state is TaskState.KILLED
            # Mesos sets no reason for it; the message says why.
            assert update.status.reason is None
            assert "killed because task 'bad' of its group ended TASK_FAILED" in (
                update.status.message
            )


async def test_agent_task_group_kill_of_one_task_ends_its_group_not_another(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start(node, tmp_path)
        executor = default_executor()
        master.run_task_group(executor, [group_task(i, "sleep 60", executor) for i in ("a1", "a2")])
        await master.wait_for(lambda: TaskState.RUNNING in master.states("a2"))
        # A second group for the same executor joins it (no second executor).
        master.run_task_group(executor, [group_task("b1", "sleep 60", executor)])
        await master.wait_for(lambda: TaskState.RUNNING in master.states("b1"))

        master.kill_task("a1", grace=1.0)
        await master.wait_for(lambda: master.terminal("a2") is not None)

        a1, a2 = master.terminal("a1"), master.terminal("a2")
        assert a1 is not None and a1.status.state is TaskState.KILLED
        assert "of its group" not in a1.status.message  # killed by its framework
        assert a2 is not None and a2.status.state is TaskState.KILLED
        assert "task 'a1' of its group ended TASK_KILLED" in a2.status.message
        assert master.terminal("b1") is None and not exited(master)
        [run] = sandboxes(tmp_path, "default")
        assert (run / "tasks" / "b1").is_dir()

        master.kill_task("b1", grace=1.0)
        await master.wait_for(lambda: exited(master))
        update = master.terminal("b1")
        assert update is not None and update.status.state is TaskState.KILLED


async def test_agent_task_group_tasks_fail_when_their_default_executor_dies(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start(node, tmp_path)
        executor = default_executor()
        master.run_task_group(executor, [group_task(i, "sleep 60", executor) for i in ("a", "b")])
        await master.wait_for(
            lambda: all(TaskState.RUNNING in master.states(i) for i in ("a", "b"))
        )
        state = await node.dispatch(agent.pid, Agent.state)

        os.kill(state["frameworks"]["framework-1"]["executors"]["default"]["os_pid"], SIGKILL)
        await master.wait_for(lambda: exited(master) and master.terminal("b") is not None)

        for task_id in ("a", "b"):
            update = master.terminal(task_id)
            assert update is not None and update.status.source is Source.AGENT
            assert (update.status.state, update.status.reason) == (
                TaskState.FAILED,
                Reason.EXECUTOR_TERMINATED,
            )
        await master.wait_for(lambda: not agent.frameworks)  # acknowledged, all forgotten


async def test_agent_kill_of_a_queued_group_task_kills_the_whole_group(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start(node, tmp_path)
        executor = default_executor()
        master.run_task_group(executor, [group_task(i, "sleep 60", executor) for i in "xyz"])
        master.kill_task("y")  # before the executor can have registered

        await master.wait_for(lambda: all(master.terminal(i) for i in "xyz") and exited(master))

        for task_id in "xyz":
            update = master.terminal(task_id)
            assert update is not None and update.status.state is TaskState.KILLED
            assert update.status.reason is Reason.TASK_KILLED_DURING_LAUNCH
            assert update.status.source is Source.AGENT
        assert TaskState.RUNNING not in master.states("x")


async def test_agent_drops_a_task_group_without_tasks_or_with_duplicate_ids(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start(node, tmp_path)
        executor = default_executor()
        master.run_task_group(executor, [])
        task = group_task("twice", "true", executor)
        master.run_task_group(executor, [task, task])
        await master.wait_for(lambda: agent.metrics["messages_run_task_group"] == 2)
        assert agent.metrics["dropped_messages"] == 2
        assert not agent.frameworks and not master.updates


async def test_agent_task_group_task_sees_its_persistent_volume_in_its_own_sandbox(tmp_path):
    volume_text = "disk(db DYNAMIC principal=p)[v1:data principal=p]:100"
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start(node, tmp_path)
        assert master.agent is not None
        resources = tuple(Resources.parse(volume_text).to_list())
        master.send(master.agent, CheckpointResources(resources=resources))
        volume = paths.volume_dir(tmp_path, "db", "v1")
        await master.wait_for(lambda: volume.is_dir())
        executor = default_executor()
        writer = group_task("writer", "echo kept > data/file", executor)
        writer = msgspec.structs.replace(writer, resources=writer.resources + resources)
        master.run_task_group(executor, [writer])
        await master.wait_for(lambda: exited(master))
        assert master.states("writer")[-1] is TaskState.FINISHED
        assert (volume / "file").read_text() == "kept\n"
