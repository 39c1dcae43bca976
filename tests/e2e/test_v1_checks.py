"""Task checks end to end through Mesos's v1 API: a v1 scheduler made of nothing but
aiohttp launches a command task with a COMMAND check on a real master and agent (the
command executor an OS process) and hears the check's results change in order; the
check never kills the task."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.e2e.groups import master_and_agent
from tests.master.v1_client import V1Scheduler, launch

pytestmark = pytest.mark.timeout(90)

# Exits 0 the first time, 1 every time after (it leaves a file in the sandbox).
ZERO_THEN_ONE = "if [ -f checked ]; then exit 1; fi; touch checked"


async def test_v1_check_results_reach_the_scheduler_in_order_on_a_real_cluster(tmp_path):
    async with (
        master_and_agent(tmp_path) as (master, _),
        aiohttp.ClientSession() as session,
    ):
        scheduler = V1Scheduler(master.http.url, session)
        await scheduler.subscribe({"user": "me", "name": "v1-checks"})
        offer = (await scheduler.next_event(timeout=30))["offers"]["offers"][0]
        body = launch(offer, "checked", "sleep 60")
        body["operations"][0]["launch"]["task_infos"][0]["check"] = {
            "type": "COMMAND",
            "command": {"command": {"value": ZERO_THEN_ONE}},
            "delay_seconds": 0,
            "interval_seconds": 0.2,
        }
        assert await scheduler.call("ACCEPT", body) == 202
        seen: list[dict[str, Any]] = []

        async def next_status() -> dict[str, Any]:
            status = (await scheduler.next_event("OFFERS", timeout=30))["update"]["status"]
            seen.append(status)
            if "uuid" in status:
                acknowledge = {k: status[k] for k in ("agent_id", "task_id", "uuid")}
                assert await scheduler.call("ACKNOWLEDGE", acknowledge) == 202
            return status

        while len(seen) < 4:
            await next_status()
        assert [(s["state"], s.get("reason"), s["check_status"]) for s in seen] == [
            ("TASK_STARTING", None, {"type": "COMMAND", "command": {}}),
            ("TASK_RUNNING", None, {"type": "COMMAND", "command": {}}),
            (
                "TASK_RUNNING",
                "REASON_TASK_CHECK_STATUS_UPDATED",
                {"type": "COMMAND", "command": {"exit_code": 0}},
            ),
            (
                "TASK_RUNNING",
                "REASON_TASK_CHECK_STATUS_UPDATED",
                {"type": "COMMAND", "command": {"exit_code": 1}},
            ),
        ]
        # The master's /state shows the last check status; the check never kills the task.
        async with session.get(f"{master.http.url}/state") as response:
            state = await response.json()
        [task] = state["frameworks"][0]["tasks"]
        assert task["state"] == "TASK_RUNNING"
        assert task["statuses"][-1]["check_status"] == seen[-1]["check_status"]
        assert await scheduler.call("KILL", {"task_id": {"value": "checked"}}) == 202
        while seen[-1]["state"] == "TASK_RUNNING":
            await next_status()
        assert seen[-1]["state"] == "TASK_KILLED"
        assert await scheduler.call("TEARDOWN") == 202
        await scheduler.close()
