"""One allocation cycle, as a pipeline of stages over the allocator's state.

`HierarchicalAllocator.allocate` builds an `AllocationCycle` and runs:

1. `candidates`: active agents with something allocatable left (an agent
   with crumbs only costs nothing further);
2. a shuffle (in the allocator, with its seeded generator);
3. `quota_stage`: roles with an unmet guarantee, lowest share first, get
   unreserved resources up to the guarantee (plus, within limits and
   headroom, what else the agent has), and their reservations;
4. `fair_share_stage`: agent by agent, roles in hierarchical DRF order, then
   the role's frameworks in DRF order; the first framework that does not
   filter the offer gets it;
5. `finish`: the offers, merged per (framework, agent, role), and counters.

Inside a stage every candidate passes the same checks, each recording its
reason when it rejects (see `metrics`): quota limit, headroom, minimum
allocatable (the global one, or the framework's own for the role), filters,
and capability (agents with gpus need GPU_RESOURCES; shared resources go to
SHARED_RESOURCES frameworks only, into one offer a cycle).

Why it is fast. Per agent, the common case (no reservations on the agent, no
quota in play) offers the agent's whole available `Resources` object to the
first unfiltered framework: no `Resources` arithmetic, quantities moved as one
dict, and the sorters reposition only the framework and role that changed.
A framework that declined this agent costs one dict lookup and an identity
check when its turn comes, and once every framework of a role has declined
it, the agent remembers so and skips the role in O(1). Orders are read once
per agent and not re-sorted while the agent is being offered, as in Mesos
(which sorts per agent). Measured: 9-12 us per agent with 10,000 agents and
1,000 frameworks (Mesos's DeclineOffers benchmark; `benchmarks/allocator.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from master.allocator._resources import (
    reserved_roles,
    scalar_quantities,
    shrink,
    split_quota_scalars,
)
from master.allocator.filters import AgentFilters
from master.allocator.metrics import (
    FILTERED,
    HEADROOM,
    INCAPABLE,
    NOT_ALLOCATABLE,
    QUOTA_LIMIT,
    REASONS,
)
from master.allocator.quantities import (
    Quantities,
    Requirements,
    add_into,
    meets_minimum,
    subtract,
    subtract_from,
)
from master.allocator.quota import available_headroom, limit_room, required_headroom
from master.allocator.records import Allocation, AllocatorAgent
from master.allocator.roles import RoleNode
from master.allocator.sorter import DRFSorter
from zmesos.resources import Resources

if TYPE_CHECKING:
    from master.allocator.hierarchical import HierarchicalAllocator

__all__ = ["AllocationCycle"]


class AllocationCycle:
    """The state of one cycle: its clock, the headroom it keeps, the offers it made."""

    def __init__(self, allocator: HierarchicalAllocator, now: float) -> None:
        self.allocator = allocator
        self.now = now
        self.tree = allocator.roles
        self.frameworks = allocator.frameworks
        self.filters = allocator.filters
        self.offers: dict[tuple[str, str, str], Resources] = {}
        # Agents whose shared resources went into an offer this cycle (see make_offer).
        self.shared_offered: list[AllocatorAgent] = []
        self.rejections: dict[str, int] = dict.fromkeys(REASONS, 0)
        self.last_rejection = allocator.metrics.last_rejection
        self.requirements = allocator.min_allocatable
        # Minimums frameworks set for themselves (offer filters): an agent or a
        # role's part of it is worth a look if it meets the global one or any of these.
        self.own_minimums: tuple[Requirements, ...] = tuple(
            {
                minimum
                for framework_id in allocator.custom_minimums
                for minimum in allocator.frameworks[framework_id].min_allocatable.values()
            }
        )
        # Agents with gpus need GPU_RESOURCES (only checked when the cluster has gpus).
        self.gpu_filter = allocator.filter_gpu_resources and "gpus" in allocator.totals.amounts

        quota_roles = [
            node for node in (self.tree.get(role) for role in self.tree.quotas) if node is not None
        ]
        self.quota_roles = quota_roles
        # Each quota role's unmet guarantee, kept current through the quota stage
        # (quota roles are top-level, so an offer changes only its own role's).
        self.unmet: dict[str, Quantities] = {
            node.name: node.unmet_guarantee() for node in quota_roles
        }
        # Unreserved resources to hold back for unmet guarantees, and what is there.
        self.required: Quantities = required_headroom(self.unmet.values())
        self.headroom: Quantities = (
            available_headroom(allocator.totals.amounts, self.tree) if self.required else {}
        )
        self.limits = any(node.quota is not None and node.quota.limit for node in quota_roles)
        # Without limits or headroom, unreserved resources are never chopped.
        self.chopping = bool(self.required) or self.limits
        # Roles with an unmet guarantee and frameworks to take offers.
        self.wanting = [
            node for node in quota_roles if self.unmet[node.name] and node.frameworks.active_count
        ]
        self.quota_pending = bool(self.wanting)

    # ------------------------------------------------------------------ stage 1

    def candidates(self, agent_ids: Iterable[str] | None) -> list[AllocatorAgent]:
        """Active agents with something allocatable, in a deterministic order."""
        agents = self.allocator.agents
        if agent_ids is None:
            pool: Iterable[AllocatorAgent | None] = agents.values()
        else:
            pool = (agents.get(agent_id) for agent_id in sorted(set(agent_ids)))
        allocatable = self.allocatable
        return [
            agent
            for agent in pool
            if agent is not None and agent.active and allocatable(agent.available_amounts)
        ]

    # ------------------------------------------------------------------ stage 3

    def quota_stage(self, agents: list[AllocatorAgent]) -> None:
        """Serve unmet guarantees first, roles in DRF order, agent by agent."""
        order = DRFSorter(self.allocator.totals)
        for quota_node in self.wanting:
            # Ties break as in the role tree: by the role's allocation count there.
            assert quota_node.parent is not None
            allocations = quota_node.parent.sorter.allocations(quota_node.name)
            order.add(
                quota_node.name,
                quota_node.allocation,
                weight=quota_node.weight,
                active=True,
                allocations=allocations,
            )
        unmet = self.unmet
        allocatable = self.allocatable
        for agent in agents:
            if not order.active_count:
                return
            if not allocatable(agent.available_amounts):
                continue
            met: list[str] = []
            for _, _, role in order.order():
                node = self.tree.get(role)
                if node is None or not node.frameworks.active_count:
                    met.append(role)
                    continue
                if self.offer_guarantee(agent, node, unmet[role]):
                    order.charged(role)
                    unmet[role] = node.unmet_guarantee()
                    if not unmet[role]:
                        met.append(role)
                if not allocatable(agent.available_amounts):
                    break
            # Deactivating reorders the list being iterated: only between agents.
            for role in met:
                order.deactivate(role)

    def offer_guarantee(self, agent: AllocatorAgent, node: RoleNode, unmet: Quantities) -> bool:
        """Offer `node`'s frameworks what this agent can give toward its guarantee
        (`unmet`: what is missing to it)."""
        if not unmet:
            return False
        role = node.name
        available = agent.available.allocatable_to(role) if agent.reservations else agent.available
        counted, rest = split_quota_scalars(available)
        guaranteed = shrink(counted, unmet, keep_uncapped=False)
        if not guaranteed:
            return False
        guaranteed_amounts = scalar_quantities(guaranteed)
        additional = counted - guaranteed
        if additional:
            room = limit_room(node)
            if room is not None:
                # A cap that reaches zero stays a cap (of zero), not "unlimited".
                left = {
                    name: max(0.0, cap - guaranteed_amounts.get(name, 0.0))
                    for name, cap in room.items()
                }
                additional = shrink(additional, left, keep_uncapped=True)
            additional = self.hold_back_headroom(additional, role)
        offer = guaranteed + rest + additional
        amounts = scalar_quantities(offer)
        if not self.allocatable(amounts):
            self.reject(NOT_ALLOCATABLE, "role:" + role)
            return False
        framework_id = self.first_unfiltered(agent, node, offer, amounts)
        if framework_id is None:
            return False
        unreserved = dict(guaranteed_amounts)
        add_into(unreserved, scalar_quantities(additional))
        self.make_offer(agent, node, framework_id, offer, amounts, unreserved)
        subtract_from(self.required, guaranteed_amounts)
        self.allocator.metrics.quota_offers += 1
        return True

    # ------------------------------------------------------------------ stage 4

    def fair_share_stage(self, agents: list[AllocatorAgent]) -> None:
        """Offer each agent to roles, then frameworks, in weighted DRF order."""
        allocatable = self.allocatable
        # The quota stage may have met every guarantee: then no headroom is held.
        self.chopping = bool(self.required) or self.limits
        simple = not self.chopping
        gpu_filter = self.gpu_filter
        for agent in agents:
            if not allocatable(agent.available_amounts):
                continue
            if simple and not agent.reservations and not (gpu_filter and _has_gpus(agent)):
                self.offer_whole_agent(agent)
            else:
                self.offer_agent_by_role(agent)

    def offer_whole_agent(self, agent: AllocatorAgent) -> None:
        """The hot path: nothing reserved here and no quota to respect.

        Every role may take everything, so the whole available `Resources`
        goes to the first framework (roles, then frameworks, in DRF order)
        that has not filtered it. When every framework of a role filters this
        agent, the agent remembers it, and later cycles skip the role in O(1)
        until the agent's resources, the role's frameworks or the agent's
        filters change, or the earliest of those filters expires.
        """
        offer = agent.available
        amounts = agent.available_amounts
        refusals_by_role = self.filters.for_agent(agent.id)
        now = self.now
        batches = self.filters.batches
        last_rejection = self.last_rejection
        refused_by_all = agent.refused_by_all
        filters_version = self.filters.version(agent.id) if refusals_by_role else 0
        # With frameworks' own minimums about, the agent may be here for them only.
        meets_global = not self.own_minimums or meets_minimum(amounts, self.requirements)
        filtered = 0
        for node in self.tree.walk():
            frameworks = node.frameworks
            refusals = refusals_by_role.get(node.name) if refusals_by_role else None
            if refusals is not None:
                proof = refused_by_all.get(node.name)
                if (
                    proof is not None
                    and proof[0] is offer
                    and proof[1] == frameworks.membership
                    and proof[2] == filters_version
                    and now < proof[3]
                ):
                    filtered += frameworks.active_count
                    continue
            until = float("inf")
            # Whether every framework passed over here was filtered (not too small).
            all_filtered = True
            own_minimums = node.min_allocatable
            for _, _, framework_id in frameworks.order():
                if refusals is not None:
                    refusal = refusals.get(framework_id)
                    if (
                        refusal is not None
                        and (refusal.expires > now or refusal.batch == batches)
                        and (offer is refusal.resources or refusal.resources.contains(offer))
                    ):
                        filtered += 1
                        last_rejection[framework_id] = FILTERED
                        if refusal.expires < until:
                            until = refusal.expires
                        continue
                if (own_minimums or not meets_global) and not self.fits(
                    node, framework_id, amounts, meets_global
                ):
                    self.reject(NOT_ALLOCATABLE, framework_id)
                    all_filtered = False
                    continue
                self.make_offer(agent, node, framework_id, offer, amounts, amounts)
                self.rejections[FILTERED] += filtered
                return
            if refusals is not None and all_filtered:
                refused_by_all[node.name] = (offer, frameworks.membership, filters_version, until)
        self.rejections[FILTERED] += filtered

    def offer_agent_by_role(self, agent: AllocatorAgent) -> None:
        """The general path: reservations on the agent, or quota limits and headroom.

        Roles are walked in DRF order while unreserved resources are left;
        then only the subtrees of roles with reservations still available
        here are walked, so leftover reservations do not cost a walk of
        every role.
        """
        allocatable = self.allocatable
        walked_all = True
        for node in self.tree.walk():
            self.offer_to_role(agent, node)
            if not allocatable(agent.available_amounts):
                return
            if agent.reservations and not allocatable(agent.reserved_split(agent.available)[0]):
                walked_all = False
                break
        if walked_all:
            return
        for role in sorted(reserved_roles(agent.available)):
            start = self.tree.get(role)
            if start is None or not start.active:
                continue
            for node in self.tree.walk(start):
                self.offer_to_role(agent, node)
                if not allocatable(agent.available_amounts):
                    return

    def offer_to_role(self, agent: AllocatorAgent, node: RoleNode) -> None:
        """Offer what `node` may take here to its first unfiltered framework."""
        role = node.name
        available = agent.available
        if agent.reservations and not all(
            reserved == role or role.startswith(reserved + "/") for reserved in agent.reservations
        ):
            available = available.allocatable_to(role)
        # Otherwise every reservation here (its volumes, say) is this role's or an
        # ancestor's: the very `available` object goes, so taking it costs no
        # arithmetic (Agent.take). Volume benchmark: 4x faster per agent.
        if not available:
            return
        unreserved: Quantities | None
        reserved: Quantities | None = None
        if self.chopping:
            counted, rest = split_quota_scalars(available)
            additional = counted
            room = limit_room(node)
            if room is not None:
                additional = shrink(counted, room, keep_uncapped=True)
                if additional != counted:
                    self.reject(QUOTA_LIMIT, "role:" + role)
            additional = self.hold_back_headroom(additional, role)
            offer = rest + additional if additional else rest
            unreserved = scalar_quantities(additional)
        else:
            offer = available
            unreserved = None
            if agent.reservations:
                unreserved, reserved = agent.reserved_split(offer)
        amounts = agent.available_amounts if offer is agent.available else scalar_quantities(offer)
        if unreserved is None:
            unreserved = amounts
        if not self.allocatable(amounts):
            self.reject(NOT_ALLOCATABLE, "role:" + role)
            return
        framework_id = self.first_unfiltered(agent, node, offer, amounts)
        if framework_id is not None:
            self.make_offer(agent, node, framework_id, offer, amounts, unreserved, reserved)

    # ------------------------------------------------------------------ shared checks

    def allocatable(self, amounts: Quantities) -> bool:
        """Whether `amounts` are worth offering to someone: they meet the global
        minimum allocatable, or one a framework set for itself."""
        # The global check inlined: this runs for every agent, twice a cycle.
        requirements = self.requirements
        if not requirements:
            if amounts:
                return True
        else:
            for requirement in requirements:
                for name, minimum in requirement:
                    if amounts.get(name, 0.0) < minimum:
                        break
                else:
                    return True
        own_minimums = self.own_minimums
        return bool(own_minimums) and any(
            meets_minimum(amounts, minimum) for minimum in own_minimums
        )

    def fits(
        self, node: RoleNode, framework_id: str, amounts: Quantities, meets_global: bool
    ) -> bool:
        """Whether `amounts` meet this framework's minimum allocatable in `node`'s role:
        its own (offer filters) if it set one, else the global one (`meets_global`)."""
        minimum = node.min_allocatable.get(framework_id)
        return meets_global if minimum is None else meets_minimum(amounts, minimum)

    def hold_back_headroom(self, unreserved: Resources, role: str) -> Resources:
        """Chop unreserved scalars so unmet guarantees keep their headroom."""
        if not self.required or not unreserved:
            return unreserved
        surplus = subtract(self.headroom, self.required)
        caps = {name: surplus.get(name, 0.0) for name in self.required}
        shrunk = shrink(unreserved, caps, keep_uncapped=True)
        if shrunk != unreserved:
            self.reject(HEADROOM, "role:" + role)
        return shrunk

    def first_unfiltered(
        self, agent: AllocatorAgent, node: RoleNode, offer: Resources, amounts: Quantities
    ) -> str | None:
        """The first framework of `node`, in DRF order, that may take `offer`:
        capable of the agent, not filtering it, and finding it big enough."""
        refusals_by_role: AgentFilters | None = self.filters.for_agent(agent.id)
        refusals = refusals_by_role.get(node.name) if refusals_by_role else None
        now = self.now
        batches = self.filters.batches
        needs_gpu_capability = self.gpu_filter and _has_gpus(agent)
        meets_global = not self.own_minimums or meets_minimum(amounts, self.requirements)
        checks_minimum = bool(node.min_allocatable) or not meets_global
        frameworks = self.frameworks
        # Frameworks without SHARED_RESOURCES are offered the rest (see make_offer).
        with_shared = agent.has_shared and offer.has_shared()
        for _, _, framework_id in node.frameworks.order():
            if needs_gpu_capability and not frameworks[framework_id].gpu_aware:
                self.reject(INCAPABLE, framework_id)
                continue
            candidate, candidate_amounts, candidate_meets = offer, amounts, meets_global
            if with_shared and not frameworks[framework_id].shared_aware:
                candidate = offer.non_shared()
                candidate_amounts = scalar_quantities(candidate)
                candidate_meets = meets_minimum(candidate_amounts, self.requirements)
                if not self.allocatable(candidate_amounts):
                    self.reject(INCAPABLE, framework_id)
                    continue
            if refusals is not None:
                refusal = refusals.get(framework_id)
                if refusal is not None and refusal.refuses(candidate, now, batches):
                    self.reject(FILTERED, framework_id)
                    continue
            if (checks_minimum or not candidate_meets) and not self.fits(
                node, framework_id, candidate_amounts, candidate_meets
            ):
                self.reject(NOT_ALLOCATABLE, framework_id)
                continue
            return framework_id
        return None

    def reject(self, reason: str, subject: str) -> None:
        self.rejections[reason] += 1
        self.last_rejection[subject] = reason

    # ------------------------------------------------------------------ offers

    def make_offer(
        self,
        agent: AllocatorAgent,
        node: RoleNode,
        framework_id: str,
        offer: Resources,
        amounts: Quantities,
        unreserved: Quantities,
        reserved: Quantities | None = None,
    ) -> None:
        """Allocate `offer` to the framework and remember it for `finish`.

        `reserved`: the reserved part of `amounts` when the caller knows it.
        Shared resources go to frameworks with SHARED_RESOURCES only (the
        others get the rest), and into one offer of the cycle.
        """
        role = node.name
        # The offer's shared resources, or None.
        shared = offer.shared() if agent.has_shared and offer.has_shared() else None
        if shared is not None and not self.frameworks[framework_id].shared_aware:
            # Shared resources are reserved: the unreserved amounts stay as they are.
            offer, shared = offer.non_shared(), None
            amounts = scalar_quantities(offer)
            reserved = None  # the caller's split was of the offer with them
        if reserved is None and unreserved is not amounts:
            reserved = subtract(amounts, unreserved)
        self.allocator.charge(self.frameworks[framework_id], agent, role, offer, amounts, reserved)
        if self.required:
            subtract_from(self.headroom, unreserved)
        key = (framework_id, agent.id, role)
        earlier = self.offers.get(key)
        self.offers[key] = offer if earlier is None else earlier + offer
        if shared is not None:
            agent.offered_shared(shared)
            self.shared_offered.append(agent)

    # ------------------------------------------------------------------ stage 5

    def finish(self) -> list[Allocation]:
        """The offers of this cycle; counters folded into the allocator's metrics."""
        for agent in self.shared_offered:
            agent.cycle_done()
        metrics = self.allocator.metrics
        metrics.allocation_runs += 1
        metrics.offers += len(self.offers)
        for reason, count in self.rejections.items():
            metrics.rejections[reason] += count
        return [
            Allocation(framework_id, agent_id, role, resources)
            for (framework_id, agent_id, role), resources in self.offers.items()
        ]


def _has_gpus(agent: AllocatorAgent) -> bool:
    """Whether the agent has gpus at all (Mesos: its total, not what is available)."""
    return agent.total_amounts.get("gpus", 0.0) > 0.0
