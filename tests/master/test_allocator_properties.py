"""Property tests of the hierarchical allocator over random clusters and event sequences.

The state machine plays a master: agents and frameworks come and go, offers
are declined, partly accepted or left outstanding, tasks finish, reservations
are made, weights and quotas change, time passes. After every step the
allocator's books must balance and its promises hold:

- an agent is never over-allocated (available + holdings == total, exactly);
- reserved resources are offered only to their role or its sub-roles;
- a quota limit is never exceeded by an allocation;
- no offer goes to a framework that may not have it (suppressed, inactive,
  unsubscribed, or filtering it), nor from an inactive agent;
- the incremental sorters and role-tree sums equal a from-scratch recount.

Separate properties check the fairness results: guarantees are met when the
cluster can meet them, equal demand ends within one task's share, and
doubling a weight doubles the share.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from master.allocator import Allocation, HierarchicalAllocator
from master.allocator._resources import scalar_quantities
from master.allocator.quantities import add_into
from master.allocator.sorter import dominant_share
from zmesos.resources import DYNAMIC, ReservationInfo, Resources, role_ancestors

R = Resources.parse
ROLES = ["*", "db", "eng", "eng/web", "ops", "ads"]
RESERVATION_ROLES = ["db", "eng", "eng/web"]
# Quota goes on top-level roles only (as in Mesos); `eng`'s limit still caps `eng/web`.
QUOTA_ROLES = [role for role in ROLES if "/" not in role]
# Roles that may get a limit never get reservations, so the limit binds allocations alone.
LIMITED_ROLES = ["ops", "ads"]


def agent_resources() -> st.SearchStrategy[Resources]:
    @st.composite
    def build(draw: st.DrawFn) -> Resources:
        cpus = draw(st.integers(1, 8))
        mem = draw(st.integers(1, 32)) * 128
        text = f"cpus:{cpus};mem:{mem};disk:{draw(st.integers(0, 4)) * 1024}"
        if draw(st.booleans()):
            low = draw(st.integers(31000, 31900))
            text += f";ports:[{low}-{low + draw(st.integers(0, 99))}]"
        if draw(st.booleans()):
            role = draw(st.sampled_from(RESERVATION_ROLES))
            text += f";cpus({role}):{draw(st.integers(1, 4))};mem({role}):256"
        return R(text)

    return build()


class AllocatorMachine(RuleBasedStateMachine):
    """A random master driving one allocator."""

    agents = Bundle("agents")
    frameworks = Bundle("frameworks")

    def __init__(self) -> None:
        super().__init__()
        self.allocator = HierarchicalAllocator(random_seed=0)
        self.now = 0.0
        self.counter = 0
        self.outstanding: list[Allocation] = []
        self.limits: dict[str, dict[str, float]] = {}

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def drop_outstanding(self, agent_id: str | None = None, framework_id: str | None = None):
        self.outstanding = [
            offer
            for offer in self.outstanding
            if offer.agent_id != agent_id and offer.framework_id != framework_id
        ]

    # ------------------------------------------------------------------ a cluster to start with

    @initialize(target=agents, totals=st.lists(agent_resources(), min_size=2, max_size=5))
    def initial_agents(self, totals: list[Resources]):
        agent_ids = [self.fresh("agent") for _ in totals]
        for agent_id, total in zip(agent_ids, totals, strict=True):
            self.allocator.add_agent(agent_id, total)
        return multiple(*agent_ids)

    @initialize(
        target=frameworks,
        roles=st.lists(
            st.sets(st.sampled_from(ROLES), min_size=1, max_size=3), min_size=2, max_size=5
        ),
    )
    def initial_frameworks(self, roles: list[set[str]]):
        framework_ids = [self.fresh("framework") for _ in roles]
        for framework_id, wanted in zip(framework_ids, roles, strict=True):
            self.allocator.add_framework(framework_id, sorted(wanted))
        return multiple(*framework_ids)

    # ------------------------------------------------------------------ agents

    @rule(target=agents, total=agent_resources(), active=st.booleans())
    def add_agent(self, total: Resources, active: bool) -> str:
        agent_id = self.fresh("agent")
        self.allocator.add_agent(agent_id, total, active=active)
        return agent_id

    @rule(agent_id=consumes(agents))
    def remove_agent(self, agent_id: str) -> None:
        self.allocator.remove_agent(agent_id)
        self.drop_outstanding(agent_id=agent_id)

    @rule(agent_id=agents, active=st.booleans())
    def toggle_agent(self, agent_id: str, active: bool) -> None:
        if active:
            self.allocator.activate_agent(agent_id)
        else:
            self.allocator.deactivate_agent(agent_id)

    # ------------------------------------------------------------------ frameworks

    @rule(
        target=frameworks,
        roles=st.sets(st.sampled_from(ROLES), min_size=1, max_size=3),
        active=st.booleans(),
    )
    def add_framework(self, roles: set[str], active: bool) -> str:
        framework_id = self.fresh("framework")
        self.allocator.add_framework(framework_id, sorted(roles), active=active)
        return framework_id

    @rule(framework_id=consumes(frameworks))
    def remove_framework(self, framework_id: str) -> None:
        self.allocator.remove_framework(framework_id)
        self.drop_outstanding(framework_id=framework_id)

    @rule(framework_id=frameworks, active=st.booleans())
    def toggle_framework(self, framework_id: str, active: bool) -> None:
        if active:
            self.allocator.activate_framework(framework_id)
        else:
            self.allocator.deactivate_framework(framework_id)

    @rule(framework_id=frameworks, role=st.sampled_from(ROLES), revive=st.booleans())
    def suppress_or_revive(self, framework_id: str, role: str, revive: bool) -> None:
        if revive:
            self.allocator.revive(framework_id, [role], now=self.now)
        else:
            self.allocator.suppress(framework_id, [role])

    @rule(framework_id=frameworks, roles=st.sets(st.sampled_from(ROLES), min_size=1, max_size=3))
    def update_framework(self, framework_id: str, roles: set[str]) -> None:
        self.allocator.update_framework(framework_id, sorted(roles))

    # ------------------------------------------------------------------ policy

    @rule(role=st.sampled_from(ROLES), weight=st.sampled_from([0.5, 1.0, 2.0, 3.0]))
    def set_weight(self, role: str, weight: float) -> None:
        self.allocator.set_weight(role, weight)

    @rule(
        role=st.sampled_from(QUOTA_ROLES),
        cpus=st.integers(0, 6),
        mem=st.integers(0, 8),
        limited=st.booleans(),
    )
    def set_quota(self, role: str, cpus: int, mem: int, limited: bool) -> None:
        guarantee: dict[str, float] = {"cpus": cpus, "mem": mem * 256}
        limit: dict[str, float] | None = None
        if limited and role in LIMITED_ROLES:
            limit = {"cpus": cpus + 2, "mem": mem * 256 + 512}
            self.limits[role] = limit
        else:
            self.limits.pop(role, None)
        self.allocator.set_quota(role, guarantee=guarantee, limit=limit)

    @rule(role=st.sampled_from(QUOTA_ROLES))
    def remove_quota(self, role: str) -> None:
        self.allocator.remove_quota(role)
        self.limits.pop(role, None)

    # ------------------------------------------------------------------ time and offers

    @rule(seconds=st.sampled_from([0.5, 1.0, 5.0, 30.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def allocate(self) -> None:
        allocator = self.allocator
        before = {
            agent_id: (agent.active, agent.available)
            for agent_id, agent in allocator.agents.items()
        }
        consumed_before = {role: allocator.consumed_quota(role) for role in self.limits}
        offers = allocator.allocate(self.now)
        # A limit set below what a role already consumes revokes nothing; it
        # only stops the allocator from adding more.
        for role, limit in self.limits.items():
            consumed = allocator.consumed_quota(role)
            for name, amount in limit.items():
                ceiling = max(amount, consumed_before[role].get(name, 0.0))
                assert consumed.get(name, 0.0) <= ceiling + 1e-6, (role, consumed, limit)
        for offer in offers:
            framework = allocator.frameworks[offer.framework_id]
            assert framework.offerable_in(offer.role), offer
            active, available = before[offer.agent_id]
            assert active, offer
            assert available.contains(offer.resources), offer
            allowed = {offer.role, *role_ancestors(offer.role)}
            for resource in offer.resources:
                assert resource.role == "*" or resource.role in allowed, offer
            assert not allocator.filters.is_filtered(
                offer.framework_id, offer.role, offer.agent_id, offer.resources, self.now
            ), offer
        self.outstanding.extend(offers)

    @precondition(lambda self: self.outstanding)
    @rule(index=st.integers(0, 1000), refuse=st.sampled_from([None, 0.0, 2.0, 1e6]))
    def decline(self, index: int, refuse: float | None) -> None:
        offer = self.outstanding.pop(index % len(self.outstanding))
        self.allocator.recover_resources(
            offer.framework_id,
            offer.agent_id,
            offer.resources,
            refuse_seconds=refuse,
            now=self.now,
            role=offer.role,
        )

    @precondition(lambda self: self.outstanding)
    @rule(index=st.integers(0, 1000), cpus=st.integers(0, 2))
    def launch(self, index: int, cpus: int) -> None:
        """Keep a task's worth (some cpus, all ports), return the rest unfiltered."""
        offer = self.outstanding.pop(index % len(self.outstanding))
        task = Resources(
            resource
            for resource in offer.resources
            if resource.name == "ports" or (resource.name == "cpus" and not resource.reservations)
        )
        task = task - R(f"cpus:{max(0.0, task.cpus - cpus)}")
        self.allocator.recover_resources(
            offer.framework_id,
            offer.agent_id,
            offer.resources - task,
            now=self.now,
            role=offer.role,
        )

    @rule(agent_id=agents, data=st.data())
    def finish_task(self, agent_id: str, data: st.DataObject) -> None:
        """Return one holding that is not an outstanding offer (a task ended)."""
        agent = self.allocator.agents[agent_id]
        pending = {(o.framework_id, o.role) for o in self.outstanding if o.agent_id == agent_id}
        holdings = [
            (framework_id, role, resources)
            for (framework_id, role), resources in agent.allocations.items()
            if (framework_id, role) not in pending
        ]
        if not holdings:
            return
        framework_id, role, resources = data.draw(st.sampled_from(holdings))
        self.allocator.recover_resources(framework_id, agent_id, resources, now=self.now, role=role)

    @precondition(lambda self: self.outstanding)
    @rule(index=st.integers(0, 1000))
    def reserve(self, index: int) -> None:
        """RESERVE one unreserved cpu of an offer for the offer's role."""
        offer = self.outstanding[index % len(self.outstanding)]
        if offer.role not in RESERVATION_ROLES or offer.resources.unreserved().cpus < 1:
            return
        consumed = R("cpus:1")
        converted = consumed.pushed(ReservationInfo(DYNAMIC, offer.role, "ops"))
        self.allocator.update_allocation(
            offer.framework_id, offer.agent_id, consumed, converted, role=offer.role
        )
        self.outstanding.remove(offer)
        self.outstanding.append(
            Allocation(
                offer.framework_id,
                offer.agent_id,
                offer.role,
                offer.resources - consumed + converted,
            )
        )

    # ------------------------------------------------------------------ invariants

    @invariant()
    def agents_balance(self) -> None:
        for agent in self.allocator.agents.values():
            held = Resources()
            for resources in agent.allocations.values():
                held = held + resources
            assert sum(agent.holders.values()) == len(agent.allocations)
            assert agent.available + held == agent.total, agent.id
            assert agent.available_amounts == _rounded(scalar_quantities(agent.available))

    @invariant()
    def books_match_a_recount(self) -> None:
        allocator = self.allocator
        by_role: dict[str, dict[str, float]] = {}
        by_framework_role: dict[tuple[str, str], dict[str, float]] = {}
        for agent in allocator.agents.values():
            for (framework_id, role), resources in agent.allocations.items():
                amounts = scalar_quantities(resources)
                add_into(by_framework_role.setdefault((framework_id, role), {}), amounts)
                for name in (role, *role_ancestors(role)):
                    add_into(by_role.setdefault(name, {}), amounts)
        for node in allocator.roles.nodes():
            assert _rounded(node.allocation) == _rounded(by_role.get(node.name, {})), node
        for framework in allocator.frameworks.values():
            for role, amounts in framework.allocation.items():
                expected = by_framework_role.get((framework.id, role), {})
                assert _rounded(amounts) == _rounded(expected), (framework, role)
        totals = allocator.totals.fair_amounts
        for node in [allocator.roles.root, *allocator.roles.nodes()]:
            for sorter in (node.sorter, node.frameworks):
                order = sorter.order()
                assert order == sorted(order)
                for share, _, name in order:
                    client = sorter._clients[name]
                    fresh = dominant_share(client.allocation, totals) / client.weight
                    assert abs(share - fresh) < 1e-9


def _rounded(amounts: dict[str, float]) -> dict[str, float]:
    return {name: round(amount, 3) for name, amount in amounts.items() if round(amount, 3)}


AllocatorMachine.TestCase.settings = settings(
    max_examples=80, stateful_step_count=50, deadline=None
)
test_allocator_random_event_sequences_keep_every_invariant = AllocatorMachine.TestCase


# ---------------------------------------------------------------------------- fairness


@settings(max_examples=40, deadline=None)
@given(
    agents=st.lists(st.tuples(st.integers(1, 16), st.integers(1, 64)), min_size=1, max_size=25),
    guarantees=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 16)), max_size=4),
    seed=st.integers(0, 2**16),
)
def test_allocator_quota_guarantee_is_met_whenever_the_cluster_can(agents, guarantees, seed):
    allocator = HierarchicalAllocator(random_seed=seed)
    total_cpus = sum(cpus for cpus, _ in agents)
    total_mem = sum(mem * 32 for _, mem in agents)
    wanted = [(cpus, mem * 32) for cpus, mem in guarantees]
    # Keep only guarantees the cluster can meet together.
    feasible = []
    for cpus, mem in wanted:
        if (
            cpus + sum(c for c, _ in feasible) <= total_cpus
            and mem + sum(m for _, m in feasible) <= total_mem
        ):
            feasible.append((cpus, mem))
    allocator.add_framework("greedy", ["greedy"])
    for index, (cpus, mem) in enumerate(feasible):
        allocator.set_quota(f"quota{index}", guarantee={"cpus": cpus, "mem": mem})
        allocator.add_framework(f"framework{index}", [f"quota{index}"])
    for index, (cpus, mem) in enumerate(agents):
        allocator.add_agent(f"agent{index}", R(f"cpus:{cpus};mem:{mem * 32}"))
    allocator.allocate(0)
    for index, (cpus, mem) in enumerate(feasible):
        consumed = allocator.consumed_quota(f"quota{index}")
        assert consumed.get("cpus", 0.0) >= cpus - 1e-9
        assert consumed.get("mem", 0.0) >= mem - 1e-9


@settings(max_examples=40, deadline=None)
@given(
    frameworks=st.integers(2, 6),
    agents=st.integers(6, 60),
    separate_roles=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_allocator_equal_demand_ends_within_one_task_of_equal_shares(
    frameworks, agents, separate_roles, seed
):
    allocator = HierarchicalAllocator(random_seed=seed)
    for index in range(agents):
        allocator.add_agent(f"agent{index}", R("cpus:1;mem:256"))
    names = [f"framework{index}" for index in range(frameworks)]
    for index, name in enumerate(names):
        allocator.add_framework(name, [f"role{index}" if separate_roles else "shared"])
    allocator.allocate(0)
    shares = [allocator.framework_share(name) for name in names]
    assert sum(allocator.allocated(name).__len__() for name in names) == agents
    assert max(shares) - min(shares) <= 1 / agents + 1e-9


@settings(max_examples=40, deadline=None)
@given(
    agents=st.integers(9, 90),
    weight=st.sampled_from([0.5, 1.0, 1.5, 3.0]),
    seed=st.integers(0, 2**16),
)
def test_allocator_doubling_a_roles_weight_doubles_its_share(agents, weight, seed):
    allocator = HierarchicalAllocator(random_seed=seed)
    for index in range(agents):
        allocator.add_agent(f"agent{index}", R("cpus:1;mem:256"))
    allocator.add_framework("light", ["light"])
    allocator.add_framework("heavy", ["heavy"])
    allocator.set_weight("light", weight)
    allocator.set_weight("heavy", 2 * weight)
    allocator.allocate(0)
    light = len(allocator.allocated("light"))
    heavy = len(allocator.allocated("heavy"))
    assert light + heavy == agents
    # At equilibrium heavy holds twice light, within one task of either side.
    assert abs(heavy - 2 * light) <= 2
    # Weighted shares end within one task of each other: a task adds 1 / (agents * weight).
    step = 1 / (agents * weight)
    assert abs(allocator.role_share("heavy") - allocator.role_share("light")) <= step + 1e-9
