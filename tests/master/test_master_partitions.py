"""Partition awareness on the paused clock: unreachable agents, their return, gone agents,
reconciliation of what the master last knew, and agents missing after a restart."""

from __future__ import annotations

from frameworks import SchedulerDriver
from libprocess import Node, clock
from libprocess.testing import settle
from master import Master, MasterFlags
from tests.master.fakes import Recorder, command_task, framework_info, start_cluster
from tests.master.test_master_lifecycle import _advance
from zmesos.protocol import Reason, ReportedTask, ReregisterAgent, TaskState, TaskStatus

AWARE = framework_info("aware", capabilities=("PARTITION_AWARE",))


async def _two_frameworks(node: Node):
    """A partition-aware framework running "pa" and another running "plain", on one agent."""
    cluster = await start_cluster(node, MasterFlags(master_id="M"), framework=AWARE)
    [offer] = cluster.scheduler.take_offers()
    cluster.driver.launch_tasks([offer.id], [command_task(offer, "pa")])
    other = Recorder()
    driver = SchedulerDriver(other, framework_info("plain"), cluster.master_pid)
    node.spawn(driver)
    await _advance(2)
    [offer] = other.take_offers()
    driver.launch_tasks([offer.id], [command_task(offer, "plain")])
    await settle()
    return cluster, other, driver


def _reregistration(cluster, *task_ids: str) -> ReregisterAgent:
    launched = [run for run in cluster.agent.launched if run.task.task_id in task_ids]
    return ReregisterAgent(
        agent=cluster.agent.info(),
        tasks=tuple(
            ReportedTask(framework_id=run.framework.id, task=run.task, state=TaskState.RUNNING)
            for run in launched
        ),
        frameworks=tuple({run.framework.id: run.framework for run in launched}.values()),
    )


async def test_master_unreachable_agent_tasks_then_its_return():
    clock.pause()
    async with Node() as node:
        cluster, other, _ = await _two_frameworks(node)
        agent_id = cluster.agent.agent_id
        cluster.agent.answer_pings = False
        await _advance(15 * 6)
        assert cluster.scheduler.statuses[-1].state == TaskState.UNREACHABLE
        assert cluster.scheduler.statuses[-1].reason == Reason.AGENT_REMOVED
        assert other.statuses[-1].state == TaskState.LOST
        assert agent_id in cluster.master.registrar.registry.unreachable
        assert cluster.scheduler.lost_agents == [agent_id] and other.lost_agents == [agent_id]
        assert not cluster.master.offers

        # Reconciliation answers with what the master last knew, explicit and implicit.
        cluster.driver.reconcile_tasks([TaskStatus(task_id="pa", state=TaskState.RUNNING)])
        cluster.driver.reconcile_tasks(
            [TaskStatus(task_id="elsewhere", state=TaskState.RUNNING, agent_id=agent_id)]
        )
        cluster.driver.reconcile_tasks()
        await settle()
        answers = [(s.task_id, s.state) for s in cluster.scheduler.statuses[-3:]]
        assert answers == [
            ("pa", TaskState.UNREACHABLE),
            ("elsewhere", TaskState.UNREACHABLE),
            ("pa", TaskState.UNREACHABLE),
        ]

        # It comes back: the partition-aware task runs again, the other is killed.
        cluster.agent.answer_pings = True
        cluster.agent.send(cluster.master_pid, _reregistration(cluster, "pa", "plain"))
        await settle()
        back = cluster.scheduler.statuses[-1]
        assert (back.task_id, back.state) == ("pa", TaskState.RUNNING)
        assert cluster.agent.shutdown_frameworks == [other.framework_id]
        assert agent_id in cluster.master.registrar.registry.agents
        assert list(cluster.master.cluster.frameworks[cluster.scheduler.framework_id].tasks) == [
            "pa"
        ]
        assert not cluster.master.cluster.frameworks[other.framework_id].tasks


async def test_master_agent_marked_gone_never_comes_back():
    clock.pause()
    async with Node() as node:
        cluster, other, _ = await _two_frameworks(node)
        agent_id = cluster.agent.agent_id
        assert "not known" in await node.dispatch(cluster.master_pid, "mark_agent_gone", "nope")
        assert await node.dispatch(cluster.master_pid, "mark_agent_gone", agent_id) is None
        await settle()
        gone = cluster.scheduler.statuses[-1]
        assert (gone.task_id, gone.state) == ("pa", TaskState.GONE_BY_OPERATOR)
        assert gone.reason == Reason.AGENT_REMOVED_BY_OPERATOR
        assert other.statuses[-1].state == TaskState.LOST
        assert cluster.agent.shutdowns
        assert agent_id not in cluster.master.cluster.agents
        cluster.agent.send(cluster.master_pid, _reregistration(cluster, "pa"))
        await settle()
        assert agent_id not in cluster.master.cluster.agents
        assert len(cluster.agent.shutdowns) == 2
        # Idempotent.
        assert await node.dispatch(cluster.master_pid, "mark_agent_gone", agent_id) is None


async def test_master_after_restart_marks_agents_that_do_not_return_unreachable():
    clock.pause()
    flags = MasterFlags(master_id="M", agent_reregister_timeout=60)
    async with Node() as node:
        cluster = await start_cluster(node, flags)
        agent_id = cluster.agent.agent_id
        node.terminate(cluster.master_pid)
        node.terminate(cluster.agent.pid)
        await settle()
        restarted = Master(flags, store=cluster.master.registrar.store)
        node.spawn(restarted)
        await settle()
        assert restarted.state()["recovered_slaves"][0]["id"] == agent_id
        await _advance(59)
        assert agent_id not in restarted.registrar.registry.unreachable
        await _advance(2)
        assert agent_id in restarted.registrar.registry.unreachable
        assert restarted.state()["recovered_slaves"] == []
