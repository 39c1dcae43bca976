"""The allocator actor: drives the pure hierarchical DRF allocator on the master's node.

The master tells it of every change (frameworks, agents, recovered resources,
suppress/revive) by `dispatch`, so each change is one event in this actor's
mailbox, applied in the order the master made it. Allocation runs every
`allocation_interval` and after the events that can make an offer possible;
such runs are coalesced: a burst of events already queued is followed by one
run, not one per event (Mesos's allocator does the same with a pending flag).

Each run's allocations go back to the master as one `dispatch` of
`receive_allocations(allocations)`, where they become offers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

from libprocess import PID, Process, Timer, clock
from master.allocator import HierarchicalAllocator
from master.allocator.metrics import CycleTimes
from zmesos.protocol import FrameworkInfo
from zmesos.resources import Resources

__all__ = ["AllocatorProcess", "min_allocatable_of"]


class AllocatorProcess(Process):
    """Owns a `HierarchicalAllocator`; every public method is meant to be dispatched.

    `receive`: the method name (dispatched on `master`) that takes a list of
    allocations. Methods that can make offers possible request a run.
    """

    def __init__(
        self,
        master: PID,
        allocation_interval: float = 1.0,
        *,
        allocator: HierarchicalAllocator | None = None,
        receive: str = "receive_allocations",
        name: str = "allocator",
    ) -> None:
        super().__init__(name)
        self.master = master
        self.allocation_interval = allocation_interval
        self.allocator = allocator if allocator is not None else HierarchicalAllocator()
        self.receive = receive
        self.runs = 0
        self.cycle_times = CycleTimes()  # wall-clock time of each run
        self._run_pending = False
        # The pending run's agents: None for all of them, else only these (see request_allocation).
        self._run_agents: set[str] | None = set()
        self._tick: Timer | None = None

    def initialize(self) -> None:
        self._tick = self.delay(self.allocation_interval, self._periodic)

    # -- frameworks ----------------------------------------------------------------

    def add_framework(
        self,
        framework_id: str,
        roles: Iterable[str],
        used: Mapping[str, Resources],
        active: bool,
        info: FrameworkInfo | None = None,
    ) -> None:
        """A framework joined (or was recovered from re-registering agents, inactive).

        `info`: its FrameworkInfo, for the capabilities and offer filters the
        allocator honours.
        """
        self.allocator.add_framework(
            framework_id,
            tuple(roles),
            used=dict(used),
            active=active,
            capabilities=info.capabilities if info is not None else (),
            min_allocatable=min_allocatable_of(info) if info is not None else None,
        )
        if active:
            self.request_allocation()

    def remove_framework(self, framework_id: str) -> None:
        """Forget a framework and everything allocated to it; what it held is offered in the
        next periodic run (see recover_resources)."""
        self.allocator.remove_framework(framework_id)

    def activate_framework(self, framework_id: str) -> None:
        self.allocator.activate_framework(framework_id)
        self.request_allocation()

    def deactivate_framework(self, framework_id: str) -> None:
        self.allocator.deactivate_framework(framework_id)

    def update_framework(
        self, framework_id: str, roles: Iterable[str], info: FrameworkInfo | None = None
    ) -> None:
        """New roles; with `info`, new capabilities and offer filters as well."""
        self.allocator.update_framework(
            framework_id,
            tuple(roles),
            capabilities=info.capabilities if info is not None else None,
            min_allocatable=min_allocatable_of(info) if info is not None else None,
        )
        self.request_allocation()

    def suppress(self, framework_id: str, roles: Iterable[str]) -> None:
        self.allocator.suppress(framework_id, tuple(roles))

    def revive(self, framework_id: str, roles: Iterable[str]) -> None:
        self.allocator.revive(framework_id, tuple(roles), now=clock.now())
        self.request_allocation()

    # -- agents --------------------------------------------------------------------

    def add_agent(self, agent_id: str, total: Resources, used: Mapping[str, Resources]) -> None:
        self.allocator.add_agent(agent_id, total, used=dict(used))
        self.request_allocation(agent_id)

    def remove_agent(self, agent_id: str) -> None:
        self.allocator.remove_agent(agent_id)

    def activate_agent(self, agent_id: str) -> None:
        self.allocator.activate_agent(agent_id)
        self.request_allocation(agent_id)

    def deactivate_agent(self, agent_id: str) -> None:
        self.allocator.deactivate_agent(agent_id)

    def update_agent_total(self, agent_id: str, total: Resources) -> None:
        self.allocator.update_agent_total(agent_id, total)
        self.request_allocation(agent_id)

    # -- weights and quota ---------------------------------------------------------

    def set_weight(self, role: str, weight: float) -> None:
        self.allocator.set_weight(role, weight)
        self.request_allocation()

    def set_quota(
        self, role: str, guarantee: Mapping[str, float], limit: Mapping[str, float]
    ) -> None:
        self.allocator.set_quota(role, guarantee=dict(guarantee), limit=dict(limit))
        self.request_allocation()

    def remove_quota(self, role: str) -> None:
        self.allocator.remove_quota(role)
        self.request_allocation()

    # -- resources -----------------------------------------------------------------

    def recover_resources(
        self,
        framework_id: str,
        agent_id: str,
        resources: Resources,
        refuse_seconds: float = 0.0,
        role: str | None = None,
    ) -> None:
        """Resources of an offer or a task come back; `refuse_seconds` > 0 installs a filter.

        `role`: the offer's role, when known (else the allocator infers it).
        They are offered again in the next periodic run, not at once, as in Mesos
        (MESOS-3078): a run after each declined offer or finished task makes many
        small offers, and each costs the framework a call to answer.
        """
        self.allocator.recover_resources(
            framework_id,
            agent_id,
            resources,
            refuse_seconds=refuse_seconds,
            now=clock.now(),
            role=role,
        )

    def update_allocation(
        self,
        framework_id: str,
        agent_id: str,
        consumed: Resources,
        converted: Resources,
        role: str | None = None,
    ) -> None:
        """An accepted resource operation turned held `consumed` into `converted`."""
        self.allocator.update_allocation(framework_id, agent_id, consumed, converted, role=role)

    # -- running -------------------------------------------------------------------

    def request_allocation(self, agent_id: str | None = None) -> None:
        """Ask for one run soon; requests made before it starts share it.

        `agent_id`: only that agent changed (resources came back on it, it
        joined): the run need only visit the agents named, as Mesos's
        allocator does on such events. Any request without one makes the run
        visit every agent. On a 1,000-agent cluster fed by a v1 framework's
        calls, one at a time, full runs after each recovered offer took most of
        the master's time; the periodic run still visits every agent.
        """
        if agent_id is None:
            self._run_agents = None
        elif self._run_agents is not None:
            self._run_agents.add(agent_id)
        if self._run_pending:
            return
        self._run_pending = True
        _log_failure(self, self.node.dispatch(self.pid, AllocatorProcess._run_requested))

    def _run_requested(self) -> None:
        self._run_pending = False
        agents, self._run_agents = self._run_agents, set()
        self._allocate(agents, batch=False)

    def _periodic(self) -> None:
        self._tick = self.delay(self.allocation_interval, self._periodic)
        self._allocate(batch=True)

    def _allocate(self, agent_ids: set[str] | None = None, *, batch: bool) -> None:
        """One run over every agent, or over `agent_ids`; `batch` for the periodic
        one (decline filters wait for it, MESOS-4302)."""
        self.runs += 1
        started = time.perf_counter()
        allocations = self.allocator.allocate(clock.now(), agent_ids, batch=batch)
        self.cycle_times.record(time.perf_counter() - started)
        if allocations:
            self.log.debug("allocated", offers=len(allocations))
            _log_failure(self, self.node.dispatch(self.master, self.receive, list(allocations)))

    def allocate_now(self) -> None:
        """Run once now, as a batch (tests and operators)."""
        self._allocate(batch=True)

    def metrics(self) -> dict[str, float]:
        """`allocator/...` metrics for the operator HTTP (read by dispatch)."""
        snapshot: dict[str, float] = {}
        for name, value in self.allocator.metrics_snapshot().items():
            if isinstance(value, dict):
                for key, amount in value.items():
                    snapshot[f"allocator/{name}/{key}"] = float(amount)
            elif isinstance(value, int | float):
                snapshot[f"allocator/{name}"] = float(value)
        # Mesos's timer of one allocation run, in milliseconds.
        times = self.cycle_times
        snapshot["allocator/mesos/allocation_run_ms"] = times.last * 1000.0
        snapshot["allocator/mesos/allocation_run_ms/count"] = float(times.count)
        snapshot["allocator/mesos/allocation_run_ms/max"] = times.longest * 1000.0
        snapshot["allocator/mesos/allocation_run_ms/mean"] = (
            times.total / times.count * 1000.0 if times.count else 0.0
        )
        return snapshot

    def cycle_histogram(self) -> CycleTimes:
        """A copy of the run time histogram, for /metrics (read by dispatch)."""
        times = self.cycle_times
        return CycleTimes(list(times.counts), times.total, times.count, times.last, times.longest)


def min_allocatable_of(info: FrameworkInfo) -> dict[str, list[dict[str, float]]]:
    """role -> the framework's own minimum allocatable there, from its offer filters."""
    return {
        role: [dict(quantities) for quantities in filters.min_allocatable_resources.quantities]
        for role, filters in info.offer_filters.items()
        if filters.min_allocatable_resources is not None
    }


def _log_failure(process: Process, future: asyncio.Future[Any]) -> None:
    """Dispatches we do not await: log what they raised instead of losing it."""

    def done(result: asyncio.Future[Any]) -> None:
        if result.cancelled():
            return
        error = result.exception()
        if error is not None:
            process.log.error("dispatch_failed", error=repr(error))

    future.add_done_callback(done)
