"""Agent recovery in-process: a checkpoint that does not match, reconciliation of tasks."""

from __future__ import annotations

import pytest

from agent import Agent, AgentFlags, RecoveryError, paths
from agent.checkpoints import Checkpointer
from libprocess import Node
from tests.agent.fakes import AGENT_RESOURCES, FRAMEWORK, FakeMaster, master_address
from zmesos.protocol import (
    AgentInfo,
    Reason,
    ReconcileTasks,
    RegisterAgent,
    ReregisterAgent,
    Source,
    TaskState,
    TaskStatus,
)

OTHER_RESOURCES = "cpus:64;mem:1024;disk:1024"


def flags_for(node: Node, work_dir, **overrides: object) -> AgentFlags:
    settings: dict[str, object] = {"resources": AGENT_RESOURCES, **overrides}
    return AgentFlags(master=master_address(node), work_dir=str(work_dir), **settings)  # type: ignore[arg-type]


async def _registered_once(tmp_path) -> None:
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        node.spawn(Agent(flags_for(node, tmp_path)))
        await master.wait_for(lambda: master.agent is not None)


async def test_agent_recovery_keeps_its_id_across_a_restart(tmp_path):
    await _registered_once(tmp_path)
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        node.spawn(Agent(flags_for(node, tmp_path)))
        await master.wait_for(lambda: master.agent is not None)
        [reregistration] = master.of_type(ReregisterAgent)
        assert reregistration.agent.id == "agent-1"
        assert master.of_type(RegisterAgent) == []


async def test_agent_recovery_refuses_a_checkpoint_of_other_resources(tmp_path):
    await _registered_once(tmp_path)
    async with Node(host="127.0.0.1", port=0) as node:
        flags = flags_for(node, tmp_path, resources=OTHER_RESOURCES)
        with pytest.raises(RecoveryError, match=r"does not match: resources: .*--recover=cleanup"):
            node.spawn(Agent(flags))


async def test_agent_recovery_cleanup_discards_a_checkpoint_that_does_not_match(tmp_path):
    await _registered_once(tmp_path)
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster(agent_id="agent-2")
        node.spawn(master)
        flags = flags_for(node, tmp_path, resources=OTHER_RESOURCES, recover="cleanup")
        node.spawn(Agent(flags))
        await master.wait_for(lambda: master.agent is not None)
        assert len(master.of_type(RegisterAgent)) == 1  # a new agent


async def test_agent_reconcile_answers_lost_for_a_task_it_never_received(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        agent = Agent(flags_for(node, tmp_path))
        node.spawn(agent)
        await master.wait_for(lambda: master.agent is not None)
        asked = (TaskStatus(task_id="ghost", state=TaskState.STAGING),)

        intruder = FakeMaster(name="intruder")
        node.spawn(intruder)
        intruder.send(agent.pid, ReconcileTasks(framework_id=FRAMEWORK.id, statuses=asked))
        master.send(agent.pid, ReconcileTasks(framework_id=FRAMEWORK.id, statuses=asked))
        await master.wait_for(lambda: master.terminal("ghost"))

        [update] = master.updates
        assert (update.status.state, update.status.reason) == (
            TaskState.LOST,
            Reason.RECONCILIATION,
        )
        assert update.status.source == Source.AGENT and update.uuid is not None
        assert agent.metrics["invalid_messages"] == 1


async def test_agent_recovery_refuses_another_agents_checkpoint_unless_cleaning_up(tmp_path):
    await _registered_once(tmp_path)
    info = paths.agent_info_path(tmp_path, "agent-1")
    Checkpointer(tmp_path / "elsewhere").agent(AgentInfo(hostname="h", id="agent-9"))
    info.write_bytes(paths.agent_info_path(tmp_path / "elsewhere", "agent-9").read_bytes())
    async with Node(host="127.0.0.1", port=0) as node:
        with pytest.raises(RecoveryError, match=r"belongs to agent 'agent-9'.*--recover=cleanup"):
            node.spawn(Agent(flags_for(node, tmp_path)))
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster(agent_id="agent-2")
        node.spawn(master)
        node.spawn(Agent(flags_for(node, tmp_path, recover="cleanup")))
        await master.wait_for(lambda: master.agent is not None)
        assert len(master.of_type(RegisterAgent)) == 1  # registered anew
