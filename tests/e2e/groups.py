"""What the task group tests share: a real master and agent in this process (executors are
OS processes), and a scheduler that launches one group on the default executor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from agent import AgentFlags, run_agent
from agent.runner import AgentHandle
from frameworks import SchedulerDriver
from frameworks.group import GroupScheduler as GroupLauncher
from master import MasterFlags, MasterHandle, run_master
from zmesos.protocol import (
    CommandInfo,
    ExecutorInfo,
    ExecutorType,
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


class GroupScheduler(GroupLauncher):
    """Launches one group of `commands` (task id -> shell command) on `POD`
    (frameworks.group), and lets a test wait on what it hears."""

    def __init__(self, commands: dict[str, str]) -> None:
        tasks = [
            TaskInfo(
                name=task_id,
                task_id=task_id,
                agent_id="",  # the offer's, at launch
                resources=tuple(Resources.parse("cpus:0.1;mem:32").to_list()),
                command=CommandInfo(value=command),
            )
            for task_id, command in commands.items()
        ]
        super().__init__(POD, tasks, refuse_seconds=60)
        self.changed = asyncio.Event()

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        super().status_update(driver, status)
        self.changed.set()

    @property
    def states(self) -> dict[str, list[TaskState]]:
        return {
            task_id: [status.state for status in updates]
            for task_id, updates in self.statuses.items()
        }

    def last(self, task_id: str) -> TaskStatus:
        return self.statuses[task_id][-1]

    def all_reached(self, state: TaskState) -> bool:
        return all(state in states for states in self.states.values())

    def all_ended(self) -> bool:
        return all(self.final(task_id) for task_id in self.statuses)

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
