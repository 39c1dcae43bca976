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
        assert agent.agent_id == "M-0001-S0"
        assert scheduler.framework_id == "M-0001-0000"
        offers = list(scheduler.offers.values())
        assert len(offers) == 1
        assert offers[0].agent_id == "M-0001-S0"
        assert offers[0].hostname == "host1"


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
