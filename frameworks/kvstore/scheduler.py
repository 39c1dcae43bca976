"""The key-value framework's scheduler: reserve, create the volume, run the service on it, forever.

On the first offer with room it sends one Accept: RESERVE (cpus, mem, disk
for its role), CREATE (the volume, `persistence_id` at container path
`data`), LAUNCH (the service, on a port from the offer). From then on it
launches the service whenever its volume is offered: a volume that is not
shared is offered only while no task uses it, so an offer holding it means the
last task ended (finished, failed, killed, its executor or agent died) and the
service must come back, on the same agent, with the same data.

`running` yields `(task_id, host, port)` each time a launch reaches
TASK_RUNNING; `events` records what happened, for people and tests.
"""

from __future__ import annotations

import asyncio
import itertools
import shlex
import sys
import time
from collections.abc import Callable

from frameworks.scheduler import Scheduler, SchedulerDriver
from zmesos.protocol import (
    CommandInfo,
    Filters,
    FrameworkInfo,
    Offer,
    Operation,
    OperationType,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from zmesos.resources import DYNAMIC, DiskInfo, ReservationInfo, Resource, Resources

__all__ = ["KeyValueScheduler"]

CONTAINER_PATH = "data"
MAX_BACKOFF = 30.0  # seconds between relaunches of a service that keeps failing


class KeyValueScheduler(Scheduler):
    """Keeps one key-value service running on its persistent volume (see the module docstring)."""

    def __init__(
        self,
        *,
        role: str = "kv",
        principal: str = "kv",
        persistence_id: str = "kv-data",
        cpus: float = 0.1,
        mem: float = 64,
        disk: float = 64,
        python: str = sys.executable,
        bind: str = "127.0.0.1",
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.role = role
        self.principal = principal
        self.persistence_id = persistence_id
        self.python = python
        self.bind = bind  # the service's --host; 0.0.0.0 serves on the agent's hostname
        self.on_event = on_event
        reservation = ReservationInfo(DYNAMIC, role, principal)
        self.plain = Resources.parse(f"cpus:{cpus};mem:{mem};disk:{disk}")
        self.reserved = self.plain.pushed(reservation)
        self.volume = Resource(
            "disk",
            "SCALAR",
            scalar=disk,
            reservations=(reservation,),
            disk=DiskInfo(
                persistence_id=persistence_id, principal=principal, container_path=CONTAINER_PATH
            ),
        )
        self.created = False  # the first Accept (reserve, create, launch) went out
        self.running: asyncio.Queue[tuple[str, str, int]] = asyncio.Queue()
        self.events: list[str] = []
        self.launches = 0
        self._numbers = itertools.count(1)
        self._endpoints: dict[str, tuple[str, int]] = {}
        # A service that keeps failing is relaunched after a doubling pause, not in a loop.
        self._backoff = 0.0
        self._relaunch_after = 0.0

    def framework_info(self, user: str, name: str = "kvstore") -> FrameworkInfo:
        # Checkpointing: the service outlives a restart of its agent, not only its data.
        return FrameworkInfo(
            user=user, name=name, roles=(self.role,), principal=self.principal, checkpoint=True
        )

    def _event(self, text: str) -> None:
        self.events.append(text)
        if self.on_event is not None:
            self.on_event(text)

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        now = time.monotonic()
        for offer in offers:
            resources = Resources(offer.resources)
            port = _first_port(resources)
            if now < self._relaunch_after:
                driver.decline(offer.id, Filters(refuse_seconds=self._relaunch_after - now))
            elif resources.contains(self.volume) and port is not None:
                self._launch(driver, offer, port, first=False)
            elif not self.created and port is not None and resources.contains(self.plain):
                self.created = True
                self._launch(driver, offer, port, first=True)
            else:
                driver.decline(offer.id, Filters(refuse_seconds=1.0))

    def _launch(self, driver: SchedulerDriver, offer: Offer, port: int, *, first: bool) -> None:
        task_id = f"kv-{next(self._numbers)}"
        argv = [self.python, "-m", "frameworks.kvstore.service"]
        command = shlex.join(
            [*argv, "--host", self.bind, "--port", str(port), "--data", CONTAINER_PATH]
        )
        task_resources = (
            self.reserved.filter(lambda r: r.name != "disk")
            + Resources((self.volume,))
            + Resources.parse(f"ports:[{port}-{port}]")
        )
        task = TaskInfo(
            name="kvstore",
            task_id=task_id,
            agent_id=offer.agent_id,
            resources=tuple(task_resources.to_list()),
            command=CommandInfo(value=command),
        )
        operations = [Operation(type=OperationType.LAUNCH, tasks=(task,))]
        if first:
            operations[:0] = [
                Operation(type=OperationType.RESERVE, resources=tuple(self.reserved.to_list())),
                Operation(type=OperationType.CREATE, resources=(self.volume,)),
            ]
        host = offer.hostname if self.bind == "0.0.0.0" else self.bind
        self._endpoints[task_id] = (host, port)
        self.launches += 1
        what = "reserving, creating volume, launching" if first else "relaunching on the volume"
        self._event(f"{what} {task_id} on {offer.hostname}:{port}")
        driver.accept([offer.id], operations, Filters(refuse_seconds=1.0))

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        endpoint = self._endpoints.get(status.task_id)
        if endpoint is None:
            return
        if status.state == TaskState.RUNNING:
            self._event(f"{status.task_id} running")
            self._backoff = 0.0
            self.running.put_nowait((status.task_id, *endpoint))
        elif status.state.terminal:
            self._endpoints.pop(status.task_id, None)
            detail = f": {status.message}" if status.message else ""
            self._event(f"{status.task_id} {status.state.value}{detail}")
            if status.state != TaskState.KILLED:
                self._backoff = min(max(self._backoff * 2, 0.5), MAX_BACKOFF)
                self._relaunch_after = time.monotonic() + self._backoff
            if status.state in (TaskState.ERROR, TaskState.DROPPED) and self.launches == 1:
                self.created = False  # the first Accept failed: try again on another offer


def _first_port(resources: Resources) -> int | None:
    ports = resources.ports
    return ports[0][0] if ports else None
