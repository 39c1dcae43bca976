"""The agent launching command executors through its fork server, with a fake master:
what the task sees, exit statuses, kills, sessions, losing the fork server, stopping."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent import Agent, AgentFlags
from agent.containerizer import kill_session
from libprocess import Node
from tests.agent.fakes import (
    AGENT_RESOURCES,
    FakeMaster,
    command_task,
    master_address,
    sandboxes,
    start_agent,
)
from tests.agent.processes import alive, children_of, parent_of, wait_until
from zmesos.cli.flags import add_flags, build
from zmesos.protocol import ExitedExecutor, Pong, Reason, TaskState

ROOT = Path(__file__).resolve().parents[2]


def zygote_of(agent: Agent) -> int | None:
    keeper = agent.containerizer.fork_servers
    return keeper.server.pid if keeper is not None and keeper.server is not None else None


async def executor_pid(node: Node, agent: Agent, executor_id: str) -> int:
    state = await node.dispatch(agent.pid, Agent.state)
    return state["frameworks"]["framework-1"]["executors"][executor_id]["os_pid"]


async def running(master: FakeMaster, task_id: str, command: str, **options: object) -> None:
    master.run_task(command_task(task_id, command, **options))  # type: ignore[arg-type]
    await master.wait_for(lambda: TaskState.RUNNING in master.states(task_id))


async def test_zygote_command_task_finishes_with_its_stdout_and_environment(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        variables = "$ZMESOS_SANDBOX $ZMESOS_EXECUTOR_ID $ZMESOS_AGENT_ID $LIBPROCESS_IP"
        master.run_task(command_task("t1", f'echo "{variables}"; pwd'))
        await master.wait_for(lambda: master.terminal("t1"))

        assert master.states("t1") == [TaskState.STARTING, TaskState.RUNNING, TaskState.FINISHED]
        [sandbox] = sandboxes(tmp_path, "t1")
        assert (sandbox / "stdout").read_text() == f"{sandbox} t1 agent-1 127.0.0.1\n{sandbox}\n"
        assert "executor_registered" in (sandbox / "stderr").read_text()
        assert zygote_of(agent) is not None


async def test_zygote_command_executor_is_forked_by_the_fork_server(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        await running(master, "t1", "sleep 60")
        executor = await executor_pid(node, agent, "t1")

        assert parent_of(executor) == zygote_of(agent)
        master.kill_task("t1")
        await master.wait_for(lambda: master.terminal("t1"))


async def test_zygote_exit_3_fails_the_task_with_its_status(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path)
        master.run_task(command_task("t1", "exit 3"))
        await master.wait_for(lambda: master.terminal("t1") and master.of_type(ExitedExecutor))

        update = master.terminal("t1")
        assert update is not None and update.status.state is TaskState.FAILED
        assert "status 3" in update.status.message
        [exited] = master.of_type(ExitedExecutor)
        assert exited.status == 0  # the executor itself stopped cleanly


async def test_zygote_kill_sends_sigterm_then_sigkill(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path)
        command = "trap 'echo term' TERM; echo ready; while :; do sleep 0.05; done"
        await running(master, "t1", command)
        [sandbox] = sandboxes(tmp_path, "t1")
        await master.wait_for(lambda: "ready" in (sandbox / "stdout").read_text())

        master.kill_task("t1", grace=0.3)
        await master.wait_for(lambda: master.terminal("t1"))

        update = master.terminal("t1")
        assert update is not None and update.status.state is TaskState.KILLED
        assert "SIGKILL" in update.status.message
        assert "term" in (sandbox / "stdout").read_text()


async def test_zygote_executor_session_is_its_own(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        await running(master, "t1", "sleep 60")
        executor = await executor_pid(node, agent, "t1")
        zygote = zygote_of(agent)
        assert zygote is not None
        [task] = await wait_until(lambda: children_of(executor))

        assert os.getsid(executor) == executor == os.getsid(task)
        assert executor not in (os.getsid(0), os.getsid(zygote))
        kill_session(executor, signal.SIGKILL)
        await master.wait_for(lambda: master.terminal("t1") and master.of_type(ExitedExecutor))

        update = master.terminal("t1")
        assert update is not None and update.status.reason is Reason.EXECUTOR_TERMINATED
        assert master.of_type(ExitedExecutor)[0].status == -signal.SIGKILL
        # SIGKILL is delivered asynchronously: on a busy machine the task can
        # still show as running for a moment after its executor was reaped.
        await wait_until(lambda: not alive(task))
        assert alive(zygote)
        master.ping()
        await master.wait_for(lambda: master.of_type(Pong))  # the agent is unharmed


async def test_zygote_killed_later_tasks_fall_back_to_exec_and_still_run(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        await running(master, "t1", "sleep 60")
        zygote = zygote_of(agent)
        assert zygote is not None

        os.kill(zygote, signal.SIGKILL)
        await wait_until(lambda: zygote_of(agent) is None)
        await running(master, "t2", "sleep 60")
        master.run_task(command_task("t3", "echo fallback"))
        await master.wait_for(lambda: master.terminal("t3"))

        assert master.states("t3")[-1] is TaskState.FINISHED
        [sandbox] = sandboxes(tmp_path, "t3")
        assert (sandbox / "stdout").read_text() == "fallback\n"
        assert parent_of(await executor_pid(node, agent, "t2")) == os.getpid()  # exec'd
        # The executor forked before the loss still works; only its exit status is lost.
        master.kill_task("t1")

        def exits() -> list[ExitedExecutor]:  # t3's exit may come first: wait for t1's own
            return [e for e in master.of_type(ExitedExecutor) if e.executor_id == "t1"]

        await master.wait_for(lambda: master.terminal("t1") and exits())
        assert master.states("t1")[-1] is TaskState.KILLED
        [exited] = exits()
        assert exited.status == 127  # unknown
        master.kill_task("t2")
        await master.wait_for(lambda: master.terminal("t2"))


async def test_zygote_stopping_the_agent_leaves_no_process_behind(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path)
        await running(master, "t1", "sleep 60")
        executor = await executor_pid(node, agent, "t1")
        [task] = await wait_until(lambda: children_of(executor))
        zygote = zygote_of(agent)
        assert zygote is not None
    await wait_until(lambda: not any(alive(pid) for pid in (zygote, executor, task)))


async def test_zygote_agent_off_flag_execs_command_executors(tmp_path):
    parser = argparse.ArgumentParser()
    add_flags(parser, AgentFlags)
    options = parser.parse_args(["--master", "127.0.0.1:5050", "--no-executor-fork-server"])
    assert build(AgentFlags, options, parser).executor_fork_server is False
    assert AgentFlags().executor_fork_server is True
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path, executor_fork_server=False)
        await running(master, "t1", "sleep 60")

        assert parent_of(await executor_pid(node, agent, "t1")) == os.getpid()
        assert agent.containerizer.fork_servers is None
        master.kill_task("t1")
        await master.wait_for(lambda: master.terminal("t1"))


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
async def test_zygote_agent_process_takes_its_fork_server_along(tmp_path, stop):
    """`zmesos agent` as an OS process: stopped (or killed), no fork server stays behind."""
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        agent = subprocess.Popen(
            [
                *(sys.executable, "-m", "zmesos.cli", "agent"),
                *("--master", master_address(node), "--port", "0"),
                *("--work-dir", str(tmp_path), "--resources", AGENT_RESOURCES),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        executor = task = None
        try:
            await master.wait_for(lambda: master.agent is not None)
            await running(master, "t1", "sleep 60")
            [zygote] = children_of(agent.pid)
            [executor] = children_of(zygote)
            [task] = await wait_until(lambda: children_of(executor))

            agent.send_signal(stop)
            await asyncio.wait_for(asyncio.to_thread(agent.wait), 20)

            await wait_until(lambda: not alive(zygote))
            if stop == signal.SIGTERM:  # its executors die with it; killed, it cannot see to that
                await wait_until(lambda: not alive(executor) and not alive(task))
        finally:
            agent.kill()
            agent.wait()
            if executor is not None:
                kill_session(executor, signal.SIGKILL)
