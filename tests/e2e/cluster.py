"""A real cluster for end-to-end tests: master and agents as OS processes on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from frameworks.scheduler import Scheduler, SchedulerDriver
from zmesos.cli.local import LocalCluster
from zmesos.protocol import CommandInfo, Offer, TaskInfo, TaskState, TaskStatus
from zmesos.resources import Resources


async def get_json(url: str) -> Any:
    """GET a JSON endpoint; None when nobody answers or the answer is not 200."""
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            if response.status != 200:
                return None
            return await response.json()
    except aiohttp.ClientError:
        return None


async def eventually_json(url: str, predicate: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    """Poll `url` until its JSON satisfies `predicate`; that JSON (fails after `timeout`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        payload = await get_json(url)
        if payload is not None and predicate(payload):
            return payload
        assert asyncio.get_running_loop().time() < deadline, f"{url} never satisfied the test"
        await asyncio.sleep(0.1)


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

    def __init__(self, kill_when_running: bool = False, command: str = "sleep 60") -> None:
        loop = asyncio.get_running_loop()
        self.kill_when_running = kill_when_running
        self.command = command
        self._state_seen = asyncio.Event()
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
                command=CommandInfo(value=self.command),
            )
            driver.launch_tasks([offer.id], [task])

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        self.states.append(status.state)
        self._state_seen.set()
        if status.state == TaskState.RUNNING and not self.running.done():
            self.running.set_result(status)
            if self.kill_when_running:
                driver.kill_task(status.task_id)
        if status.state.terminal and not self.final.done():
            self.final.set_result(status)

    def agent_lost(self, driver: SchedulerDriver, agent_id: str) -> None:
        self.lost_agents.append(agent_id)

    async def wait_for(
        self, state: TaskState, timeout: float, after: TaskState | None = None
    ) -> None:
        """Until the task has been in `state` (after having been in `after`, if given)."""

        def seen() -> bool:
            states = self.states
            if after is not None:
                if after not in states:
                    return False
                states = states[states.index(after) + 1 :]
            return state in states

        async def wait() -> None:
            while not seen():
                self._state_seen.clear()
                await self._state_seen.wait()

        await asyncio.wait_for(wait(), timeout)
