"""Task groups end to end through the actor API: a real master and agent, a scheduler
driver that launches a group on the default executor (an OS process), whose tasks run to
their end; the master's and agent's /state show the group's tasks under its executor."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent import AgentFlags, run_agent
from agent.runner import AgentHandle
from frameworks import Scheduler, SchedulerDriver
from libprocess import Node
from master import MasterFlags, MasterHandle, run_master
from tests.e2e.cluster import get_json
from zmesos.protocol import (
    CommandInfo,
    ExecutorInfo,
    ExecutorType,
    Filters,
    FrameworkInfo,
    Offer,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from zmesos.resources import Resources

pytestmark = pytest.mark.timeout(90)

EXECUTOR = ExecutorInfo(
    executor_id="pod",
    type=ExecutorType.DEFAULT,
    resources=tuple(Resources.parse("cpus:0.1;mem:32;disk:32").to_list()),
)


@contextlib.asynccontextmanager
async def master_and_agent(work_dir: Path) -> AsyncIterator[tuple[MasterHandle, AgentHandle]]:
    master = await run_master(MasterFlags(ip="127.0.0.1", port=0, allocation_interval=0.1))
    try:
        agent = await run_agent(
            AgentFlags(
                master=str(master.pid),
                ip="127.0.0.1",
                port=0,
                resources="cpus:2;mem:1024;disk:1024",
                work_dir=str(work_dir),
            )
        )
        try:
            yield master, agent
        finally:
            await agent.stop()
    finally:
        await master.stop()


class GroupScheduler(Scheduler):
    """Launches one group of `commands` (task id -> shell command) on the first offer."""

    def __init__(self, commands: dict[str, str]) -> None:
        self.commands = commands
        self.launched = False
        self.states: dict[str, list[TaskState]] = {task_id: [] for task_id in commands}
        self.statuses: list[TaskStatus] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            if self.launched:
                driver.decline(offer.id, Filters(refuse_seconds=60))
                continue
            self.launched = True
            tasks = [
                TaskInfo(
                    name=task_id,
                    task_id=task_id,
                    agent_id=offer.agent_id,
                    resources=tuple(Resources.parse("cpus:0.1;mem:32").to_list()),
                    command=CommandInfo(value=command),
                )
                for task_id, command in self.commands.items()
            ]
            driver.launch_group([offer.id], EXECUTOR, tasks)

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        self.statuses.append(status)
        self.states[status.task_id].append(status.state)
        ended = all(states and states[-1].terminal for states in self.states.values())
        if ended and not self.done.done():
            self.done.set_result(None)


async def _run(master: MasterHandle, scheduler: GroupScheduler, node: Node) -> SchedulerDriver:
    driver = SchedulerDriver(
        scheduler,
        FrameworkInfo(user=getpass.getuser(), name="groups"),
        str(master.pid),
        registration_backoff=(0.2, 1.0),
    )
    node.spawn(driver)
    await asyncio.wait_for(scheduler.done, 60)
    return driver


async def test_task_group_runs_through_the_actor_api_and_shows_in_state(tmp_path):
    commands = {"web": "sleep 1", "sidecar": "sleep 1", "init": "echo ready"}
    async with master_and_agent(tmp_path) as (master, agent), Node() as node:
        scheduler = GroupScheduler(commands)
        running = _states_seen(scheduler, TaskState.RUNNING)
        driver_task = asyncio.ensure_future(_run(master, scheduler, node))
        await asyncio.wait_for(running, 30)
        state: dict[str, Any] = await get_json(f"{master.http.url}/state")
        [framework] = state["frameworks"]
        shown = [*framework["tasks"], *framework["completed_tasks"]]
        assert {t["id"]: t["executor_id"] for t in shown} == dict.fromkeys(commands, "pod")
        assert [e["type"] for e in framework["executors"]] == ["DEFAULT"]
        agent_state = await get_json(f"{agent.http.url}/state")
        [executor] = agent_state["frameworks"][0]["executors"]
        assert executor["id"] == "pod" and executor["type"] == "DEFAULT"
        assert len(executor["tasks"]) + len(executor["completed_tasks"]) == 3
        driver = await driver_task
        driver.stop()
    for task_id in commands:
        assert scheduler.states[task_id] == [
            TaskState.STARTING,
            TaskState.RUNNING,
            TaskState.FINISHED,
        ]
    [stdout] = tmp_path.glob("agents/*/frameworks/*/executors/pod/runs/latest/tasks/init/stdout")
    assert stdout.read_text() == "ready\n"


def _states_seen(scheduler: GroupScheduler, state: TaskState) -> asyncio.Future[None]:
    """Resolves once every task of the group has reported `state`."""

    async def wait() -> None:
        while not all(state in states for states in scheduler.states.values()):
            await asyncio.sleep(0.05)

    return asyncio.ensure_future(wait())
