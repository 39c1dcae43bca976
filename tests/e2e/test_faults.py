"""Faults with real processes: an agent killed under a running task."""

from __future__ import annotations

import asyncio
import getpass
import os
import signal

import pytest

from frameworks.scheduler import SchedulerDriver
from libprocess import Node
from tests.e2e.cluster import OneSleeper, free_port
from zmesos.cli.local import LocalCluster
from zmesos.protocol import FrameworkInfo, Reason, TaskState


@pytest.mark.timeout(120)
async def test_faults_killed_agent_is_removed_and_its_task_lost(tmp_path):
    cluster = LocalCluster("127.0.0.1", free_port(), tmp_path, "cpus:2;mem:1024")
    try:
        # A second a ping, three misses: quick to notice the kill, slow enough that a
        # busy machine does not remove the agent before its task runs.
        pings = ["--agent-ping-timeout", "1", "--max-agent-ping-timeouts", "3"]
        await cluster.start_master("--allocation-interval", "0.2", *pings)
        await cluster.start_agent(0)
        await cluster.wait_for_agents(1)
        async with Node() as node:
            scheduler = OneSleeper()
            driver = SchedulerDriver(
                scheduler,
                FrameworkInfo(user=getpass.getuser(), name="f"),
                cluster.master,
                registration_backoff=(0.2, 1.0),
            )
            node.spawn(driver)
            running = await asyncio.wait_for(scheduler.running, 60)
            agent = cluster.children[1]
            os.killpg(agent.pid, signal.SIGKILL)
            final = await asyncio.wait_for(scheduler.final, 60)
            driver.stop()
        assert final.task_id == "sleeper"
        assert final.state == TaskState.LOST
        assert final.reason == Reason.AGENT_REMOVED
        assert scheduler.lost_agents == [running.agent_id]
    finally:
        await cluster.stop()
