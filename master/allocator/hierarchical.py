"""The hierarchical DRF allocator: the state the master drives, and `allocate`.

Pure data-structure code: no I/O, no asyncio, no clock of its own (every
time-dependent call takes `now`, seconds on the caller's clock). The actor
that owns it (interval timer, coalesced runs after events) lives elsewhere and
calls `allocate(now)`; `events` counts state changes so it can skip a run
when nothing happened.

What it follows (Mesos's hierarchical allocator; roles.md, weights.md,
quota.md, reservation.md):
- two levels of weighted DRF: roles (hierarchically, `eng/web` sharing
  `eng`'s portion), then frameworks within a role;
- a framework may have several roles; each offer is made for one of them;
  suppress and revive per framework and role;
- quota guarantees are served first, with unreserved headroom held back while
  any is unmet; quota limits are never exceeded;
- reserved resources go only to their role's subtree and count toward its
  share and quota;
- declines install filters; offers below the minimum allocatable (the global
  one, or a framework's own per role from its offer filters) are not made;
- agents with gpus go only to frameworks with the GPU_RESOURCES capability
  (unless `filter_gpu_resources` is off); resources named in
  `fair_sharing_excluded_resource_names` stay out of dominant shares;
- shared resources (shared persistent volumes) stay available while held and
  go into one offer per cycle, only to frameworks with SHARED_RESOURCES;
- what is offered counts as allocated until it is recovered.

Ids are plain `str`. Resources in and out are `zmesos.resources.Resources`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import TypeAlias

from master.allocator._resources import (
    EMPTY,
    reservation_quantities,
    reserved_roles,
    reserved_scalar_quantities,
    scalar_quantities,
)
from master.allocator.cycle import AllocationCycle
from master.allocator.errors import AccountingError, AllocatorError
from master.allocator.filters import OfferFilters
from master.allocator.metrics import AllocatorMetrics
from master.allocator.quantities import (
    Quantities,
    Requirements,
    add_into,
    requirements_of,
    subtract_from,
)
from master.allocator.quota import Quota
from master.allocator.records import Allocation, AllocatorAgent, AllocatorFramework
from master.allocator.roles import RoleTree
from master.allocator.sorter import Totals
from zmesos.resources import Resources, role_ancestors

__all__ = [
    "DEFAULT_MIN_ALLOCATABLE",
    "GPU_RESOURCES",
    "SHARED_RESOURCES",
    "Allocation",
    "HierarchicalAllocator",
]

# Mesos's MIN_CPUS and MIN_MEM: an offer must hold at least one of these.
DEFAULT_MIN_ALLOCATABLE: tuple[Mapping[str, float], ...] = ({"cpus": 0.01}, {"mem": 32.0})
# The framework capability that agents with gpus require (Mesos's name).
GPU_RESOURCES = "GPU_RESOURCES"
SHARED_RESOURCES = "SHARED_RESOURCES"  # shared resources are offered only to these

# What a framework or agent reports it holds: plain Resources (the role is
# inferred from the framework's roles and the reservations) or by role.
Held: TypeAlias = Resources | Mapping[str, Resources]


class HierarchicalAllocator:
    """Weighted hierarchical DRF with quota, reservations and filters.

    Not thread-safe: one owner calls it, one call at a time. Methods raise
    `AllocatorError` subclasses for broken invariants (an unknown id where the
    caller must know it, resources returned that were never handed out).
    """

    def __init__(
        self,
        *,
        min_allocatable: Iterable[Mapping[str, float]] = DEFAULT_MIN_ALLOCATABLE,
        fair_sharing_excluded_resource_names: Iterable[str] = (),
        filter_gpu_resources: bool = True,
        random_seed: int | None = None,
    ) -> None:
        self.totals = Totals(frozenset(fair_sharing_excluded_resource_names))
        self.roles = RoleTree(self.totals)
        self.filters = OfferFilters()
        self.agents: dict[str, AllocatorAgent] = {}
        self.frameworks: dict[str, AllocatorFramework] = {}
        self.min_allocatable: Requirements = requirements_of(min_allocatable)
        self.filter_gpu_resources = filter_gpu_resources
        # Frameworks with a minimum allocatable of their own in some role.
        self.custom_minimums: set[str] = set()
        self.random = random.Random(random_seed)
        self.metrics = AllocatorMetrics()
        # Bumped by every call that may change what the next cycle offers.
        self.events = 0

    # ------------------------------------------------------------------ frameworks

    def add_framework(
        self,
        framework_id: str,
        roles: Iterable[str],
        *,
        used: Mapping[str, Held] | None = None,
        active: bool = True,
        suppressed_roles: Iterable[str] = (),
        capabilities: Iterable[str] = (),
        min_allocatable: Mapping[str, Iterable[Mapping[str, float]]] | None = None,
    ) -> None:
        """Start tracking a framework, with what it already holds (`agent id -> resources`).

        Holdings on unknown agents are ignored (the agent reports them when it
        is added); holdings an agent already reported are not counted twice.
        `capabilities`: FrameworkInfo's (GPU_RESOURCES matters here).
        `min_allocatable`: role -> the framework's own minimum allocatable
        there (its offer filters), replacing the global one; an empty list
        accepts any offer.
        """
        framework = self.frameworks.get(framework_id)
        if framework is not None and framework.known:
            raise AllocatorError(f"framework {framework_id} is already added")
        if framework is None:
            framework = self.frameworks[framework_id] = AllocatorFramework(framework_id)
        framework.known = True
        framework.active = active
        framework.roles = frozenset(roles)
        framework.suppressed = set(suppressed_roles) & framework.roles
        self._set_options(framework, capabilities, _minimums(min_allocatable or {}))
        for agent_id, held in (used or {}).items():
            agent = self.agents.get(agent_id)
            if agent is not None and framework_id not in agent.holders:
                self._track_held(framework, agent, held)
        self._sync_roles(framework, framework.roles | framework.allocation.keys())
        self.events += 1

    def remove_framework(self, framework_id: str) -> None:
        """Forget a framework; everything it holds returns to its agents."""
        framework = self._framework(framework_id)
        for agent_id in list(framework.agents):
            agent = self.agents[agent_id]
            for role, resources in list(agent.holding(framework_id).items()):
                self._release(framework, agent, role, resources)
        framework.roles = frozenset()
        self._sync_roles(framework, list(framework.allocation))
        self.custom_minimums.discard(framework_id)
        self.filters.remove_framework(framework_id)
        self.metrics.last_rejection.pop(framework_id, None)
        del self.frameworks[framework_id]
        self.events += 1

    def activate_framework(self, framework_id: str) -> None:
        framework = self._framework(framework_id)
        framework.active = True
        self._sync_roles(framework, framework.roles)
        self.events += 1

    def deactivate_framework(self, framework_id: str) -> None:
        """No offers until activated again; its filters are dropped, as in Mesos."""
        framework = self._framework(framework_id)
        framework.active = False
        self._sync_roles(framework, framework.roles)
        self.filters.remove_framework(framework_id)
        self.events += 1

    def update_framework(
        self,
        framework_id: str,
        roles: Iterable[str],
        suppressed_roles: Iterable[str] = (),
        *,
        capabilities: Iterable[str] | None = None,
        min_allocatable: Mapping[str, Iterable[Mapping[str, float]]] | None = None,
    ) -> None:
        """New roles and suppressed roles; filters of roles it left are dropped.

        `capabilities` and `min_allocatable` (see `add_framework`) replace the
        framework's when given; None keeps them.
        """
        framework = self._framework(framework_id)
        old_roles = framework.roles
        framework.roles = frozenset(roles)
        framework.suppressed = set(suppressed_roles) & framework.roles
        self._set_options(
            framework,
            _capabilities_of(framework) if capabilities is None else capabilities,
            framework.min_allocatable if min_allocatable is None else _minimums(min_allocatable),
        )
        left = old_roles - framework.roles
        if left:
            self.filters.remove_framework(framework_id, left)
        self._sync_roles(framework, old_roles | framework.roles)
        self.events += 1

    def suppress(self, framework_id: str, roles: Iterable[str] | None = None) -> None:
        """Stop offers to the framework in `roles` (all its roles when None)."""
        framework = self._framework(framework_id)
        wanted = framework.roles if roles is None else framework.roles & set(roles)
        framework.suppressed |= wanted
        self._sync_roles(framework, wanted)
        self.events += 1

    def revive(
        self, framework_id: str, roles: Iterable[str] | None = None, *, now: float | None = None
    ) -> None:
        """Resume offers in `roles` (all when None) and clear the framework's filters there.

        `now` is accepted for symmetry with the other clock-taking calls;
        clearing filters does not depend on it.
        """
        framework = self._framework(framework_id)
        wanted = framework.roles if roles is None else framework.roles & set(roles)
        framework.suppressed -= wanted
        self.filters.remove_framework(framework_id, None if roles is None else wanted)
        self._sync_roles(framework, wanted)
        self.events += 1

    # ------------------------------------------------------------------ agents

    def add_agent(
        self,
        agent_id: str,
        total: Resources,
        *,
        used: Mapping[str, Held] | None = None,
        active: bool = True,
    ) -> None:
        """Start tracking an agent, with what frameworks hold there (`framework id -> resources`).

        Frameworks not added yet (after a master failover) are tracked as
        unknown: their holdings count, and they get no offers until added.
        """
        if agent_id in self.agents:
            raise AllocatorError(f"agent {agent_id} is already added")
        agent = self.agents[agent_id] = AllocatorAgent(agent_id, total, active=active)
        self.totals.add(agent.total_amounts)
        for role, amounts in agent.reservations.items():
            self.roles.reserve(role, amounts)
        for framework_id, held in (used or {}).items():
            framework = self.frameworks.get(framework_id)
            if framework is None:
                framework = self.frameworks[framework_id] = AllocatorFramework(framework_id)
            self._track_held(framework, agent, held)
            self._sync_roles(framework, list(framework.allocation))
        self.events += 1

    def remove_agent(self, agent_id: str) -> None:
        """Forget an agent; what frameworks held there is gone with it."""
        agent = self._agent(agent_id)
        for framework_id in list(agent.holders):
            framework = self.frameworks[framework_id]
            for role, resources in agent.holding(framework_id).items():
                self._release(framework, agent, role, resources)
            self._sync_roles(framework, list(framework.allocation))
            self._forget_if_unknown(framework)
        for role, amounts in agent.reservations.items():
            self.roles.unreserve(role, amounts)
        self.totals.subtract(agent.total_amounts)
        self.filters.remove_agent(agent_id)
        del self.agents[agent_id]
        self.events += 1

    def activate_agent(self, agent_id: str) -> None:
        self._agent(agent_id).active = True
        self.events += 1

    def deactivate_agent(self, agent_id: str) -> None:
        """No offers of this agent until activated again; holdings stay."""
        self._agent(agent_id).active = False
        self.events += 1

    def update_agent_total(self, agent_id: str, total: Resources) -> None:
        """A new total (e.g. oversubscription, or the agent restarted with new resources).

        What frameworks hold stays; available becomes total minus that, never
        negative. The agent's filters are dropped: its offers will differ.
        """
        agent = self._agent(agent_id)
        if total == agent.total:
            return
        for role, amounts in agent.reservations.items():
            self.roles.unreserve(role, amounts)
        self.totals.subtract(agent.total_amounts)
        agent.total = total
        agent.total_amounts = scalar_quantities(total)
        agent.reservations = reservation_quantities(total)
        self.totals.add(agent.total_amounts)
        for role, amounts in agent.reservations.items():
            self.roles.reserve(role, amounts)
        agent.recompute_available()
        self.filters.remove_agent(agent_id)
        self.events += 1

    # ------------------------------------------------------------------ resources

    def recover_resources(
        self,
        framework_id: str,
        agent_id: str,
        resources: Resources,
        *,
        refuse_seconds: float | None = None,
        now: float,
        role: str | None = None,
    ) -> None:
        """Take back resources a framework held (an unused offer, a finished task).

        With `refuse_seconds > 0` the framework will not be offered these
        resources on this agent again in that role until `now + refuse_seconds`
        and a batch allocation has run (MESOS-4302).
        `role` is the offer's role; when omitted it is inferred from what the
        framework holds there. Recovery from a removed agent or framework is
        ignored (its resources went with it).
        """
        agent = self.agents.get(agent_id)
        framework = self.frameworks.get(framework_id)
        if agent is None or framework is None or not resources:
            return
        if role is None:
            role = _holding_role(agent, framework_id, resources)
        self._release(framework, agent, role, resources)
        if role not in framework.roles:
            # It may have held the last of a role it left: stop tracking it there.
            self._sync_roles(framework, (role,))
        if refuse_seconds is not None and refuse_seconds > 0 and framework.known:
            self.filters.add(framework_id, role, agent_id, resources, now + refuse_seconds)
        self._forget_if_unknown(framework)
        self.events += 1

    def update_allocation(
        self,
        framework_id: str,
        agent_id: str,
        consumed: Resources,
        converted: Resources,
        *,
        role: str | None = None,
    ) -> None:
        """An accepted RESERVE/UNRESERVE/CREATE/DESTROY turned `consumed` into `converted`.

        `consumed` was held by the framework (in `role`) on the agent; it now
        holds `converted` instead, and the agent's total changes the same way.
        Quantities are normally equal; reservations move between roles' quota
        consumption.
        """
        agent = self._agent(agent_id)
        framework = self._framework(framework_id)
        if role is None:
            role = _holding_role(agent, framework_id, consumed)
        held = agent.allocations.get((framework_id, role))
        if held is None or not held.contains(consumed):
            raise AccountingError(
                f"framework {framework_id} converted {consumed} on agent {agent_id} "
                f"but holds only {held} in role {role!r}"
            )
        consumed_amounts = scalar_quantities(consumed)
        converted_amounts = scalar_quantities(converted)
        # The holding changes form: un-charge the old, charge the new.
        self.roles.unallocated(
            role, framework_id, consumed_amounts, reserved_scalar_quantities(consumed)
        )
        subtract_from(framework.allocation[role], consumed_amounts)
        add_into(framework.allocation[role], converted_amounts)
        self.roles.allocated(
            role,
            framework_id,
            converted_amounts,
            reserved_scalar_quantities(converted),
            counted=False,
        )
        agent.allocations[(framework_id, role)] = held - consumed + converted
        # The agent's total changes the same way; available does not. Only the
        # reservations named in the operation move (an agent may hold hundreds).
        agent.total = agent.total - consumed + converted
        if agent.has_shared or consumed.has_shared() or converted.has_shared():
            agent.recompute_available()  # a shared resource stays available while held
        for reserved_role, amounts in reservation_quantities(consumed).items():
            subtract_from(agent.reservations[reserved_role], amounts)
            if not agent.reservations[reserved_role]:
                del agent.reservations[reserved_role]
            self.roles.unreserve(reserved_role, amounts)
        for reserved_role, amounts in reservation_quantities(converted).items():
            add_into(agent.reservations.setdefault(reserved_role, {}), amounts)
            self.roles.reserve(reserved_role, amounts)
        if consumed_amounts != converted_amounts:
            self.totals.subtract(consumed_amounts)
            self.totals.add(converted_amounts)
            agent.total_amounts = scalar_quantities(agent.total)
        self.events += 1

    # ------------------------------------------------------------------ weights and quota

    def set_weight(self, role: str, weight: float) -> None:
        self.roles.set_weight(role, weight)
        self.events += 1

    def set_quota(
        self,
        role: str,
        *,
        guarantee: Resources | Mapping[str, float] | None = None,
        limit: Resources | Mapping[str, float] | None = None,
    ) -> None:
        """Set a role's quota; scalar quantities only (of `Resources`, their scalars).

        A limit of zero is kept and forbids that resource (a zero guarantee
        guarantees nothing and is dropped). Quota on a nested role (`eng/web`)
        is refused with ValueError, as Mesos refuses it; a top-level role's
        limit still caps its whole subtree.
        """
        if "/" in role:
            raise ValueError(f"quota on nested role {role!r} is not supported (as in Mesos)")
        quota = Quota(
            guarantee=_amounts(guarantee, keep_zero=False), limit=_amounts(limit, keep_zero=True)
        )
        self.roles.set_quota(role, quota)
        self.events += 1

    def remove_quota(self, role: str) -> None:
        self.roles.set_quota(role, None)
        self.events += 1

    # ------------------------------------------------------------------ allocation

    def allocate(
        self, now: float, agent_ids: Iterable[str] | None = None, *, batch: bool = True
    ) -> list[Allocation]:
        """Run one allocation cycle over every agent, or over `agent_ids`.

        `batch`: this is a batch allocation (the periodic run; Mesos's
        `batch()`), not a run made after events: filters installed before
        it may expire once it is done (MESOS-4302, see `filters`).

        Returns the offers made, one per (framework, agent, role); what is
        offered counts as allocated until recovered. Stages, in order:
          1. candidates: active agents with something allocatable left;
          2. shuffle: agents in random order, so none is always served first;
          3. quota: roles with unmet guarantees, in DRF order, get their share first;
          4. fair share: roles then frameworks in weighted DRF order, agent by
             agent, skipping filtered, suppressed and sub-minimum candidates.
        """
        self.filters.expire(now)
        if not self.roles.root.active:
            # No framework may be offered anything: no agent to visit. (A new leader
            # re-admits its agents before their frameworks come back: 10,000 agents
            # visited every second for nothing were a fifth of its work.)
            self.metrics.allocation_runs += 1
            if batch:
                self.filters.batch_done()
            return []
        cycle = AllocationCycle(self, now)
        agents = cycle.candidates(agent_ids)
        self.random.shuffle(agents)
        if cycle.quota_pending:
            cycle.quota_stage(agents)
            # Mesos shuffles again so the quota stage's picks do not bias stage two.
            self.random.shuffle(agents)
        cycle.fair_share_stage(agents)
        if batch:
            self.filters.batch_done()
        return cycle.finish()

    def expire_filters(self, now: float) -> int:
        """Drop filters expired at `now` (allocate does this itself); returns how many."""
        return self.filters.expire(now)

    def next_filter_expiry(self) -> float | None:
        """When a filter next expires, or None: with `events` unchanged, no cycle
        before then can offer anything the last one did not."""
        return self.filters.next_expiry()

    # ------------------------------------------------------------------ reading

    def role_share(self, role: str) -> float:
        """The role's weighted dominant share among its siblings (0 for unknown roles)."""
        node = self.roles.get(role)
        return 0.0 if node is None else node.share()

    def framework_share(self, framework_id: str, role: str | None = None) -> float:
        """The framework's dominant share within `role` (its largest over roles when None)."""
        framework = self._framework(framework_id)
        roles = [role] if role is not None else list(framework.allocation)
        shares = []
        for name in roles:
            node = self.roles.get(name)
            if node is not None and framework_id in node.frameworks:
                shares.append(node.frameworks.share(framework_id))
        return max(shares, default=0.0)

    def allocated(self, framework_id: str) -> dict[str, Resources]:
        """What the framework holds, by agent (summed over roles)."""
        framework = self._framework(framework_id)
        result: dict[str, Resources] = {}
        for agent_id in framework.agents:
            held = EMPTY
            for resources in self.agents[agent_id].holding(framework_id).values():
                held = held + resources
            result[agent_id] = held
        return result

    def allocation(self, framework_id: str, agent_id: str) -> dict[str, Resources]:
        """What the framework holds on one agent, by role."""
        return dict(self._agent(agent_id).holding(framework_id))

    def available(self, agent_id: str) -> Resources:
        return self._agent(agent_id).available

    def quota(self, role: str) -> Quota | None:
        return self.roles.quotas.get(role)

    def consumed_quota(self, role: str) -> Quantities:
        """Unreserved allocation plus reservations of the role's subtree."""
        node = self.roles.get(role)
        return {} if node is None else node.consumed

    def metrics_snapshot(self) -> dict[str, object]:
        snapshot = self.metrics.snapshot()
        snapshot["filters_active"] = len(self.filters)
        snapshot["agents"] = len(self.agents)
        snapshot["frameworks"] = len(self.frameworks)
        snapshot["events"] = self.events
        return snapshot

    # ------------------------------------------------------------------ internals

    def _agent(self, agent_id: str) -> AllocatorAgent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise AllocatorError(f"unknown agent {agent_id}") from None

    def _framework(self, framework_id: str) -> AllocatorFramework:
        framework = self.frameworks.get(framework_id)
        if framework is None or not framework.known:
            raise AllocatorError(f"unknown framework {framework_id}")
        return framework

    def charge(
        self,
        framework: AllocatorFramework,
        agent: AllocatorAgent,
        role: str,
        resources: Resources,
        amounts: Quantities,
        reserved: Quantities | None,
    ) -> None:
        """Account `resources` (scalar `amounts`, `reserved` of them) to a framework.

        The one place an allocation is recorded, for offers and reported holdings.
        """
        allocation = framework.allocation.get(role)
        if allocation is None:
            allocation = framework.allocation[role] = {}
            self.roles.track_framework(role, framework.id, allocation)
        if agent.take(framework.id, role, resources, amounts):
            framework.held_in[role] = framework.held_in.get(role, 0) + 1
        framework.agents[agent.id] = None
        add_into(allocation, amounts)
        self.roles.allocated(role, framework.id, amounts, reserved)

    def _release(
        self, framework: AllocatorFramework, agent: AllocatorAgent, role: str, resources: Resources
    ) -> None:
        amounts = agent.amounts_of(resources)
        reserved = agent.reserved_split(resources)[1] if agent.reservations else None
        if agent.give_back(framework.id, role, resources, amounts):
            left = framework.held_in[role] - 1
            if left:
                framework.held_in[role] = left
            else:
                del framework.held_in[role]
        if framework.id not in agent.holders:
            framework.agents.pop(agent.id, None)
        subtract_from(framework.allocation[role], amounts)
        self.roles.unallocated(role, framework.id, amounts, reserved)

    def _track_held(self, framework: AllocatorFramework, agent: AllocatorAgent, held: Held) -> None:
        by_role = (
            {_infer_role(framework, held): held} if isinstance(held, Resources) else dict(held)
        )
        for role, resources in by_role.items():
            if not resources:
                continue
            if not agent.available.contains(resources):
                raise AccountingError(
                    f"framework {framework.id} reported {resources} on agent {agent.id}, "
                    f"more than is left there ({agent.available})"
                )
            amounts = scalar_quantities(resources)
            reserved = reserved_scalar_quantities(resources) if agent.reservations else None
            self.charge(framework, agent, role, resources, amounts, reserved)

    def _set_options(
        self,
        framework: AllocatorFramework,
        capabilities: Iterable[str],
        min_allocatable: dict[str, Requirements],
    ) -> None:
        """Record a framework's capabilities and its own minimum allocatable per role."""
        names = set(capabilities)
        framework.gpu_aware = GPU_RESOURCES in names
        framework.shared_aware = SHARED_RESOURCES in names
        framework.min_allocatable = min_allocatable
        if framework.min_allocatable:
            self.custom_minimums.add(framework.id)
        else:
            self.custom_minimums.discard(framework.id)
        # Roles it is tracked in but no longer has a minimum for forget the old one.
        for role in framework.allocation:
            node = self.roles.get(role)
            if node is not None and role not in framework.min_allocatable:
                node.min_allocatable.pop(framework.id, None)

    def _sync_roles(self, framework: AllocatorFramework, roles: Iterable[str]) -> None:
        """Make each role's view of the framework match its state.

        A framework is tracked under a role while subscribed to it or holding
        something in it, and offerable there only when known, active,
        subscribed and not suppressed; its own minimum allocatable there, if
        any, is the role's to check.
        """
        tree = self.roles
        for role in roles:
            tracked = role in framework.allocation
            wanted = role in framework.roles or role in framework.held_in
            if wanted and not tracked:
                framework.allocation[role] = {}
                tree.track_framework(role, framework.id, framework.allocation[role])
            elif tracked and not wanted:
                tree.untrack_framework(role, framework.id)
                del framework.allocation[role]
                continue
            elif not wanted:
                continue
            minimum = framework.min_allocatable.get(role)
            if minimum is not None:
                tree.node(role).min_allocatable[framework.id] = minimum
            tree.set_framework_active(role, framework.id, framework.offerable_in(role))

    def _forget_if_unknown(self, framework: AllocatorFramework) -> None:
        """Drop a never-added framework once it holds nothing anywhere."""
        if not framework.known and not framework.agents:
            self._sync_roles(framework, list(framework.allocation))
            del self.frameworks[framework.id]


def _amounts(value: Resources | Mapping[str, float] | None, *, keep_zero: bool) -> dict[str, float]:
    """Scalar quantities of a guarantee or limit; zero entries only where they mean something."""
    if value is None:
        return {}
    if isinstance(value, Resources):
        return scalar_quantities(value)
    return {name: float(amount) for name, amount in value.items() if amount or keep_zero}


def _minimums(
    min_allocatable: Mapping[str, Iterable[Mapping[str, float]]],
) -> dict[str, Requirements]:
    """role -> `Requirements`, from role -> a list of quantity dicts."""
    return {role: requirements_of(alternatives) for role, alternatives in min_allocatable.items()}


def _capabilities_of(framework: AllocatorFramework) -> tuple[str, ...]:
    """The capabilities the allocator keeps of a framework, as names."""
    kept = ((GPU_RESOURCES, framework.gpu_aware), (SHARED_RESOURCES, framework.shared_aware))
    return tuple(name for name, held in kept if held)


def _holding_role(agent: AllocatorAgent, framework_id: str, resources: Resources) -> str:
    """The role in which a framework holds `resources` on an agent (when the caller did not say)."""
    by_role = agent.holding(framework_id)
    if len(by_role) == 1:
        return next(iter(by_role))
    for role, held in by_role.items():
        if held.contains(resources):
            return role
    raise AccountingError(
        f"framework {framework_id} does not hold {resources} in any one role on agent {agent.id}"
    )


def _infer_role(framework: AllocatorFramework, resources: Resources) -> str:
    """The role reported holdings belong to: one of the framework's roles that may hold them."""
    reserved = reserved_roles(resources)
    for role in sorted(framework.roles):
        allowed = {role, *role_ancestors(role)}
        if reserved <= allowed:
            return role
    if len(reserved) == 1:
        return next(iter(reserved))
    return "*"
