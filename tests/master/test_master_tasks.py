"""Tasks: launch, invalid Accepts, kill, reconcile, framework messages, executor exits."""

from __future__ import annotations

import msgspec

from frameworks import SchedulerDriver
from libprocess import Node, clock
from libprocess.testing import settle
from tests.master.fakes import Recorder, command_task, framework_info, start_cluster
from zmesos.protocol import (
    CheckInfo,
    CheckStatusInfo,
    CheckType,
    CommandInfo,
    ExecutorInfo,
    Filters,
    Operation,
    OperationType,
    Reason,
    Source,
    TaskState,
    TaskStatus,
    TCPCheckStatus,
)
from zmesos.resources import Resources


async def _launched(node, task_ids=("t1",), resources="cpus:1;mem:128"):
    cluster = await start_cluster(node)
    [offer] = cluster.scheduler.take_offers()
    tasks = [command_task(offer, task_id, resources) for task_id in task_ids]
    cluster.driver.launch_tasks([offer.id], tasks)
    await settle()
    return cluster


async def test_master_task_launch_records_task_and_recovers_unused_with_filter():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_tasks(
            [offer.id], [command_task(offer, "t1")], Filters(refuse_seconds=0)
        )
        await settle()
        run = cluster.agent.launched[0]
        assert run.framework.id == cluster.scheduler.framework_id
        assert run.framework_pid == str(cluster.driver.pid)
        framework = cluster.master.cluster.frameworks[cluster.scheduler.framework_id]
        assert framework.tasks["t1"].state == TaskState.RUNNING
        # What the task did not use is offered again (no filter was asked for).
        await cluster.next_allocation()
        [again] = cluster.scheduler.take_offers()
        assert Resources.from_list(again.resources) == Resources.parse(
            "cpus:3;mem:3968;disk:10000;ports:[31000-32000]"
        )


async def test_master_task_terminal_update_returns_its_resources():
    clock.pause()
    async with Node() as node:
        cluster = await _launched(node, resources="cpus:4;mem:4096;disk:10000")
        assert not cluster.scheduler.offers
        cluster.agent.update(cluster.scheduler.framework_id, "t1", TaskState.FINISHED)
        await settle()
        clock.advance(6)  # past the Accept's default 5 s filter on the unused ports
        await settle()
        offered = sum(
            (Resources.from_list(o.resources) for o in cluster.scheduler.offers.values()),
            Resources(),
        )
        assert offered == Resources.parse("cpus:4;mem:4096;disk:10000;ports:[31000-32000]")
        assert cluster.master.metrics["tasks_finished"] == 1


async def test_master_invalid_task_gets_task_error_and_valid_ones_still_launch():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        too_big = command_task(offer, "big", "cpus:100;mem:1")
        no_command = msgspec.structs.replace(command_task(offer, "empty"), command=CommandInfo())
        both = msgspec.structs.replace(
            command_task(offer, "both"),
            executor=ExecutorInfo(executor_id="e", command=CommandInfo(value="x")),
        )
        wrong_agent = msgspec.structs.replace(command_task(offer, "elsewhere"), agent_id="nope")
        good = command_task(offer, "good")
        duplicate = command_task(offer, "good")
        cluster.driver.launch_tasks(
            [offer.id], [too_big, no_command, both, wrong_agent, good, duplicate]
        )
        await settle()
        errors = {s.task_id: s for s in cluster.scheduler.statuses if s.state == "TASK_ERROR"}
        assert set(errors) == {"big", "empty", "both", "elsewhere", "good"}
        assert "more than available" in errors["big"].message
        assert "empty value" in errors["empty"].message
        assert "not both" in errors["both"].message
        assert "does not match" in errors["elsewhere"].message
        assert "duplicate ID: good" in errors["good"].message
        for status in errors.values():
            assert status.reason == Reason.TASK_INVALID
            assert status.source == Source.MASTER
            assert status.uuid is None
        assert [run.task.task_id for run in cluster.agent.launched] == ["good"]
        # The first "good" launched; its duplicate got the error.
        assert sorted(cluster.scheduler.states("good")) == [TaskState.ERROR, TaskState.RUNNING]
        assert cluster.master.metrics["tasks_error"] == 5


async def test_master_task_with_an_invalid_check_gets_task_error_with_mesos_message():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        no_command = CheckInfo(type=CheckType.COMMAND, delay_seconds=0)
        bad = msgspec.structs.replace(command_task(offer, "bad"), check=no_command)
        cluster.driver.launch_tasks([offer.id], [bad])
        await settle()
        [error] = cluster.scheduler.statuses
        assert (error.task_id, error.state, error.reason) == (
            "bad",
            TaskState.ERROR,
            Reason.TASK_INVALID,
        )
        assert error.message == (
            "Task uses invalid check: Expecting 'command' to be set for COMMAND check"
        )
        assert cluster.agent.launched == []


async def test_master_task_ids_clash_with_live_tasks_of_the_framework():
    clock.pause()
    async with Node() as node:
        cluster = await _launched(node)
        cluster.driver.revive()
        await settle()
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await settle()
        assert cluster.scheduler.states("t1") == [TaskState.RUNNING, TaskState.ERROR]
        assert len(cluster.agent.launched) == 1


async def test_master_tasks_consume_offers_in_order():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        tasks = [command_task(offer, f"t{i}", "cpus:1.5;mem:100") for i in range(3)]
        cluster.driver.launch_tasks([offer.id], tasks)
        await settle()
        assert [run.task.task_id for run in cluster.agent.launched] == ["t0", "t1"]
        assert cluster.scheduler.states("t2") == [TaskState.ERROR]


async def test_master_accept_with_offers_of_another_framework_is_dropped_and_others_untouched():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        other = Recorder()
        other_driver = SchedulerDriver(other, framework_info("other"), cluster.master_pid)
        node.spawn(other_driver)
        await settle()
        [offer] = list(cluster.scheduler.offers.values())
        other_driver.launch_tasks([offer.id], [command_task(offer, "stolen")])
        await settle()
        [status] = other.statuses
        assert status.state == TaskState.DROPPED
        assert status.reason == Reason.INVALID_OFFERS
        assert "has invalid framework" in status.message
        # The offer still belongs to its framework, which can use it.
        assert offer.id in cluster.master.offers
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "mine")])
        await settle()
        assert [run.task.task_id for run in cluster.agent.launched] == ["mine"]


async def test_master_accept_of_offers_of_two_agents_drops_tasks_and_recovers_offers():
    clock.pause()
    async with Node() as node:
        from tests.master.fakes import FakeAgent

        cluster = await start_cluster(node)
        node.spawn(FakeAgent(cluster.master_pid, hostname="host2"))
        await settle()
        offers = cluster.scheduler.take_offers()
        assert len({o.agent_id for o in offers}) == 2
        cluster.driver.launch_tasks([o.id for o in offers], [command_task(offers[0], "t")])
        await settle()
        [status] = cluster.scheduler.statuses
        assert status.state == TaskState.DROPPED
        assert "one single agent" in status.message
        await cluster.next_allocation()
        assert len(cluster.master.offers) == 2  # both recovered without a filter, offered again


async def test_master_invalid_operation_is_refused_and_launch_proceeds():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        reserve = Operation(type=OperationType.RESERVE, resources=offer.resources)
        launch = Operation(type=OperationType.LAUNCH, tasks=(command_task(offer, "t1"),))
        cluster.driver.accept([offer.id], [reserve, launch])
        await settle()
        assert [run.task.task_id for run in cluster.agent.launched] == ["t1"]
        assert cluster.master.metrics["operations_refused/reserve_not_dynamic"] == 1


async def test_master_kill_task_reaches_agent_and_kill_of_unknown_task_answers_lost():
    clock.pause()
    async with Node() as node:
        cluster = await _launched(node)
        cluster.driver.kill_task("t1")
        await settle()
        assert [kill.task_id for kill in cluster.agent.kills] == ["t1"]
        assert cluster.scheduler.states("t1") == [TaskState.RUNNING, TaskState.KILLED]
        cluster.driver.kill_task("ghost")
        await settle()
        [lost] = [s for s in cluster.scheduler.statuses if s.task_id == "ghost"]
        assert lost.state == TaskState.LOST
        assert lost.reason == Reason.RECONCILIATION
        assert lost.uuid is None


async def test_master_reconcile_explicit_and_implicit():
    clock.pause()
    async with Node() as node:
        cluster = await _launched(node, ("a", "b"))
        cluster.scheduler.statuses.clear()
        cluster.driver.reconcile_tasks(
            [
                TaskStatus(task_id="a", state=TaskState.STAGING),
                TaskStatus(task_id="missing", state=TaskState.RUNNING),
            ]
        )
        await settle()
        answers = {s.task_id: s for s in cluster.scheduler.statuses}
        assert answers["a"].state == TaskState.RUNNING
        assert answers["missing"].state == TaskState.LOST
        assert all(s.reason == Reason.RECONCILIATION for s in answers.values())
        assert all(s.uuid is None for s in answers.values())
        assert "b" not in answers
        cluster.scheduler.statuses.clear()
        cluster.driver.reconcile_tasks()
        await settle()
        assert sorted(s.task_id for s in cluster.scheduler.statuses) == ["a", "b"]
        acks_before = len(cluster.agent.acks)
        await settle()
        assert len(cluster.agent.acks) == acks_before  # reconciliation answers are not acked


async def test_master_reconcile_answers_the_latest_health_and_check_status():
    clock.pause()
    async with Node() as node:
        cluster = await _launched(node, ("a",))
        framework_id = cluster.scheduler.framework_id
        ready = CheckStatusInfo(type=CheckType.TCP, tcp=TCPCheckStatus(succeeded=True))
        cluster.agent.update(
            framework_id,
            "a",
            TaskState.RUNNING,
            reason=Reason.TASK_CHECK_STATUS_UPDATED,
            check_status=ready,
        )
        await settle()
        cluster.scheduler.statuses.clear()
        cluster.driver.reconcile_tasks()
        await settle()
        [answer] = cluster.scheduler.statuses
        assert (answer.reason, answer.check_status) == (Reason.RECONCILIATION, ready)


async def test_master_framework_messages_flow_both_ways():
    clock.pause()
    async with Node() as node:
        cluster = await _launched(node)
        cluster.driver.send_framework_message("t1", cluster.agent.agent_id, b"ping")
        cluster.agent.executor_message(cluster.scheduler.framework_id, "t1", b"pong")
        await settle()
        [to_executor] = cluster.agent.framework_messages
        assert (to_executor.executor_id, to_executor.data) == ("t1", b"ping")
        assert cluster.scheduler.messages == [("t1", cluster.agent.agent_id, b"pong")]


async def test_master_executor_exit_reaches_the_scheduler():
    clock.pause()
    async with Node() as node:
        cluster = await _launched(node)
        cluster.agent.executor_exited(cluster.scheduler.framework_id, "t1", 3)
        await settle()
        assert cluster.scheduler.executors_lost == [("t1", cluster.agent.agent_id, 3)]


async def test_master_custom_executor_resources_are_held_until_it_exits():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node, resources="cpus:2;mem:1024")
        [offer] = cluster.scheduler.take_offers()
        executor = ExecutorInfo(
            executor_id="exec",
            command=CommandInfo(value="run-executor"),
            resources=tuple(Resources.parse("cpus:1;mem:512").to_list()),
        )
        task = msgspec.structs.replace(
            command_task(offer, "t1", "cpus:1;mem:512"), command=None, executor=executor
        )
        cluster.driver.launch_tasks([offer.id], [task])
        await settle()
        [run] = cluster.agent.launched
        assert run.task.executor.framework_id == cluster.scheduler.framework_id
        agent = cluster.master.cluster.agents[cluster.agent.agent_id]
        assert agent.used == Resources.parse("cpus:2;mem:1024")
        cluster.agent.update(cluster.scheduler.framework_id, "t1", TaskState.FINISHED)
        await settle()
        assert agent.used == Resources.parse("cpus:1;mem:512")
        cluster.agent.executor_exited(cluster.scheduler.framework_id, "exec", 0)
        await settle()
        assert not agent.used
        await cluster.next_allocation()
        offered = sum(
            (Resources.from_list(o.resources) for o in cluster.scheduler.take_offers()),
            Resources(),
        )
        assert offered == Resources.parse("cpus:2;mem:1024")


async def test_master_explicit_acknowledgements_wait_for_the_scheduler():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node, implicit_acknowledgements=False)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await settle()
        assert cluster.agent.acks == []
        [status] = cluster.scheduler.statuses
        assert status.uuid is not None and status.agent_id == cluster.agent.agent_id
        cluster.driver.acknowledge(status)
        await settle()
        assert [ack.uuid for ack in cluster.agent.acks] == [status.uuid]


async def test_master_terminal_task_releases_its_resources_and_stays_listed_until_acknowledged():
    """Mesos's Master::updateTask: resources go back on the terminal update; the task
    stays listed (FINISHED, in /state) until its update is acknowledged."""
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node, implicit_acknowledgements=False)
        [offer] = cluster.scheduler.take_offers()
        everything = Resources.parse("cpus:4;mem:4096;disk:10000")
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1", str(everything))])
        await settle()
        assert not cluster.scheduler.take_offers()
        cluster.agent.update(cluster.scheduler.framework_id, "t1", TaskState.FINISHED)
        await settle()
        # Offered again in the next run, though the FINISHED update is not acknowledged yet.
        await cluster.next_allocation()
        [again] = cluster.scheduler.take_offers()
        assert Resources.from_list(again.resources).contains(everything)
        framework = cluster.master.cluster.frameworks[cluster.scheduler.framework_id]
        assert framework.tasks["t1"].state == TaskState.FINISHED
        agent = cluster.master.cluster.agents[cluster.agent.agent_id]
        assert not agent.used_by_framework  # nothing charged for the finished task
        assert cluster.agent.acks == []

        finished = cluster.scheduler.statuses[-1]
        assert finished.state == TaskState.FINISHED
        cluster.driver.acknowledge(finished)
        await settle()
        assert "t1" not in framework.tasks
        assert [t.id for t in framework.completed_tasks] == ["t1"]
        assert [ack.uuid for ack in cluster.agent.acks] == [finished.uuid]
        # The acknowledgement gives nothing back a second time.
        assert not cluster.scheduler.take_offers()


async def test_master_burst_of_terminal_updates_is_offered_whole_in_the_next_run():
    """Each terminal update gives resources back; none runs the allocator (Mesos,
    MESOS-3078): the next periodic run offers all of them in one offer."""
    clock.pause()
    async with Node() as node:
        task_ids = ("t1", "t2", "t3", "t4")
        cluster = await _launched(node, task_ids, resources="cpus:1;mem:1024;disk:2500")
        assert not cluster.scheduler.take_offers()
        allocator = node.processes[cluster.master.allocator.name]
        runs = allocator.runs
        for task_id in task_ids:
            cluster.agent.update(cluster.scheduler.framework_id, task_id, TaskState.FINISHED)
        await settle()
        assert allocator.runs == runs
        await cluster.next_allocation()
        assert allocator.runs == runs + 1
        [offer] = cluster.scheduler.take_offers()
        assert Resources.from_list(offer.resources).contains(
            Resources.parse("cpus:4;mem:4096;disk:10000")
        )
