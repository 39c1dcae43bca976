"""Faults with real processes: an agent killed under a running task."""

from __future__ import annotations

import asyncio
import getpass
import os
import signal

import pytest

from frameworks.scheduler import Scheduler, SchedulerDriver
from libprocess import Node
from tests.e2e.cluster import free_port
from zmesos.cli.local import LocalCluster
from zmesos.protocol import CommandInfo, FrameworkInfo, Reason, TaskInfo, TaskState, TaskStatus
from zmesos.resources import Resources


class OneSleeper(Scheduler):
    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.running = loop.create_future()
        self.final: asyncio.Future[TaskStatus] = loop.create_future()
        self.lost_agents: list[str] = []
        self.launched = False

    def resource_offers(self, driver, offers):
        for offer in offers:
            if self.launched:
                driver.decline(offer.id)
                continue
            self.launched = True
            task = TaskInfo(
                name="sleeper",
                task_id="sleeper",
                agent_id=offer.agent_id,
                resources=tuple(Resources.parse("cpus:0.1;mem:32").to_list()),
                command=CommandInfo(value="sleep 60"),
            )
            driver.launch_tasks([offer.id], [task])

    def status_update(self, driver, status):
        if status.state == TaskState.RUNNING and not self.running.done():
            self.running.set_result(status)
        if status.state.terminal and not self.final.done():
            self.final.set_result(status)

    def agent_lost(self, driver, agent_id):
        self.lost_agents.append(agent_id)


@pytest.mark.timeout(120)
async def test_faults_killed_agent_is_removed_and_its_task_lost(tmp_path):
    cluster = LocalCluster("127.0.0.1", free_port(), free_port(), tmp_path, "cpus:2;mem:1024")
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
