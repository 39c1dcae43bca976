"""The agent with a fake master and real executor processes (the command executor)."""

from __future__ import annotations

from pathlib import Path

from agent import Agent, AgentFlags
from libprocess import Node
from tests.agent.fakes import AGENT_RESOURCES, FakeMaster, command_task, master_address, sandboxes
from zmesos.protocol import Reason, Source, TaskState


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
