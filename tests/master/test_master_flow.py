"""The master end to end in one node: a fake agent, real scheduler drivers, paused clock."""

from __future__ import annotations

from frameworks import SchedulerDriver
from libprocess import Node, clock
from libprocess.testing import settle
from master import Master, MasterFlags
from tests.master.fakes import FakeAgent, Recorder, command_task, framework_info
from zmesos.protocol import TaskState


async def test_master_registers_agent_and_framework_and_offers():
    clock.pause()
    async with Node() as node:
        master = Master(MasterFlags(master_id="M"))
        master_pid = node.spawn(master)
        agent = FakeAgent(master_pid)
        node.spawn(agent)
        scheduler = Recorder()
        driver = SchedulerDriver(scheduler, framework_info(), master_pid)
        node.spawn(driver)
        await settle()
        assert agent.agent_id == f"{master.id_prefix}-S0"
        assert scheduler.framework_id == f"{master.id_prefix}-0000"
        offers = list(scheduler.offers.values())
        assert len(offers) == 1
        assert offers[0].agent_id == agent.agent_id
        assert offers[0].hostname == "host1"


async def test_master_restarted_in_memory_with_the_same_master_id_never_reissues_ids():
    """Nothing durable tells a master with the in-memory registry what its predecessor gave:
    its ids carry its start time and a random part (the first test above: the same ids
    came back after a restart, and a second framework took over the first's tasks)."""
    clock.pause()
    given: list[tuple[str, str]] = []
    for _ in range(3):
        async with Node() as node:
            master = Master(MasterFlags(master_id="M"))
            master_pid = node.spawn(master)
            agent = FakeAgent(master_pid)
            node.spawn(agent)
            scheduler = Recorder()
            node.spawn(SchedulerDriver(scheduler, framework_info(), master_pid))
            await settle()
            assert master.id_prefix.startswith("M-") and agent.agent_id.startswith("M-")
            given.append((agent.agent_id, scheduler.framework_id))
    assert len({agent_id for agent_id, _ in given}) == 3
    assert len({framework_id for _, framework_id in given}) == 3


async def test_master_launch_reaches_agent_and_updates_flow_back_with_acks():
    clock.pause()
    async with Node() as node:
        master_pid = node.spawn(Master(MasterFlags(master_id="M")))
        agent = FakeAgent(master_pid)
        node.spawn(agent)
        scheduler = Recorder()
        driver = SchedulerDriver(scheduler, framework_info(), master_pid)
        node.spawn(driver)
        await settle()
        [offer] = scheduler.take_offers()
        driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await settle()
        assert [run.task.task_id for run in agent.launched] == ["t1"]
        assert scheduler.states("t1") == [TaskState.RUNNING]
        assert len(agent.acks) == 1 and not agent.pending_acks
        agent.update(scheduler.framework_id, "t1", TaskState.FINISHED)
        await settle()
        assert scheduler.states("t1") == [TaskState.RUNNING, TaskState.FINISHED]
        assert not agent.pending_acks
