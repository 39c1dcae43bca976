"""Task groups through Mesos's v1 APIs: a v1 scheduler made of nothing but aiohttp launches
groups on a real master and agent (executors are OS processes): on the default executor
(all finish; one failing kills the rest), and on a custom v1 executor, which gets the
group in one LAUNCH_GROUP event."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.groups import master_and_agent
from tests.master.v1_client import V1Scheduler, default_executor, launch_group, task_info

pytestmark = pytest.mark.timeout(90)
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST"}


async def _run_group(
    work_dir: Path, executor: dict[str, Any], commands: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Launch one group of `commands` (task id -> command) on `executor`; every status of
    each task until all are terminal (each update acknowledged)."""
    async with master_and_agent(work_dir) as (master, _), aiohttp.ClientSession() as session:
        scheduler = V1Scheduler(master.http.url, session)
        await scheduler.subscribe({"user": "me", "name": "v1-groups"})
        offer = (await scheduler.next_event(timeout=30))["offers"]["offers"][0]
        tasks = [task_info(offer, task_id, command) for task_id, command in commands.items()]
        assert await scheduler.call("ACCEPT", launch_group(offer, executor, tasks)) == 202
        seen: dict[str, list[dict[str, Any]]] = {task_id: [] for task_id in commands}
        while not all(s and s[-1]["state"] in TERMINAL for s in seen.values()):
            event = await scheduler.next_event("OFFERS", "FAILURE", timeout=30)
            status = event["update"]["status"]
            seen[status["task_id"]["value"]].append(status)
            if "uuid" in status:
                acknowledge = {k: status[k] for k in ("agent_id", "task_id", "uuid")}
                assert await scheduler.call("ACKNOWLEDGE", acknowledge) == 202
        assert await scheduler.call("TEARDOWN") == 202
        await scheduler.close()
    return seen


def _states(seen: dict[str, list[dict[str, Any]]], task_id: str) -> list[str]:
    return [status["state"] for status in seen[task_id]]


async def test_v1_task_group_on_the_default_executor_runs_every_task_to_finished(tmp_path):
    commands = {"a": "echo a", "b": "sleep 0.5", "c": "true"}
    seen = await _run_group(tmp_path, default_executor(), commands)
    for task_id in commands:
        assert _states(seen, task_id) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
        assert {s["executor_id"]["value"] for s in seen[task_id]} == {"pod"}
    [stdout] = tmp_path.glob("agents/*/frameworks/*/executors/pod/runs/latest/tasks/a/stdout")
    assert stdout.read_text() == "a\n"


async def test_v1_task_group_a_failing_task_kills_the_rest(tmp_path):
    commands = {"bad": "sleep 0.3; exit 1", "web": "sleep 60", "log": "sleep 60"}
    seen = await _run_group(tmp_path, default_executor(), commands)
    assert _states(seen, "bad")[-1] == "TASK_FAILED"
    for sibling in ("web", "log"):
        final = seen[sibling][-1]
        assert final["state"] == "TASK_KILLED" and "reason" not in final  # as Mesos
        assert "task 'bad' of its group ended TASK_FAILED" in final["message"]


async def test_v1_task_group_on_a_custom_v1_executor_arrives_in_one_launch_group(tmp_path):
    executor = {
        "type": "CUSTOM",
        "executor_id": {"value": "custom"},
        "command": {
            "shell": False,
            "value": sys.executable,
            "arguments": ["python", "-m", "tests.agent.v1_executor"],
        },
        "resources": default_executor()["resources"],
    }
    seen = await _run_group(tmp_path, executor, {"x": "true", "y": "true"})
    for task_id in ("x", "y"):
        assert _states(seen, task_id) == ["TASK_RUNNING", "TASK_FINISHED"]
        assert seen[task_id][0]["message"] == "in a group of 2"
