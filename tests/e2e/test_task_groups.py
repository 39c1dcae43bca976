"""Task groups end to end through the actor API: a real master and agent, a scheduler
driver that launches a group on the default executor (an OS process), whose tasks run to
their end; the master's and agent's /state show the group's tasks under its executor."""

from __future__ import annotations

import getpass
from typing import Any

import pytest

from frameworks import SchedulerDriver
from libprocess import Node
from tests.e2e.cluster import get_json
from tests.e2e.groups import GroupScheduler, master_and_agent
from zmesos.protocol import FrameworkInfo, TaskState

pytestmark = pytest.mark.timeout(90)


async def test_task_group_runs_through_the_actor_api_and_shows_in_state(tmp_path):
    commands = {"web": "sleep 1", "sidecar": "sleep 1", "init": "echo ready"}
    scheduler = GroupScheduler(commands)
    async with master_and_agent(tmp_path) as (master, agent), Node() as node:
        driver = SchedulerDriver(
            scheduler,
            FrameworkInfo(user=getpass.getuser(), name="groups"),
            str(master.pid),
            registration_backoff=(0.2, 1.0),
        )
        node.spawn(driver)
        await scheduler.until(lambda: scheduler.all_reached(TaskState.RUNNING), 30)
        state: dict[str, Any] = await get_json(f"{master.http.url}/state")
        [framework] = state["frameworks"]
        shown = [*framework["tasks"], *framework["completed_tasks"]]
        assert {t["id"]: t["executor_id"] for t in shown} == dict.fromkeys(commands, "pod")
        assert [e["type"] for e in framework["executors"]] == ["DEFAULT"]
        agent_state = await get_json(f"{agent.http.url}/state")
        [executor] = agent_state["frameworks"][0]["executors"]
        assert executor["id"] == "pod" and executor["type"] == "DEFAULT"
        assert len(executor["tasks"]) + len(executor["completed_tasks"]) == 3
        await scheduler.until(scheduler.all_ended, 30)
        driver.stop()
    for task_id in commands:
        assert scheduler.states[task_id] == [
            TaskState.STARTING,
            TaskState.RUNNING,
            TaskState.FINISHED,
        ]
    [stdout] = tmp_path.glob("agents/*/frameworks/*/executors/pod/runs/latest/tasks/init/stdout")
    assert stdout.read_text() == "ready\n"
