"""Mesos's v1 APIs on a real cluster (OS processes): a v1 scheduler runs a command task
and a task of a custom v1 executor through the master's address; the operator's event
stream follows the command task from launch to finish."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiohttp
import pytest

from tests.e2e.cluster import running_cluster
from tests.master.v1_client import V1Scheduler, task_info

pytestmark = pytest.mark.timeout(120)


async def test_v1_scheduler_runs_command_and_v1_executor_tasks_on_a_real_cluster(tmp_path):
    async with running_cluster(tmp_path, agents=1) as cluster, aiohttp.ClientSession() as session:
        operator = await session.post(f"{cluster.url}/api/v1", json={"type": "SUBSCRIBE"})
        assert operator.status == 200
        scheduler = V1Scheduler(cluster.url, session)
        await scheduler.subscribe({"user": "me", "name": "v1-e2e"})
        offer = (await scheduler.next_event(timeout=30))["offers"]["offers"][0]
        command = task_info(offer, "echo", "echo hello from v1")
        custom = task_info(offer, "custom")
        del custom["command"]
        custom["data"] = "dHJ1ZQ=="  # base64 of "true": the command the executor runs
        custom["executor"] = {
            "executor_id": {"value": "v1"},
            "command": {
                "shell": False,
                "value": sys.executable,
                "arguments": ["python", "-m", "tests.agent.v1_executor"],
            },
        }
        accept = {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [command, custom]}}],
        }
        assert await scheduler.call("ACCEPT", accept) == 202

        states: dict[str, list[str]] = {"echo": [], "custom": []}
        while not all(s and s[-1] == "TASK_FINISHED" for s in states.values()):
            # FAILURE: an executor exited (the command executor's may come first, under load)
            event = await scheduler.next_event("OFFERS", "FAILURE", timeout=60)
            status = event["update"]["status"]
            states[status["task_id"]["value"]].append(status["state"])
            assert status["state"] in ("TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"), status
            if "uuid" in status:
                acknowledge = {k: status[k] for k in ("agent_id", "task_id", "uuid")}
                assert await scheduler.call("ACKNOWLEDGE", acknowledge) == 202
        assert states["custom"] == ["TASK_RUNNING", "TASK_FINISHED"]

        seen = await _operator_task_states(operator, "echo")
        assert seen[0] == "TASK_STAGING" and seen[-1] == "TASK_FINISHED"
        assert "TASK_RUNNING" in seen
        assert await scheduler.call("TEARDOWN") == 202
        operator.close()
        await scheduler.close()
    stdout = list(tmp_path.glob("agent-0/agents/*/frameworks/*/executors/echo/runs/latest/stdout"))
    assert len(stdout) == 1 and stdout[0].read_text() == "hello from v1\n"


async def _operator_task_states(response: aiohttp.ClientResponse, task_id: str) -> list[str]:
    """The states the operator stream reported for `task_id`, until it finished."""
    states: list[str] = []
    while not states or states[-1] != "TASK_FINISHED":
        line = await asyncio.wait_for(response.content.readline(), 30)
        event: dict[str, Any] = json.loads(await response.content.readexactly(int(line)))
        if (
            event["type"] == "TASK_ADDED"
            and event["task_added"]["task"]["task_id"]["value"] == task_id
        ):
            states.append(event["task_added"]["task"]["state"])
        elif (
            event["type"] == "TASK_UPDATED"
            and event["task_updated"]["status"]["task_id"]["value"] == task_id
        ):
            states.append(event["task_updated"]["state"])
    return states
