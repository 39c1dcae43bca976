"""Agent recovery with real processes: the agent is SIGKILLed and restarted under running tasks."""

from __future__ import annotations

import pytest

from tests.e2e.recovery import Sleepers, alive, recovery_cluster, running_scheduler
from zmesos.protocol import TaskState


@pytest.mark.timeout(60)
async def test_recovery_running_tasks_outlive_a_sigkilled_agent(tmp_path):
    async with recovery_cluster(tmp_path) as cluster:
        scheduler = Sleepers(20, "sleep 8")
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
