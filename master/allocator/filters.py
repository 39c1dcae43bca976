"""Offer filters: "do not offer me these resources on this agent for N seconds".

A decline (or the unused part of an accept) with `refuse_seconds > 0` installs
a filter for one (framework, role, agent). While it lasts, an offer of
resources *contained in* the refused ones is withheld; more resources (a task
ended there) pass, as in Mesos's RefusedOfferFilter. Filters expire on the
allocator's clock: the `now` the caller passes in, never the wall clock.

A filter lasts until its time is up *and* at least one batch allocation (the
periodic run over the whole cluster) has run since it was installed
(MESOS-4302): a framework that declines for less than the allocation interval
is not offered the same agent again at the very next batch, ahead of the
others. Runs made after events are not batches. `batches` counts the batch
runs completed; a filter remembers the count it was installed at.

Indexed by agent, then role, then framework, so the allocation loop asks one
dict per agent and one per (role, framework) it actually considers: a filtered
pair costs a dict lookup and, when the offer is the very object that was
declined (the usual case: nothing changed on the agent), an identity check.
A second index by framework makes revive and framework removal cost what the
framework has filtered, not the size of the cluster. Expired filters are
dropped lazily on lookup and in bulk from a heap by `expire`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

import msgspec

from zmesos.resources import Resources

__all__ = ["OfferFilter", "OfferFilters"]


class OfferFilter(msgspec.Struct, frozen=True, gc=False):
    """One refusal: these resources, until `expires` (allocator clock seconds)
    and a batch allocation after `batch` (the batch count when installed).

    Untracked by the cyclic GC, like `Allocation`: one exists per declined pair.
    """

    resources: Resources
    expires: float
    batch: int = 0

    def in_force(self, now: float, batches: int) -> bool:
        """Whether the filter still holds at `now`, after `batches` batch runs."""
        return self.expires > now or self.batch == batches

    def refuses(self, offer: Resources, now: float, batches: int) -> bool:
        """Whether `offer` falls under this filter at `now`, after `batches` batch runs."""
        if self.expires <= now and self.batch != batches:
            return False
        refused = self.resources
        return offer is refused or refused.contains(offer)


# agent id -> role -> framework id -> filter
AgentFilters = dict[str, dict[str, OfferFilter]]


class OfferFilters:
    """Every live filter, by agent and by framework."""

    __slots__ = (
        "_awaiting_batch",
        "_by_agent",
        "_by_framework",
        "_count",
        "_expiry",
        "_versions",
        "batches",
    )

    def __init__(self) -> None:
        self._by_agent: dict[str, AgentFilters] = {}
        self._by_framework: dict[str, set[tuple[str, str]]] = {}
        # (expires, agent, role, framework); may hold entries of replaced or revived filters.
        self._expiry: list[tuple[float, str, str, str]] = []
        self._count = 0
        # agent id -> bumped whenever a filter on that agent is added, replaced or dropped
        self._versions: dict[str, int] = {}
        # Heap entries past their time whose filter has not seen a batch yet.
        self._awaiting_batch: list[tuple[float, str, str, str]] = []
        # Batch allocations completed (see the module docstring).
        self.batches = 0

    def __len__(self) -> int:
        return self._count

    def add(
        self, framework_id: str, role: str, agent_id: str, resources: Resources, expires: float
    ) -> None:
        """Install (or replace) the filter of one (framework, role, agent)."""
        by_role = self._by_agent.get(agent_id)
        if by_role is None:
            by_role = self._by_agent[agent_id] = {}
        by_framework = by_role.get(role)
        if by_framework is None:
            by_framework = by_role[role] = {}
        if framework_id not in by_framework:
            self._count += 1
        self._versions[agent_id] = self._versions.get(agent_id, 0) + 1
        by_framework[framework_id] = OfferFilter(resources, expires, self.batches)
        pairs = self._by_framework.get(framework_id)
        if pairs is None:
            pairs = self._by_framework[framework_id] = set()
        pairs.add((agent_id, role))
        expiry = self._expiry
        heapq.heappush(expiry, (expires, agent_id, role, framework_id))
        # Revives and replacements leave dead entries behind; with long filters they
        # would never pop, so rebuild the heap once it is mostly dead.
        if len(expiry) > 2 * self._count + 1024:
            self._compact()

    def version(self, agent_id: str) -> int:
        """Changes whenever the agent's filters change; lets callers cache "all filtered"."""
        return self._versions.get(agent_id, 0)

    def for_agent(self, agent_id: str) -> AgentFilters | None:
        """The agent's filters by role then framework, or None; for the allocation loop."""
        return self._by_agent.get(agent_id)

    def is_filtered(
        self, framework_id: str, role: str, agent_id: str, offer: Resources, now: float
    ) -> bool:
        by_role = self._by_agent.get(agent_id)
        if by_role is None:
            return False
        by_framework = by_role.get(role)
        if by_framework is None:
            return False
        refusal = by_framework.get(framework_id)
        return refusal is not None and refusal.refuses(offer, now, self.batches)

    def batch_done(self) -> None:
        """A batch allocation completed: filters installed before it may now expire."""
        self.batches += 1

    def next_expiry(self) -> float | None:
        """When the earliest filter's time is up (may be early: replaced filters
        linger; a filter past its time may still wait for a batch), or None."""
        times = [entry[0] for entry in self._awaiting_batch]
        if self._expiry:
            times.append(self._expiry[0][0])
        return min(times, default=None)

    def expire(self, now: float) -> int:
        """Drop filters no longer in force at `now`; returns how many.

        A filter past its time that has not seen a batch yet waits aside and
        goes at the first call after the next `batch_done`.
        """
        dropped = 0
        if self._awaiting_batch:
            waiting, self._awaiting_batch = self._awaiting_batch, []
            for entry in waiting:
                dropped += self._expire_entry(entry, now)
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            dropped += self._expire_entry(heapq.heappop(expiry), now)
        return dropped

    def _expire_entry(self, entry: tuple[float, str, str, str], now: float) -> int:
        expires, agent_id, role, framework_id = entry
        refusal = self._lookup(framework_id, role, agent_id)
        # A later filter may have replaced this one; only drop the one that expired.
        if refusal is None or refusal.expires != expires:
            return 0
        if refusal.in_force(now, self.batches):
            self._awaiting_batch.append(entry)
            return 0
        self._remove(framework_id, role, agent_id)
        return 1

    def remove_framework(self, framework_id: str, roles: Iterable[str] | None = None) -> None:
        """Clear a framework's filters, in every role or only in `roles` (revive)."""
        pairs = self._by_framework.get(framework_id)
        if not pairs:
            return
        wanted = None if roles is None else set(roles)
        for agent_id, role in list(pairs):
            if wanted is None or role in wanted:
                self._remove(framework_id, role, agent_id)

    def remove_agent(self, agent_id: str) -> None:
        self._versions.pop(agent_id, None)
        by_role = self._by_agent.pop(agent_id, None)
        if not by_role:
            return
        for role, by_framework in by_role.items():
            self._count -= len(by_framework)
            for framework_id in by_framework:
                pairs = self._by_framework.get(framework_id)
                if pairs is not None:
                    pairs.discard((agent_id, role))
                    if not pairs:
                        del self._by_framework[framework_id]

    def _compact(self) -> None:
        self._expiry = [
            (refusal.expires, agent_id, role, framework_id)
            for agent_id, by_role in self._by_agent.items()
            for role, by_framework in by_role.items()
            for framework_id, refusal in by_framework.items()
        ]
        heapq.heapify(self._expiry)

    def _lookup(self, framework_id: str, role: str, agent_id: str) -> OfferFilter | None:
        by_role = self._by_agent.get(agent_id)
        if by_role is None:
            return None
        by_framework = by_role.get(role)
        return None if by_framework is None else by_framework.get(framework_id)

    def _remove(self, framework_id: str, role: str, agent_id: str) -> None:
        self._versions[agent_id] = self._versions.get(agent_id, 0) + 1
        by_role = self._by_agent.get(agent_id)
        if by_role is not None:
            by_framework = by_role.get(role)
            if by_framework is not None:
                if by_framework.pop(framework_id, None) is not None:
                    self._count -= 1
                if not by_framework:
                    del by_role[role]
            if not by_role:
                del self._by_agent[agent_id]
        pairs = self._by_framework.get(framework_id)
        if pairs is not None:
            pairs.discard((agent_id, role))
            if not pairs:
                del self._by_framework[framework_id]
