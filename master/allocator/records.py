"""What the allocator remembers of each agent and each framework.

An agent keeps its total, what is still available (as `Resources` for offers
and as scalar quantities for the loop's cheap checks) and what each framework
holds there per role. Shared resources (shared persistent volumes) stay
available while held, as in Mesos: available is then the non-shared part of
total minus what is held, plus one copy of each shared resource not offered
yet in the running cycle (`shared_offered`; each goes to one offer a cycle).

A framework keeps its roles, which are suppressed, whether it is active, its
allocation per role as quantities (the very dicts its role's sorter orders it
by) and the agents where it holds something.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import msgspec

from master.allocator._resources import (
    EMPTY,
    reservation_quantities,
    reserved_scalar_quantities,
    scalar_quantities,
    unreserved_scalar_quantities,
)
from master.allocator.errors import AccountingError
from master.allocator.quantities import Quantities, Requirements, add_into, subtract_from
from zmesos.resources import Resources

__all__ = ["Allocation", "AllocatorAgent", "AllocatorFramework"]

# The shared amounts of agents without shared resources (read-only).
_NO_AMOUNTS: Mapping[str, float] = MappingProxyType({})


class Allocation(msgspec.Struct, frozen=True, gc=False):
    """Resources of one agent offered to one framework for one role.

    Not tracked by the cyclic GC (it cannot be part of a cycle): a cycle makes
    one per offer, tens of thousands on a big cluster, and tracked objects
    make Python's full collections, which scan every live object, come often.
    """

    framework_id: str
    agent_id: str
    role: str
    resources: Resources


class AllocatorAgent:
    """One agent's resources and who holds them."""

    __slots__ = (
        "active",
        "allocations",
        "available",
        "available_amounts",
        "free",
        "has_shared",
        "holders",
        "id",
        "refused_by_all",
        "reservations",
        "shared",
        "shared_amounts",
        "shared_offered",
        "split",
        "total",
        "total_amounts",
        "whole",
        "whole_amounts",
    )

    def __init__(self, agent_id: str, total: Resources, *, active: bool) -> None:
        self.id = agent_id
        self.active = active
        self.total = total
        self.total_amounts = scalar_quantities(total)
        # Reserved scalar amounts by role, from the total (allocated or not).
        self.reservations: dict[str, Quantities] = reservation_quantities(total)
        self.available = total
        self.available_amounts = dict(self.total_amounts)
        # One copy of each shared resource of the total, and those offered this cycle;
        # with any, `free` is the non-shared part of available, kept as it changes.
        self.shared = EMPTY
        self.shared_amounts: Mapping[str, float] = _NO_AMOUNTS
        self.has_shared = False
        self._read_shared()
        self.shared_offered = EMPTY
        self.free = total.non_shared() if self.has_shared else EMPTY
        # (framework id, role) -> what that framework holds here in that role.
        # One flat dict per agent, not a dict per framework: an offer then
        # creates no container the cyclic GC must track (its key tuple holds
        # only strings), which keeps full collections rare on big clusters.
        self.allocations: dict[tuple[str, str], Resources] = {}
        # framework id -> in how many roles it holds something here
        self.holders: dict[str, int] = {}
        # role -> proof that every offerable framework of the role filters this
        # agent's available resources: (available, role membership version,
        # filters version, until). Valid while all four still hold.
        self.refused_by_all: dict[str, tuple[Resources, int, int, float]] = {}
        # The last `reserved_split` asked for: (resources, unreserved, reserved).
        self.split: tuple[Resources, Quantities, Quantities] | None = None
        # The last available handed out whole by `take`, and its scalar amounts
        # (two slots, not a tuple: a tuple per offer would feed the cyclic GC).
        self.whole: Resources | None = None
        self.whole_amounts: Quantities | None = None

    def _read_shared(self) -> None:
        """`shared`, `shared_amounts` and `has_shared`, from the total."""
        shared = self.total.shared()
        # Asked at every offer and decline: a bool, not a `Resources.__bool__` call.
        self.has_shared = bool(shared)
        # Agents without any (most) share one empty collection and mapping: a
        # collection and two dicts fewer per agent.
        self.shared = shared if self.has_shared else EMPTY
        self.shared_amounts = scalar_quantities(shared) if self.has_shared else _NO_AMOUNTS

    def reserved_split(self, resources: Resources) -> tuple[Quantities, Quantities]:
        """Scalar amounts of `resources` as (unreserved, reserved); read-only dicts.

        Remembered for the last `resources` object asked about: an agent offered
        whole and declined comes back as that very object (`take`, `give_back`),
        so an agent with reservations or volumes splits its resources once, not
        at every offer and every decline (volume benchmark: see benchmarks.allocator).
        """
        split = self.split
        if split is not None and split[0] is resources:
            return split[1], split[2]
        unreserved = unreserved_scalar_quantities(resources)
        reserved = reserved_scalar_quantities(resources)
        self.split = (resources, unreserved, reserved)
        return unreserved, reserved

    def amounts_of(self, resources: Resources) -> Quantities:
        """Scalar amounts of `resources` held here; a read-only dict.

        An agent offered whole and declined gets back the very object it
        handed out (`take`), whose amounts it remembers: a decline then costs
        no walk over the resources.
        """
        amounts = self.whole_amounts
        if resources is self.whole and amounts is not None:
            return amounts
        return scalar_quantities(resources)

    def take(self, framework_id: str, role: str, resources: Resources, amounts: Quantities) -> bool:
        """Move `resources` (scalar `amounts`) from available to a framework's holding.

        Returns whether the framework held nothing here in `role` before.
        """
        available = self.available
        if self.has_shared and resources is not available:
            self.free = self.free - resources.non_shared()
            self._compose_available()
        elif resources is available:
            # The whole agent goes (the common case): no arithmetic, and the
            # caller may keep the old amounts dict as the offer's amounts. (With
            # shared resources, the cycle marks them offered next: none are left.)
            # Nothing mutates that dict any more: `amounts_of` may hand it out.
            self.whole, self.whole_amounts = resources, amounts
            self.available = self.free = EMPTY
            self.available_amounts = {}
        else:
            self.available = available - resources
            subtract_from(self.available_amounts, amounts)
        key = (framework_id, role)
        held = self.allocations.get(key)
        self.allocations[key] = resources if held is None else held + resources
        if held is None:
            self.holders[framework_id] = self.holders.get(framework_id, 0) + 1
            return True
        return False

    def give_back(
        self, framework_id: str, role: str, resources: Resources, amounts: Quantities
    ) -> bool:
        """Return `resources` held by a framework in `role` to available.

        Returns whether the framework now holds nothing here in `role`.
        Raises AccountingError when the framework does not hold them here.
        """
        key = (framework_id, role)
        held = self.allocations.get(key)
        if held is None:
            raise AccountingError(
                f"framework {framework_id} holds nothing in role {role!r} on agent {self.id}"
            )
        emptied = resources is held or resources == held
        if emptied:
            del self.allocations[key]
            left = self.holders[framework_id] - 1
            if left:
                self.holders[framework_id] = left
            else:
                del self.holders[framework_id]
        elif held.contains(resources):
            self.allocations[key] = held - resources
        else:
            raise AccountingError(
                f"framework {framework_id} returned {resources} on agent {self.id} "
                f"but holds only {held} in role {role!r}"
            )
        if self.has_shared:
            non_shared = resources.non_shared()
            if not self.free and not self.shared_offered and resources.shared() == self.shared:
                # A whole offer back on an agent that had nothing else free: available is
                # the very object (decline filters then match it by identity, in O(1)).
                self.free = non_shared
                self.available = resources
                self.available_amounts = dict(amounts)
                return emptied
            self.free = non_shared if not self.free else self.free + non_shared
            self._compose_available()
            return emptied
        available = self.available
        if available is EMPTY or not available:
            # Nothing was left here (the agent went whole): no arithmetic. The
            # amounts `amounts_of` handed out for these very resources come back
            # as the agent's own (the caller only reads them): no copy kept twice.
            self.available = resources
            if resources is self.whole and amounts is self.whole_amounts:
                self.available_amounts = amounts
                self.whole = self.whole_amounts = None
            else:
                self.available_amounts = dict(amounts)
        else:
            self.available = available + resources
            add_into(self.available_amounts, amounts)
        return emptied

    def offered_shared(self, shared: Resources) -> None:
        """These shared resources went into an offer this cycle: no other offer gets them."""
        if not self.shared_offered and shared == self.shared:
            # All of them, the usual case: no arithmetic (compose sees the very object).
            self.shared_offered = self.shared
        else:
            self.shared_offered = self.shared_offered + shared
        self._compose_available()

    def cycle_done(self) -> None:
        """The cycle is over: its shared resources may be offered again."""
        self.shared_offered = EMPTY
        self._compose_available()

    def _compose_available(self) -> None:
        """Available of an agent with shared resources: free, and what is left to offer of
        the shared ones this cycle."""
        # Identity tests first: the usual cases (none or all of them offered, every
        # offer whole) cost no `Resources.__bool__` call, a Python-level method.
        offered = self.shared_offered
        if offered is EMPTY:
            offerable = self.shared
        elif offered is self.shared:
            offerable = EMPTY
        else:
            offerable = self.shared - offered
        if not self.free:
            if offerable is self.shared:  # the same object each cycle: filters match it fast
                self.available, self.available_amounts = offerable, dict(self.shared_amounts)
            elif not offerable:
                self.available, self.available_amounts = EMPTY, {}
            else:
                self.available = offerable
                self.available_amounts = scalar_quantities(offerable)
            return
        self.available = self.free + offerable
        self.available_amounts = scalar_quantities(self.available)

    def holding(self, framework_id: str) -> dict[str, Resources]:
        """What a framework holds here, by role."""
        if framework_id not in self.holders:
            return {}
        return {
            role: resources
            for (holder, role), resources in self.allocations.items()
            if holder == framework_id
        }

    def allocated(self) -> Resources:
        """Everything held by frameworks here."""
        held = EMPTY
        for resources in self.allocations.values():
            held = held + resources
        return held

    def recompute_available(self) -> None:
        """Available = total - held (shared resources: see the module docstring); after the
        total changed under the holdings, and after every change on an agent with shared ones."""
        self._read_shared()
        if self.has_shared:
            self.free = self.total.non_shared() - self.allocated().non_shared()
            self._compose_available()
            return
        self.available = self.total - self.allocated()
        self.available_amounts = scalar_quantities(self.available)

    def __repr__(self) -> str:
        return f"AllocatorAgent({self.id!r})"


class AllocatorFramework:
    """One framework as the allocator sees it."""

    __slots__ = (
        "active",
        "agents",
        "allocation",
        "gpu_aware",
        "held_in",
        "id",
        "known",
        "min_allocatable",
        "roles",
        "shared_aware",
        "suppressed",
    )

    def __init__(self, framework_id: str) -> None:
        self.id = framework_id
        # False while only agents have reported it (after a master failover,
        # before the framework re-registers): tracked, never offered to.
        self.known = False
        self.active = False
        self.roles: frozenset[str] = frozenset()
        self.suppressed: set[str] = set()
        # role -> scalar amounts held in that role (the dict its role's sorter reads)
        self.allocation: dict[str, Quantities] = {}
        # role -> on how many agents it holds something in that role (ports count too)
        self.held_in: dict[str, int] = {}
        # agents where it holds something (insertion-ordered set)
        self.agents: dict[str, None] = {}
        # GPU_RESOURCES capability: may be offered agents that have gpus.
        self.gpu_aware = False
        # SHARED_RESOURCES capability: may be offered shared resources.
        self.shared_aware = False
        # role -> its own minimum allocatable there (FrameworkInfo.offer_filters).
        self.min_allocatable: dict[str, Requirements] = {}

    def offerable_in(self, role: str) -> bool:
        return self.known and self.active and role in self.roles and role not in self.suppressed

    def __repr__(self) -> str:
        return f"AllocatorFramework({self.id!r})"
