"""A real cluster for end-to-end tests: master and agents as OS processes on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from frameworks.scheduler import Scheduler, SchedulerDriver
from zmesos.cli.local import LocalCluster
from zmesos.protocol import CommandInfo, Offer, TaskInfo, TaskState, TaskStatus
from zmesos.resources import Resources


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def running_cluster(
    work_dir: Path, agents: int = 2, resources: str = "cpus:4;mem:4096;disk:4096"
) -> AsyncIterator[LocalCluster]:
    cluster = LocalCluster("127.0.0.1", free_port(), work_dir, resources)
    try:
        await cluster.start_master("--allocation-interval", "0.2")
        for index in range(agents):
            await cluster.start_agent(index)
        await cluster.wait_for_agents(agents)
        yield cluster
    finally:
        await cluster.stop()


class OneSleeper(Scheduler):
    """Launches one `sleep 60` task on the first offer (declining the rest) and records
    its states; with `kill_when_running` it kills the task once it runs."""

    def __init__(self, kill_when_running: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.kill_when_running = kill_when_running
        self.states: list[TaskState] = []
        self.running: asyncio.Future[TaskStatus] = loop.create_future()
        self.final: asyncio.Future[TaskStatus] = loop.create_future()
        self.lost_agents: list[str] = []
        self.launched = False

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
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

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        self.states.append(status.state)
        if status.state == TaskState.RUNNING and not self.running.done():
            self.running.set_result(status)
            if self.kill_when_running:
                driver.kill_task(status.task_id)
        if status.state.terminal and not self.final.done():
            self.final.set_result(status)

    def agent_lost(self, driver: SchedulerDriver, agent_id: str) -> None:
        self.lost_agents.append(agent_id)
