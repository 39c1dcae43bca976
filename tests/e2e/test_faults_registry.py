"""Fault test: a master SIGKILLed and restarted reads its file registry back."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp
import pytest

from tests.e2e.cluster import eventually_json, free_port
from zmesos.cli.local import LocalCluster

FAST_AGENT = ("--registration-backoff-factor", "0.2")


@pytest.mark.timeout(90)
async def test_faults_master_restarted_from_its_file_registry_knows_agents_weights_quota(
    tmp_path,
):
    cluster = LocalCluster("127.0.0.1", free_port(), tmp_path, "cpus:2;mem:1024")
    url = cluster.url
    try:
        await cluster.start_master("--allocation-interval", "0.2")
        for index in range(2):
            await cluster.start_agent(index, *FAST_AGENT)
        await cluster.wait_for_agents(2)
        async with aiohttp.ClientSession() as session:
            async with session.put(f"{url}/weights", json=[{"role": "eng", "weight": 3}]) as r:
                assert r.status == 200
            quota = {"role": "eng", "guarantees": {"cpus": 1.0}}
            async with session.post(f"{url}/quota", json=quota) as r:
                assert r.status == 200
        before = await eventually_json(f"{url}/state", lambda s: len(s["slaves"]) == 2)
        agent_ids = sorted(agent["id"] for agent in before["slaves"])

        os.killpg(cluster.children[0].pid, signal.SIGKILL)
        await cluster.children[0].wait()
        await cluster.start_master("--allocation-interval", "0.2")

        after = await eventually_json(
            f"{url}/state",
            lambda s: sorted(agent["id"] for agent in s["slaves"]) == agent_ids,
        )
        assert after["registry"] == {"store": "file", "generation": 2, "recovered": True}
        weights = await eventually_json(f"{url}/weights", lambda w: True)
        assert weights == [{"role": "eng", "weight": 3.0}]
        quota_state = await eventually_json(f"{url}/quota", lambda q: True)
        assert quota_state["configs"] == [
            {"role": "eng", "guarantees": {"cpus": 1.0}, "limits": {}}
        ]

        # A third agent joining the restarted master gets an id never given before.
        await cluster.start_agent(2, *FAST_AGENT)
        joined = await eventually_json(f"{url}/state", lambda s: len(s["slaves"]) == 3)
        assert len({agent["id"] for agent in joined["slaves"]}) == 3

        # An operator marks one gone (MARK_AGENT_GONE through the command).
        gone = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "zmesos.cli",
            "agent",
            "gone",
            agent_ids[0],
            "--master",
            cluster.master,
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert await gone.wait() == 0
        state = await eventually_json(f"{url}/state", lambda s: len(s["slaves"]) == 2)
        assert [agent["id"] for agent in state["gone_slaves"]] == [agent_ids[0]]
    finally:
        await cluster.stop()
