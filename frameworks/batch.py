"""A scheduler that runs a list of shell commands to completion, packing offers greedily.

The shipped example frameworks, `zmesos execute` and the cluster benchmark all
run on it. Each command becomes one command task; tasks are launched as offers
allow, in list order, and the scheduler is done once every task is terminal.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Callable, Iterable

from frameworks.scheduler import Scheduler, SchedulerDriver
from zmesos.protocol import CommandInfo, Filters, Offer, TaskInfo, TaskState, TaskStatus
from zmesos.resources import Resources


@dataclasses.dataclass(frozen=True)
class Command:
    """One task to run: a shell command and the resources it needs."""

    task_id: str
    command: str
    resources: Resources
    name: str = ""


@dataclasses.dataclass
class TaskRecord:
    """What happened to one task: where it ran, its states, and when."""

    command: Command
    agent_id: str = ""
    hostname: str = ""
    launched_at: float | None = None
    running_at: float | None = None
    finished_at: float | None = None
    state: TaskState | None = None
    message: str = ""

    @property
    def launch_to_running(self) -> float | None:
        if self.launched_at is None or self.running_at is None:
            return None
        return self.running_at - self.launched_at


class BatchScheduler(Scheduler):
    """Runs `commands` once each; `done` resolves with the records when all are terminal.

    `on_update(record, status)` is called for every status update (for printing).
    Unused offers are declined for `refuse_seconds`; once nothing is left to
    launch the scheduler suppresses offers.
    """

    def __init__(
        self,
        commands: Iterable[Command],
        *,
        on_update: Callable[[TaskRecord, TaskStatus], None] | None = None,
        refuse_seconds: float = 5.0,
    ) -> None:
        self.records = {command.task_id: TaskRecord(command) for command in commands}
        self._pending = collections.deque(record.command for record in self.records.values())
        self._remaining = len(self.records)
        self._on_update = on_update
        self._filters = Filters(refuse_seconds=refuse_seconds)
        self.done: asyncio.Future[dict[str, TaskRecord]] = asyncio.get_event_loop().create_future()
        if not self.records:
            self.done.set_result(self.records)

    @property
    def succeeded(self) -> bool:
        return all(record.state == TaskState.FINISHED for record in self.records.values())

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            tasks = self._pack(offer)
            if tasks:
                driver.launch_tasks([offer.id], tasks, self._filters)
            else:
                driver.decline(offer.id, self._filters)
        if not self._pending:
            driver.suppress()

    def _pack(self, offer: Offer) -> list[TaskInfo]:
        available = Resources.from_list(offer.resources)
        tasks: list[TaskInfo] = []
        now = time.monotonic()
        while self._pending and available.contains(self._pending[0].resources):
            command = self._pending.popleft()
            available = available - command.resources
            record = self.records[command.task_id]
            record.agent_id, record.hostname, record.launched_at = (
                offer.agent_id,
                offer.hostname,
                now,
            )
            tasks.append(
                TaskInfo(
                    name=command.name or command.task_id,
                    task_id=command.task_id,
                    agent_id=offer.agent_id,
                    resources=tuple(command.resources.to_list()),
                    command=CommandInfo(value=command.command),
                )
            )
        return tasks

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        record = self.records.get(status.task_id)
        if record is None or (record.state is not None and record.state.terminal):
            return
        record.state, record.message = status.state, status.message
        if status.state == TaskState.RUNNING and record.running_at is None:
            record.running_at = time.monotonic()
        if self._on_update is not None:
            self._on_update(record, status)
        if status.state.terminal:
            record.finished_at = time.monotonic()
            self._remaining -= 1
            if self._remaining == 0 and not self.done.done():
                self.done.set_result(self.records)

    def error(self, driver: SchedulerDriver, message: str) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError(f"framework error: {message}"))
