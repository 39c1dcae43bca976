"""Agent recovery with real processes: the agent is SIGKILLed and restarted under running tasks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest

from tests.e2e.groups import GroupScheduler
from tests.e2e.recovery import (
    Sleepers,
    alive,
    processes_under,
    recovery_cluster,
    running_scheduler,
)
from zmesos.protocol import PARTITION_AWARE, Reason, Source, TaskState


@pytest.mark.timeout(60)
async def test_recovery_running_tasks_outlive_a_sigkilled_agent(tmp_path):
    async with recovery_cluster(tmp_path) as cluster:
        scheduler = Sleepers(20, "sleep 6")
        async with running_scheduler(cluster, scheduler):
            await scheduler.until(lambda: scheduler.in_state(TaskState.RUNNING) == 20, 30)
            executors = cluster.executor_pids()
            assert len(executors) == 20
            await cluster.kill_agent(0)
            assert all(alive(pid) for pid in executors)
            await cluster.start_agent_again()
            await cluster.until_reregistered(1)
            assert cluster.executor_pids() == executors
            assert all(alive(pid) for pid in executors)
            await scheduler.until(lambda: scheduler.terminal() == 20, 30)
        assert set(scheduler.latest().values()) == {TaskState.FINISHED}
        for updates in scheduler.updates.values():
            states = [status.state for status in updates]
            assert states == [TaskState.STARTING, TaskState.RUNNING, TaskState.FINISHED]


ORDER = {TaskState.STARTING: 0, TaskState.RUNNING: 1}


@pytest.mark.timeout(120)
async def test_recovery_300_short_tasks_through_three_agent_restarts(tmp_path):
    async with recovery_cluster(tmp_path) as cluster:
        scheduler = Sleepers(300, "sleep 0.3", per_task="cpus:0.1;mem:1")
        async with running_scheduler(cluster, scheduler):
            for restart, progress in enumerate((40, 120, 200), start=1):
                await scheduler.until(lambda at=progress: len(scheduler.updates) >= at, 60)
                await cluster.kill_agent(0)
                await cluster.start_agent_again()
                await cluster.until_reregistered(restart)
            await scheduler.until(lambda: scheduler.terminal() == 300, 90)
            await cluster.until_nothing_unacknowledged(30)
    uuids = [s.uuid for updates in scheduler.updates.values() for s in updates if s.uuid]
    assert len(uuids) == len(set(uuids)), "an update reached the framework twice"
    for task_id, updates in scheduler.updates.items():
        states = [status.state for status in updates]
        assert [state.terminal for state in states].count(True) == 1, (task_id, states)
        assert states[-1].terminal, (task_id, states)
        ranks = [ORDER.get(state, 2) for state in states]
        assert ranks == sorted(ranks), (task_id, states)


@pytest.mark.timeout(60)
async def test_recovery_executor_killed_while_the_agent_is_down_fails_its_task(tmp_path):
    async with recovery_cluster(tmp_path) as cluster:
        scheduler = Sleepers(3, "sleep 60")
        async with running_scheduler(cluster, scheduler):
            await scheduler.until(lambda: scheduler.in_state(TaskState.RUNNING) == 3, 30)
            victim = cluster.executor_pid_of("task-001")
            await cluster.kill_agent(0)
            os.kill(victim, signal.SIGKILL)
            await cluster.start_agent_again()
            await scheduler.until(lambda: scheduler.terminal() == 1, 30)
            await cluster.until_reregistered(1)
            latest = scheduler.latest()
        final = scheduler.updates["task-001"][-1]
        assert (final.state, final.reason) == (TaskState.FAILED, Reason.EXECUTOR_TERMINATED)
        assert final.source == Source.AGENT
        assert latest["task-000"] == latest["task-002"] == TaskState.RUNNING


@pytest.mark.timeout(60)
@pytest.mark.parametrize("aware", [True, False])
async def test_recovery_executor_silent_past_the_reregistration_timeout_is_killed(tmp_path, aware):
    """Its task is TASK_GONE for a partition-aware framework, TASK_LOST for another (Mesos);
    the executor that came back in time keeps its task running."""
    capabilities = (PARTITION_AWARE,) if aware else ()
    async with recovery_cluster(tmp_path) as cluster:
        scheduler = Sleepers(2, "sleep 60")
        async with running_scheduler(cluster, scheduler, capabilities=capabilities):
            await scheduler.until(lambda: scheduler.in_state(TaskState.RUNNING) == 2, 30)
            silent = cluster.executor_pid_of("task-001")
            await cluster.kill_agent(0)
            os.kill(silent, signal.SIGSTOP)  # alive, but it cannot answer the new agent
            await cluster.start_agent_again()
            await scheduler.until(lambda: scheduler.terminal() == 1, 30)
            latest = scheduler.latest()
        final = scheduler.updates["task-001"][-1]
        expected = TaskState.GONE if aware else TaskState.LOST
        assert (final.state, final.reason) == (expected, Reason.EXECUTOR_REREGISTRATION_TIMEOUT)
        assert final.source == Source.AGENT
        assert latest["task-000"] == TaskState.RUNNING
        assert not alive(silent)


@pytest.mark.timeout(60)
async def test_recovery_cleanup_kills_and_reports_the_tasks_and_starts_clean(tmp_path):
    async with recovery_cluster(tmp_path) as cluster:
        scheduler = Sleepers(3, "sleep 60")
        async with running_scheduler(cluster, scheduler):
            await scheduler.until(lambda: scheduler.in_state(TaskState.RUNNING) == 3, 30)
            executors = cluster.executor_pids()
            await cluster.kill_agent(0)
            await cluster.start_agent_again("--recover", "cleanup")
            await scheduler.until(lambda: scheduler.terminal() == 3, 30)
            await cluster.until_nothing_left(30)
        for updates in scheduler.updates.values():
            final = updates[-1]
            assert (final.state, final.reason) == (TaskState.KILLED, Reason.AGENT_RESTARTED)
        assert not any(alive(pid) for pid in executors)
        assert cluster.executor_pids() == set()


@pytest.mark.timeout(60)
async def test_recovery_truncated_checkpoint_recovers_what_is_whole(tmp_path):
    async with recovery_cluster(tmp_path) as cluster:
        scheduler = Sleepers(2, "sleep 6")
        async with running_scheduler(cluster, scheduler):
            await scheduler.until(lambda: scheduler.in_state(TaskState.RUNNING) == 2, 30)
            await cluster.until_nothing_unacknowledged(10)
            await cluster.kill_agent(0)
            [torn] = cluster.meta.glob(
                "agents/*/frameworks/*/executors/task-000/runs/*/tasks/*/task.updates"
            )
            torn.write_bytes(torn.read_bytes()[:-5])  # the RUNNING update's acknowledgement, cut
            await cluster.start_agent_again()
            await cluster.until_reregistered(1)
            await scheduler.until(lambda: scheduler.terminal() == 2, 30)
        log = (cluster.agent_work_dir(0).parent / "agent-0.log").read_text()
        [line] = [line for line in log.splitlines() if "checkpoint_dropped" in line]
        assert str(torn) in line and "torn or damaged tail" in line
        for updates in scheduler.updates.values():
            states = [status.state for status in updates]
            assert states == [TaskState.STARTING, TaskState.RUNNING, TaskState.FINISHED]


@pytest.mark.timeout(60)
async def test_recovery_framework_without_checkpoint_loses_its_tasks_with_the_agent(tmp_path):
    async with recovery_cluster(tmp_path) as cluster:
        scheduler = Sleepers(3, "sleep 60")
        async with running_scheduler(cluster, scheduler, checkpoint=False):
            await scheduler.until(lambda: scheduler.in_state(TaskState.RUNNING) == 3, 30)
            processes = processes_under(tmp_path)
            assert processes
            assert cluster.executor_pids() == set()  # nothing of it is checkpointed
            await cluster.kill_agent(0)
            await cluster.start_agent_again()
            await scheduler.until(lambda: scheduler.terminal() == 3, 30)
            async with asyncio.timeout(20):
                while any(alive(pid) for pid in processes):
                    await asyncio.sleep(0.1)
        for updates in scheduler.updates.values():
            final = updates[-1]
            assert (final.state, final.reason) == (TaskState.LOST, Reason.TASK_UNKNOWN)


@pytest.mark.timeout(90)
async def test_recovery_a_task_group_outlives_a_sigkilled_agent_and_its_policy_holds(tmp_path):
    """The default executor and its tasks keep running while the agent is down; a task of
    the group that fails meanwhile takes the rest of its group with it, and the scheduler
    hears all of it, in order, once the agent is back."""
    go = tmp_path / "go"
    fail_on_go = f"while [ ! -f {go} ]; do sleep 0.05; done; exit 2"
    scheduler = GroupScheduler({"fails": fail_on_go, "web": "sleep 60", "log": "sleep 60"})
    async with recovery_cluster(tmp_path) as cluster, running_scheduler(cluster, scheduler):
        await scheduler.until(lambda: scheduler.all_reached(TaskState.RUNNING), 30)
        executor = cluster.executor_pid_of("pod")
        await cluster.kill_agent(0)
        go.touch()  # the task fails while its agent is away: the executor kills the rest
        async with asyncio.timeout(20):
            while _task_processes(tmp_path):
                await asyncio.sleep(0.05)
        assert alive(executor)  # it waits for its agent, with the updates
        await cluster.start_agent_again()
        await cluster.until_reregistered(1)
        await scheduler.until(scheduler.all_ended, 30)
        # Every update acknowledged, the executor gone, nothing left checkpointed. (Not
        # until_nothing_unacknowledged: it reads files the agent is removing meanwhile.)
        await cluster.until_nothing_left(30)
    assert scheduler.states["fails"] == [TaskState.STARTING, TaskState.RUNNING, TaskState.FAILED]
    for sibling in ("web", "log"):
        assert scheduler.states[sibling] == [
            TaskState.STARTING,
            TaskState.RUNNING,
            TaskState.KILLED,
        ]
        assert "task 'fails' of its group ended TASK_FAILED" in scheduler.last(sibling).message
    assert not alive(executor)


def _task_processes(work_dir: Path) -> set[int]:
    """The processes running in a task sandbox of a default executor under `work_dir`."""
    found = set()
    for pid in processes_under(work_dir):
        with contextlib.suppress(OSError):  # it may be gone already
            if "/tasks/" in os.readlink(f"/proc/{pid}/cwd"):
                found.add(pid)
    return found
