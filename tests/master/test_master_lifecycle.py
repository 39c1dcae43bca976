"""Agents' liveness, framework failover and teardown, master restart (paused clock)."""

from __future__ import annotations

import gc

from structlog.testing import capture_logs

from frameworks import DriverStatus, SchedulerDriver
from libprocess import Node, clock
from libprocess.testing import settle
from master import Master, MasterFlags, tune_garbage_collector
from tests.master.fakes import Recorder, command_task, framework_info, start_cluster
from zmesos.protocol import Reason, ReportedTask, Source, TaskState


async def _advance(seconds: float, step: float = 1.0) -> None:
    """Move time in steps, letting actors re-arm their timers between steps."""
    await settle()
    left = seconds
    while left > 0:
        clock.advance(min(step, left))
        left -= step
        await settle()
    if seconds == 0:
        clock.advance(0)
        await settle()


async def _launch(cluster, *task_ids: str) -> None:
    [offer] = cluster.scheduler.take_offers()
    cluster.driver.launch_tasks([offer.id], [command_task(offer, t) for t in task_ids])
    await settle()


async def test_master_pings_agents_and_keeps_answering_ones():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        await _advance(15 * 10)
        assert cluster.agent.pings >= 10
        assert cluster.agent.agent_id in cluster.master.cluster.agents


async def test_master_marks_agent_unreachable_after_missed_pings_with_task_lost_and_lost_agent():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        await _launch(cluster, "t1")
        # The registration's ping was answered; the next one (at 15 s) is the first
        # to go unanswered, and five timeouts after it (at 90 s) the agent is removed.
        cluster.agent.answer_pings = False
        await _advance(15 * 5)
        assert cluster.agent.agent_id in cluster.master.cluster.agents
        assert cluster.scheduler.lost_agents == []
        await _advance(15)
        assert cluster.agent.agent_id not in cluster.master.cluster.agents
        assert cluster.scheduler.lost_agents == [cluster.agent.agent_id]
        lost = cluster.scheduler.statuses[-1]
        assert (lost.task_id, lost.state) == ("t1", TaskState.LOST)
        assert lost.reason == Reason.AGENT_REMOVED
        assert lost.source == Source.MASTER and lost.uuid is None
        assert cluster.master.metrics["tasks_lost"] == 1
        # Unreachable, not removed: it is not told to shut down, and the registry says so.
        assert cluster.agent.shutdowns == []
        assert cluster.agent.agent_id in cluster.master.registrar.registry.unreachable
        assert len(cluster.scheduler.rescinded) == 1  # the offer of what t1 left unused
        assert len(cluster.master.offers) == 0
        # An unreachable agent that comes back is admitted again (Mesos 1.x).
        cluster.agent.reregister()
        await settle()
        assert cluster.agent.shutdowns == []
        assert cluster.agent.agent_id in cluster.master.cluster.agents
        assert cluster.agent.agent_id in cluster.master.registrar.registry.agents
        assert not cluster.master.registrar.registry.unreachable


async def test_master_agent_link_loss_disconnects_but_removal_waits_for_pings():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        await _launch(cluster, "t1")
        agent_id = cluster.agent.agent_id
        node.terminate(cluster.agent.pid)
        await settle()
        record = cluster.master.cluster.agents[agent_id]
        assert not record.connected and not record.active
        await _advance(15 * 5)
        assert agent_id in cluster.master.cluster.agents
        await _advance(15)
        assert agent_id not in cluster.master.cluster.agents
        assert cluster.scheduler.states("t1")[-1] == TaskState.LOST


async def test_master_agent_reregistering_after_link_loss_is_active_again():
    clock.pause()
    async with Node() as node:
        from tests.master.fakes import FakeAgent

        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        old = cluster.agent
        node.terminate(old.pid)
        await settle()
        assert cluster.scheduler.rescinded == [offer.id]
        # The agent restarts (a new process) and re-registers with its id.
        agent = FakeAgent(cluster.master_pid, register=False, name="agent-again")
        agent.agent_id = old.agent_id
        node.spawn(agent)
        agent.reregister()
        await settle()
        record = cluster.master.cluster.agents[old.agent_id]
        assert record.connected and record.pid == agent.pid
        assert len(cluster.scheduler.offers) == 1


async def test_master_framework_failover_timeout_removes_framework_and_kills_tasks():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node, framework=framework_info(failover_timeout=10))
        await _launch(cluster, "t1")
        framework_id = cluster.scheduler.framework_id
        node.terminate(cluster.driver.pid)  # the scheduler dies without unregistering
        await settle()
        framework = cluster.master.cluster.frameworks[framework_id]
        assert not framework.connected and not framework.active
        assert len(cluster.master.offers) == 0
        await _advance(9)
        assert framework_id in cluster.master.cluster.frameworks
        assert cluster.agent.shutdown_frameworks == []
        await _advance(2)
        assert framework_id not in cluster.master.cluster.frameworks
        assert cluster.agent.shutdown_frameworks == [framework_id]
        assert framework.completed_tasks[-1].state == TaskState.KILLED
        assert cluster.master.metrics["tasks_killed"] == 1


async def test_master_framework_failing_over_in_time_keeps_its_tasks():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node, framework=framework_info(failover_timeout=10))
        await _launch(cluster, "t1")
        framework_id = cluster.scheduler.framework_id
        node.terminate(cluster.driver.pid)
        await _advance(5)
        scheduler = Recorder()
        driver = SchedulerDriver(
            scheduler, framework_info(failover_timeout=10, id=framework_id), cluster.master_pid
        )
        node.spawn(driver)
        await settle()
        assert scheduler.events[0] == ("registered", framework_id)
        await _advance(10)
        assert framework_id in cluster.master.cluster.frameworks
        driver.reconcile_tasks()
        await settle()
        assert [(s.task_id, s.state) for s in scheduler.statuses] == [("t1", TaskState.RUNNING)]
        # Updates now go to the new scheduler, and are acknowledged by it.
        cluster.agent.update(framework_id, "t1", TaskState.FINISHED)
        await settle()
        assert scheduler.states("t1")[-1] == TaskState.FINISHED
        assert not cluster.agent.pending_acks


async def test_master_failover_timeout_zero_removes_framework_at_once():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        await _launch(cluster, "t1")
        node.terminate(cluster.driver.pid)
        await _advance(0)
        assert cluster.master.cluster.frameworks == {}


async def test_master_teardown_unregisters_framework_and_kills_its_tasks():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        await _launch(cluster, "t1", "t2")
        framework_id = cluster.scheduler.framework_id
        cluster.driver.stop()
        assert await cluster.driver.join() == DriverStatus.STOPPED
        await settle()
        assert cluster.master.cluster.frameworks == {}
        assert cluster.agent.shutdown_frameworks == [framework_id]
        [removed] = cluster.master.cluster.completed_frameworks
        assert {t.id: t.state for t in removed.completed_tasks} == {
            "t1": TaskState.KILLED,
            "t2": TaskState.KILLED,
        }
        agent = cluster.master.cluster.agents[cluster.agent.agent_id]
        assert not agent.used


async def test_master_restart_frameworks_and_agents_reregister_with_their_tasks():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node, framework=framework_info(failover_timeout=60))
        await _launch(cluster, "t1")
        framework_id = cluster.scheduler.framework_id
        [run] = cluster.agent.launched
        node.terminate(cluster.master_pid)
        await settle()
        assert ("disconnected", None) in cluster.scheduler.events
        new_master = Master(MasterFlags(master_id="N"))
        assert node.spawn(new_master) == cluster.master_pid
        cluster.agent.reregister(
            tasks=(
                ReportedTask(framework_id=framework_id, task=run.task, state=TaskState.RUNNING),
            ),
            frameworks=(run.framework,),
            framework_pids={framework_id: run.framework_pid},
        )
        await _advance(2.5)  # the driver's registration retry
        assert cluster.scheduler.events[-1][0] in {"reregistered", "offers"}
        assert ("reregistered", "N") in cluster.scheduler.events
        framework = new_master.cluster.frameworks[framework_id]
        assert framework.connected and framework.active
        assert framework.tasks["t1"].state == TaskState.RUNNING
        agent = new_master.cluster.agents[cluster.agent.agent_id]
        assert agent.used.cpus == 1


async def test_master_refuses_framework_with_invalid_roles():
    clock.pause()
    async with Node() as node:
        master_pid = node.spawn(Master(MasterFlags(master_id="M")))
        scheduler = Recorder()
        driver = SchedulerDriver(scheduler, framework_info(roles=("bad role",)), master_pid)
        node.spawn(driver)
        await settle()
        assert scheduler.errors and "Invalid role" in scheduler.errors[0]
        assert await driver.join() == DriverStatus.ABORTED


async def test_master_agent_reregistering_with_new_resources_offers_the_new_total():
    clock.pause()
    async with Node() as node:
        from zmesos.resources import Resources

        cluster = await start_cluster(node, resources="cpus:2;mem:1024")
        [offer] = cluster.scheduler.take_offers()
        cluster.agent.resources = Resources.parse("cpus:8;mem:8192")
        cluster.agent.reregister()
        await settle()
        assert cluster.scheduler.rescinded == [offer.id]
        [again] = cluster.scheduler.take_offers()
        assert Resources.from_list(again.resources) == Resources.parse("cpus:8;mem:8192")
        assert cluster.master.cluster.agents[cluster.agent.agent_id].total.cpus == 8


async def test_master_repeated_reregistration_from_the_same_scheduler_keeps_its_offers():
    clock.pause()
    async with Node() as node:
        from zmesos.protocol import ReregisterFramework

        cluster = await start_cluster(node)
        [offer] = list(cluster.scheduler.offers.values())
        info = framework_info(id=cluster.scheduler.framework_id)
        node.send(
            cluster.driver.pid,
            cluster.master_pid,
            ReregisterFramework(framework=info, failover=False),
        )
        await settle()
        assert offer.id in cluster.master.offers
        assert cluster.scheduler.rescinded == []


async def test_master_failed_over_scheduler_supersedes_the_connected_one():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node, framework=framework_info(failover_timeout=60))
        framework_id = cluster.scheduler.framework_id
        scheduler = Recorder()
        driver = SchedulerDriver(
            scheduler, framework_info(failover_timeout=60, id=framework_id), cluster.master_pid
        )
        node.spawn(driver)
        await settle()
        assert cluster.scheduler.errors == ["Framework failed over"]
        assert await cluster.driver.join() == DriverStatus.ABORTED
        assert scheduler.events[0] == ("registered", framework_id)
        clock.advance(1)  # the old scheduler's offer went back, for the next periodic run
        await settle()
        assert len(scheduler.offers) == 1
        framework = cluster.master.cluster.frameworks[framework_id]
        assert framework.pid == driver.pid and framework.connected


async def test_master_unregister_agent_removes_it_at_once():
    clock.pause()
    async with Node() as node:
        from zmesos.protocol import UnregisterAgent

        cluster = await start_cluster(node)
        await _launch(cluster, "t1")
        node.send(
            cluster.agent.pid, cluster.master_pid, UnregisterAgent(agent_id=cluster.agent.agent_id)
        )
        await settle()
        assert cluster.master.cluster.agents == {}
        assert cluster.scheduler.lost_agents == [cluster.agent.agent_id]
        assert cluster.scheduler.states("t1")[-1] == TaskState.LOST


async def test_master_known_agent_reregistering_without_a_task_loses_it():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        await _launch(cluster, "kept", "gone")
        [kept, _] = [run.task for run in cluster.agent.launched]
        framework_id = cluster.scheduler.framework_id
        cluster.agent.reregister(
            tasks=(ReportedTask(framework_id=framework_id, task=kept, state=TaskState.RUNNING),)
        )
        await settle()
        [lost] = [s for s in cluster.scheduler.statuses if s.task_id == "gone"][-1:]
        assert lost.state == TaskState.LOST and lost.reason == Reason.TASK_UNKNOWN
        framework = cluster.master.cluster.frameworks[cluster.scheduler.framework_id]
        assert set(framework.tasks) == {"kept"}


async def test_master_repeated_reregistration_is_answered_again_and_not_taken_twice():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        await _launch(cluster, "t1")
        [run] = cluster.agent.launched
        reported = ReportedTask(
            framework_id=run.framework.id, task=run.task, state=TaskState.RUNNING
        )
        cluster.agent.reregister(tasks=(reported,), frameworks=(run.framework,))
        await settle()
        assert cluster.agent.reregistered == 1
        await _advance(6)  # past the refusal of what t1 left (5 s)
        await _launch(cluster, "t2")
        # The agent's retry of that very re-registration crosses its answer, and the task
        # launched since: it is answered again, and t2 is not lost for its absence.
        cluster.agent.reregister(tasks=(reported,), frameworks=(run.framework,))
        await settle()
        assert cluster.agent.reregistered == 2
        assert cluster.master.metrics["agent_reregistrations_repeated"] == 1
        assert cluster.scheduler.states("t2")[-1] == TaskState.RUNNING
        # Anything else it says is taken in full: a task it no longer reports is lost.
        cluster.agent.reregister(frameworks=(run.framework,))
        await settle()
        assert cluster.agent.reregistered == 3
        assert cluster.scheduler.states("t1")[-1] == TaskState.LOST
        assert cluster.master.metrics["agent_reregistrations_repeated"] == 1


async def test_master_agent_reporting_a_removed_framework_is_told_to_shut_it_down():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        await _launch(cluster, "t1")
        framework_id = cluster.scheduler.framework_id
        [run] = cluster.agent.launched
        cluster.driver.stop()
        await settle()
        cluster.agent.shutdown_frameworks.clear()
        cluster.agent.reregister(
            tasks=(
                ReportedTask(framework_id=framework_id, task=run.task, state=TaskState.RUNNING),
            ),
            frameworks=(run.framework,),
        )
        await settle()
        assert cluster.agent.shutdown_frameworks == [framework_id]


def test_master_process_tunes_the_collector_for_a_large_heap():
    from master.runner import GC_THRESHOLDS

    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_master_stopped_with_allocator_calls_pending_counts_no_failure():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        for number in range(20):
            cluster.master._allocator_weight(f"role{number}", 2.0)
        with capture_logs() as logs:
            node.terminate(cluster.master_pid)
            await settle()
        assert cluster.master.metrics["allocator_call_failures"] == 0
        assert not [entry for entry in logs if entry["event"] == "allocator_call_failed"]
