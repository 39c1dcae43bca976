"""A scheduler that runs one task group to its end (`zmesos execute --task-group`).

The group is launched, all or none, on the first offer that holds its tasks and
its executor's resources (each task gets that offer's agent id); other offers
are declined. `done` resolves once every task of the group is terminal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import msgspec

from frameworks.scheduler import Scheduler, SchedulerDriver
from zmesos.protocol import ExecutorInfo, Filters, Offer, TaskInfo, TaskStatus
from zmesos.resources import Resources

__all__ = ["GroupScheduler"]


class GroupScheduler(Scheduler):
    """Launches `tasks` as one group on `executor`; `statuses` holds each task's updates.

    `on_update(status, hostname)` is called for every status update (for printing).
    """

    def __init__(
        self,
        executor: ExecutorInfo,
        tasks: Sequence[TaskInfo],
        *,
        on_update: Callable[[TaskStatus, str], None] | None = None,
        refuse_seconds: float = 5.0,
    ) -> None:
        self.executor = executor
        self.tasks = tuple(tasks)
        self.needs = Resources.from_list(executor.resources) + sum(
            (Resources.from_list(task.resources) for task in self.tasks), Resources()
        )
        self.statuses: dict[str, list[TaskStatus]] = {task.task_id: [] for task in self.tasks}
        self.hostname = ""
        self.launched = False
        self._on_update = on_update
        self._filters = Filters(refuse_seconds=refuse_seconds)
        self.done: asyncio.Future[dict[str, list[TaskStatus]]] = (
            asyncio.get_event_loop().create_future()
        )

    def final(self, task_id: str) -> TaskStatus | None:
        """The task's terminal status, once it has one."""
        updates = self.statuses.get(task_id) or []
        return updates[-1] if updates and updates[-1].state.terminal else None

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            if self.launched or not Resources.from_list(offer.resources).contains(self.needs):
                driver.decline(offer.id, self._filters)
                continue
            self.launched = True
            self.hostname = offer.hostname
            tasks = [msgspec.structs.replace(task, agent_id=offer.agent_id) for task in self.tasks]
            driver.launch_group([offer.id], self.executor, tasks, self._filters)
        if self.launched:
            driver.suppress()

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        updates = self.statuses.get(status.task_id)
        if updates is None or (updates and updates[-1].state.terminal):
            return
        updates.append(status)
        if self._on_update is not None:
            self._on_update(status, self.hostname)
        if all(self.final(task.task_id) for task in self.tasks) and not self.done.done():
            self.done.set_result(self.statuses)

    def error(self, driver: SchedulerDriver, message: str) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError(f"framework error: {message}"))
