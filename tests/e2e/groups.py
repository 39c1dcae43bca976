"""What the task group tests share: a real master and agent in this process (executors are
OS processes), and a scheduler that launches one group on the default executor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from agent import AgentFlags, run_agent
from agent.runner import AgentHandle
from frameworks import Scheduler, SchedulerDriver
from master import MasterFlags, MasterHandle, run_master
from zmesos.protocol import (
    CommandInfo,
    ExecutorInfo,
    ExecutorType,
    Filters,
    Offer,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from zmesos.resources import Resources

POD = ExecutorInfo(
    executor_id="pod",
    type=ExecutorType.DEFAULT,
    resources=tuple(Resources.parse("cpus:0.1;mem:32;disk:32").to_list()),
)


class GroupScheduler(Scheduler):
    """Launches one group of `commands` (task id -> shell command) on `POD` with the first
    offer (later ones are declined); records each task's states and every status."""

    def __init__(self, commands: dict[str, str]) -> None:
        self.commands = commands
        self.launched = False
        self.states: dict[str, list[TaskState]] = {task_id: [] for task_id in commands}
        self.statuses: list[TaskStatus] = []
        self.changed = asyncio.Event()

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
            driver.launch_group([offer.id], POD, tasks)

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        self.statuses.append(status)
        self.states[status.task_id].append(status.state)
        self.changed.set()

    def final(self, task_id: str) -> TaskStatus:
        return [status for status in self.statuses if status.task_id == task_id][-1]

    def all_reached(self, state: TaskState) -> bool:
        return all(state in states for states in self.states.values())

    def all_ended(self) -> bool:
        return all(states and states[-1].terminal for states in self.states.values())

    async def until(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


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
