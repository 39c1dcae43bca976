"""Scenario tests of the hierarchical allocator, written from Mesos's semantics.

Each test drives the allocator by hand: add agents and frameworks, run a
cycle with `allocate(now)`, and answer offers by keeping, recovering or
declining them, as the master would.
"""

from __future__ import annotations

import pytest

from master.allocator import (
    FILTERED,
    HEADROOM,
    INCAPABLE,
    NOT_ALLOCATABLE,
    AccountingError,
    Allocation,
    AllocatorError,
    HierarchicalAllocator,
)
from zmesos.resources import DYNAMIC, ReservationInfo, Resources

R = Resources.parse
LONG = 1e9


def by_framework(offers: list[Allocation]) -> dict[str, Resources]:
    """Offered resources summed per framework."""
    result: dict[str, Resources] = {}
    for offer in offers:
        result[offer.framework_id] = result.get(offer.framework_id, Resources()) + offer.resources
    return result


def only(offers: list[Allocation]) -> Allocation:
    assert len(offers) == 1, offers
    return offers[0]


def decline_all(
    allocator: HierarchicalAllocator, offers: list[Allocation], now: float, refuse: float = LONG
) -> None:
    for offer in offers:
        allocator.recover_resources(
            offer.framework_id,
            offer.agent_id,
            offer.resources,
            refuse_seconds=refuse,
            now=now,
            role=offer.role,
        )


# ---------------------------------------------------------------------------- DRF


def test_allocator_drf_paper_example_gives_a_three_tasks_and_b_two():
    """Ghodsi et al., NSDI 2011, section 4.

    9 CPUs and 18 GB; user A's tasks need <1 CPU, 4 GB>, user B's <3 CPUs, 1 GB>.
    """
    allocator = HierarchicalAllocator(random_seed=7)
    allocator.add_agent("agent", R("cpus:9;mem:18432"))
    task = {"A": R("cpus:1;mem:4096"), "B": R("cpus:3;mem:1024")}
    allocator.add_framework("A", ["user-a"])
    allocator.add_framework("B", ["user-b"])
    launched = {"A": 0, "B": 0}
    now = 0.0
    for _ in range(20):
        now += 1.0
        offers = allocator.allocate(now)
        if not offers:
            break
        for offer in offers:
            need = task[offer.framework_id]
            if offer.resources.contains(need):
                launched[offer.framework_id] += 1
                left = offer.resources - need  # the task keeps `need`
                refuse = None
            else:
                left, refuse = offer.resources, LONG  # cannot use it: decline
            allocator.recover_resources(
                offer.framework_id,
                offer.agent_id,
                left,
                refuse_seconds=refuse,
                now=now,
                role=offer.role,
            )
    assert launched == {"A": 3, "B": 2}
    # Both end on a dominant share of 2/3: A's memory (12 of 18 GB), B's cpus (6 of 9).
    assert allocator.role_share("user-a") == pytest.approx(2 / 3, abs=1e-3)
    assert allocator.role_share("user-b") == pytest.approx(2 / 3, abs=1e-3)


def test_allocator_unreserved_drf_offers_each_new_agent_to_the_lowest_share_role():
    """Mesos's HierarchicalAllocatorTest.UnreservedDRF, step by step."""
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_agent("agent1", R("cpus:2;mem:1024"))
    allocator.add_framework("framework1", ["role1"])
    assert only(allocator.allocate(0)).framework_id == "framework1"

    allocator.add_framework("framework2", ["role2"])
    allocator.add_agent("agent2", R("cpus:1;mem:512"))
    assert only(allocator.allocate(1, ["agent2"])).framework_id == "framework2"

    allocator.add_agent("agent3", R("cpus:3;mem:2048"))
    assert only(allocator.allocate(2, ["agent3"])).framework_id == "framework2"

    allocator.add_framework("framework3", ["role1"])
    allocator.add_agent("agent4", R("cpus:4;mem:4096"))
    assert only(allocator.allocate(3, ["agent4"])).framework_id == "framework3"

    # framework4 holds nothing, but role2's share is below role1's.
    allocator.add_framework("framework4", ["role1"])
    allocator.add_agent("agent5", R("cpus:1;mem:512"))
    assert only(allocator.allocate(4, ["agent5"])).framework_id == "framework2"


def test_allocator_reserved_resources_count_toward_share_and_go_only_to_their_role():
    """Mesos's HierarchicalAllocatorTest.ReservedDRF."""
    allocator = HierarchicalAllocator(random_seed=1)
    agent1 = R("cpus:1;mem:512;cpus(role1):100;mem(role1):1024")
    allocator.add_agent("agent1", agent1)
    allocator.add_framework("framework1", ["role1"])
    offer = only(allocator.allocate(0))
    assert (offer.framework_id, offer.resources) == ("framework1", agent1)

    allocator.add_framework("framework2", ["role2"])
    allocator.add_agent("agent2", R("cpus:2;mem:512"))
    assert only(allocator.allocate(1)).framework_id == "framework2"
    allocator.add_agent("agent3", R("cpus:2;mem:512"))
    assert only(allocator.allocate(2)).framework_id == "framework2"

    # A reservation of role1 goes to role1's framework with the lowest share.
    allocator.add_framework("framework3", ["role1"])
    allocator.add_agent("agent4", R("cpus(role1):2;mem(role1):1024"))
    offer = only(allocator.allocate(3))
    assert (offer.framework_id, offer.role) == ("framework3", "role1")


def test_allocator_reservations_never_reach_other_roles():
    allocator = HierarchicalAllocator(random_seed=3)
    allocator.add_framework("outsider", ["ads"])
    allocator.add_agent("agent", R("cpus(db):4;mem(db):2048;cpus:1;mem:256"))
    offer = only(allocator.allocate(0))
    assert offer.framework_id == "outsider"
    assert offer.resources == R("cpus:1;mem:256")
    assert allocator.available("agent") == R("cpus(db):4;mem(db):2048")
    # Nobody of role db: the reservation stays unoffered however often we ask.
    assert allocator.allocate(1) == []
    allocator.add_framework("insider", ["db"])
    offer = only(allocator.allocate(2))
    assert (offer.framework_id, offer.role) == ("insider", "db")
    assert offer.resources == R("cpus(db):4;mem(db):2048")


def test_allocator_weights_split_the_cluster_in_proportion():
    allocator = HierarchicalAllocator(random_seed=5)
    for index in range(6):
        allocator.add_agent(f"agent{index}", R("cpus:2;mem:1024"))
    allocator.add_framework("framework1", ["role1"])
    allocator.add_framework("framework2", ["role2"])
    allocator.set_weight("role2", 2.0)
    offered = by_framework(allocator.allocate(0))
    assert offered["framework1"] == R("cpus:4;mem:2048")
    assert offered["framework2"] == R("cpus:8;mem:4096")
    assert allocator.role_share("role1") == pytest.approx(allocator.role_share("role2"))


def test_allocator_subroles_share_their_parents_portion():
    allocator = HierarchicalAllocator(random_seed=2)
    for index in range(12):
        allocator.add_agent(f"agent{index}", R("cpus:1;mem:256"))
    allocator.add_framework("web", ["eng/web"])
    allocator.add_framework("db", ["eng/db"])
    allocator.add_framework("ops", ["ops"])
    offered = by_framework(allocator.allocate(0))
    assert offered["ops"].cpus == 6
    assert offered["web"].cpus == 3
    assert offered["db"].cpus == 3


def test_allocator_subrole_weights_apply_within_the_parent():
    allocator = HierarchicalAllocator(random_seed=2)
    for index in range(12):
        allocator.add_agent(f"agent{index}", R("cpus:1;mem:256"))
    allocator.add_framework("web", ["eng/web"])
    allocator.add_framework("db", ["eng/db"])
    allocator.add_framework("ops", ["ops"])
    allocator.set_weight("eng/web", 2.0)
    offered = by_framework(allocator.allocate(0))
    assert (offered["ops"].cpus, offered["web"].cpus, offered["db"].cpus) == (6, 4, 2)


def test_allocator_parent_role_frameworks_compete_with_its_subroles():
    allocator = HierarchicalAllocator(random_seed=2)
    for index in range(8):
        allocator.add_agent(f"agent{index}", R("cpus:1;mem:256"))
    allocator.add_framework("parent", ["eng"])
    allocator.add_framework("child", ["eng/web"])
    allocator.add_framework("other", ["ops"])
    offered = by_framework(allocator.allocate(0))
    assert (offered["other"].cpus, offered["parent"].cpus, offered["child"].cpus) == (4, 2, 2)


def test_allocator_reservation_to_a_parent_is_offered_to_its_subroles():
    allocator = HierarchicalAllocator(random_seed=2)
    allocator.add_framework("web", ["eng/web"])
    allocator.add_framework("ops", ["ops"])
    allocator.add_agent("agent", R("cpus(eng):4;mem(eng):1024"))
    offer = only(allocator.allocate(0))
    assert (offer.framework_id, offer.role) == ("web", "eng/web")


def test_allocator_frameworks_within_a_role_share_by_drf():
    allocator = HierarchicalAllocator(random_seed=4)
    for index in range(10):
        allocator.add_agent(f"agent{index}", R("cpus:1;mem:128"))
    for name in ("f1", "f2"):
        allocator.add_framework(name, ["shared"])
    offered = by_framework(allocator.allocate(0))
    assert offered["f1"].cpus == offered["f2"].cpus == 5


def test_allocator_frameworks_declining_the_same_agent_each_get_it_in_turn():
    """Equal shares break by allocation count (Mesos's DRF sorter), not by name alone."""
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f1", ["r"])
    allocator.add_framework("f2", ["r"])
    allocator.add_agent("agent", R("cpus:1;mem:512"))
    winners = []
    for now in range(4):
        offer = only(allocator.allocate(now))
        winners.append(offer.framework_id)
        decline_all(allocator, [offer], now, refuse=0)
    assert winners == ["f1", "f2", "f1", "f2"]


def test_allocator_roles_declining_the_same_agent_each_get_it_in_turn():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f1", ["a"])
    allocator.add_framework("f2", ["b"])
    allocator.add_framework("f3", ["c/web"])
    allocator.add_agent("agent", R("cpus:1;mem:512"))
    winners = []
    for now in range(6):
        offer = only(allocator.allocate(now))
        winners.append(offer.role)
        decline_all(allocator, [offer], now, refuse=0)
    assert winners == ["a", "b", "c/web", "a", "b", "c/web"]


def test_allocator_fair_sharing_excluded_resources_stay_out_of_dominant_shares():
    """Mesos's --fair_sharing_excluded_resource_names: gpus do not make a share dominant."""

    def next_agent_goes_to(excluded: tuple[str, ...]) -> str:
        allocator = HierarchicalAllocator(
            fair_sharing_excluded_resource_names=excluded, random_seed=1
        )
        allocator.add_framework("gpu_user", ["ml"], capabilities=["GPU_RESOURCES"])
        allocator.add_framework("cpu_user", ["web"])
        gpu_agent = R("cpus:1;mem:512;gpus:4")
        allocator.add_agent("gpu", gpu_agent, used={"gpu_user": gpu_agent})
        allocator.add_agent("plain", R("cpus:2;mem:1024"), used={"cpu_user": R("cpus:2;mem:1024")})
        allocator.add_agent("new", R("cpus:1;mem:512"))
        return only(allocator.allocate(0)).framework_id

    # Counting gpus, gpu_user's share is 4/4 against cpu_user's 2/4 cpus.
    assert next_agent_goes_to(()) == "cpu_user"
    # Without them gpu_user's dominant share is 1/4 cpus.
    assert next_agent_goes_to(("gpus",)) == "gpu_user"


# ---------------------------------------------------------------------------- frameworks


def test_allocator_multi_role_framework_gets_offers_per_role_and_suppresses_per_role():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("multi", ["a", "b"])
    allocator.add_agent("agent1", R("cpus(a):1;mem(a):256"))
    allocator.add_agent("agent2", R("cpus(b):1;mem(b):256"))
    offers = allocator.allocate(0)
    assert sorted((offer.agent_id, offer.role) for offer in offers) == [
        ("agent1", "a"),
        ("agent2", "b"),
    ]
    decline_all(allocator, offers, 0, refuse=0)
    allocator.suppress("multi", ["a"])
    offer = only(allocator.allocate(1))
    assert (offer.agent_id, offer.role) == ("agent2", "b")
    allocator.revive("multi", ["a"], now=2)
    assert {offer.role for offer in allocator.allocate(2)} == {"a"}


def test_allocator_suppressed_framework_gets_nothing_until_revived():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"], suppressed_roles=["r"])
    allocator.add_agent("agent", R("cpus:1;mem:256"))
    assert allocator.allocate(0) == []
    allocator.revive("f", now=1)
    assert only(allocator.allocate(1)).framework_id == "f"


def test_allocator_inactive_framework_gets_nothing_and_its_filters_go():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"])
    allocator.add_agent("agent", R("cpus:1;mem:256"))
    decline_all(allocator, allocator.allocate(0), 0)
    allocator.deactivate_framework("f")
    assert allocator.allocate(1) == []
    allocator.activate_framework("f")
    assert only(allocator.allocate(2)).framework_id == "f"


def test_allocator_update_framework_moves_it_to_new_roles():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["old"])
    allocator.add_agent("agent", R("cpus(new):1;mem(new):256"))
    assert allocator.allocate(0) == []
    allocator.update_framework("f", ["new"])
    assert only(allocator.allocate(1)).role == "new"


def test_allocator_remove_framework_returns_its_resources():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("first", ["r"])
    allocator.add_agent("agent", R("cpus:2;mem:512"))
    assert only(allocator.allocate(0)).framework_id == "first"
    allocator.add_framework("second", ["r"])
    assert allocator.allocate(1) == []
    allocator.remove_framework("first")
    offer = only(allocator.allocate(2))
    assert (offer.framework_id, offer.resources) == ("second", R("cpus:2;mem:512"))
    with pytest.raises(AllocatorError):
        allocator.suppress("first")


def test_allocator_holdings_of_unknown_frameworks_count_until_they_reregister():
    """After a master failover agents report tasks of frameworks not yet back."""
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("present", ["r"])
    allocator.add_agent("agent1", R("cpus:4;mem:1024"), used={"returning": R("cpus:3;mem:768")})
    offer = only(allocator.allocate(0))
    assert (offer.framework_id, offer.resources) == ("present", R("cpus:1;mem:256"))
    # Re-registering with the same holdings does not count them twice.
    allocator.add_framework("returning", ["r"], used={"agent1": R("cpus:3;mem:768")})
    assert allocator.allocated("returning") == {"agent1": R("cpus:3;mem:768")}
    assert allocator.framework_share("returning") == pytest.approx(0.75)
    allocator.recover_resources("returning", "agent1", R("cpus:3;mem:768"), now=1)
    assert only(allocator.allocate(1)).framework_id == "returning"


# ---------------------------------------------------------------------------- filters


def test_allocator_declined_offer_is_filtered_until_it_expires():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"])
    allocator.add_agent("agent", R("cpus:1;mem:512"))
    decline_all(allocator, allocator.allocate(0), now=0, refuse=10)
    assert allocator.allocate(5) == []
    assert allocator.metrics.last_rejection["f"] == FILTERED
    assert allocator.metrics.rejections[FILTERED] >= 1
    assert only(allocator.allocate(10)).framework_id == "f"


def test_allocator_short_filter_lasts_until_a_batch_allocation_has_run():
    """MESOS-4302: a filter shorter than the allocation interval outlives the next batch.

    Without it the framework that declined is offered the same agent again at
    the next batch, ahead of the others.
    """
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f1", ["r"])
    allocator.add_framework("f2", ["r"])
    # f2 holds an agent's worth elsewhere, so f1 (share 0) comes first.
    allocator.add_agent("held", R("cpus:1;mem:512"), used={"f2": R("cpus:1;mem:512")})
    allocator.add_agent("agent", R("cpus:1;mem:512"))
    offer = only(allocator.allocate(0))
    assert offer.framework_id == "f1"
    decline_all(allocator, [offer], now=0, refuse=0.5)
    # The next batch is the first since the filter was installed: it still holds.
    offer = only(allocator.allocate(1.0))
    assert offer.framework_id == "f2"
    decline_all(allocator, [offer], now=1.0, refuse=0)
    # A batch has run since: the filter is gone, in any later run.
    offer = only(allocator.allocate(1.5, batch=False))
    assert offer.framework_id == "f1"
    assert len(allocator.filters) == 0
    # Runs after events are not batches: a new short filter holds past its time through them.
    decline_all(allocator, [offer], now=1.5, refuse=0.1)
    offer = only(allocator.allocate(1.8, batch=False))
    assert offer.framework_id == "f2"
    decline_all(allocator, [offer], now=1.8, refuse=0)
    assert only(allocator.allocate(1.9, batch=False)).framework_id == "f2"


def test_allocator_filter_passes_an_offer_larger_than_what_was_declined():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"])
    allocator.add_agent("agent", R("cpus:2;mem:512"))
    offer = only(allocator.allocate(0))
    # Keep one cpu for a task, decline the rest for long.
    allocator.recover_resources(
        "f", "agent", R("cpus:1;mem:512"), refuse_seconds=LONG, now=0, role="r"
    )
    assert allocator.allocate(1) == []
    # The task ends: the agent now has more than was declined, so the offer passes.
    allocator.recover_resources("f", "agent", offer.resources - R("cpus:1;mem:512"), now=2)
    assert only(allocator.allocate(2)).resources == R("cpus:2;mem:512")


def test_allocator_declined_agent_goes_to_the_next_framework_and_revive_clears_filters():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f1", ["r"])
    allocator.add_framework("f2", ["r"])
    allocator.add_agent("agent", R("cpus:1;mem:512"))
    first = only(allocator.allocate(0))
    decline_all(allocator, [first], now=0)
    second = only(allocator.allocate(1))
    assert second.framework_id != first.framework_id
    decline_all(allocator, [second], now=1)
    assert allocator.allocate(2) == []
    allocator.revive(first.framework_id, now=3)
    assert only(allocator.allocate(3)).framework_id == first.framework_id


def test_allocator_agent_refused_by_every_framework_returns_when_anything_changes():
    """An agent every framework declined is skipped cheaply, but only while nothing changes."""
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f1", ["r"])
    allocator.add_framework("f2", ["r"])
    allocator.add_agent("agent", R("cpus:1;mem:512"))
    decline_all(allocator, allocator.allocate(0), now=0, refuse=100)
    decline_all(allocator, allocator.allocate(1), now=1, refuse=100)
    assert allocator.allocate(2) == []
    assert allocator.allocate(3) == []  # skipped on the remembered refusal
    # A new framework in the role changes who may take it.
    allocator.add_framework("f3", ["r"])
    offer = only(allocator.allocate(4))
    assert offer.framework_id == "f3"
    decline_all(allocator, [offer], now=4, refuse=10)
    assert allocator.allocate(5) == []
    # The earliest filter expiring ends the refusal.
    offer = only(allocator.allocate(14))
    assert offer.framework_id == "f3"
    decline_all(allocator, [offer], now=14, refuse=100)
    assert allocator.allocate(15) == []
    # So does reviving one framework.
    allocator.revive("f2", now=16)
    assert only(allocator.allocate(16)).framework_id == "f2"


def test_allocator_filters_apply_per_role():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["a", "b"])
    allocator.add_agent("agent", R("cpus:1;mem:512"))
    offer = only(allocator.allocate(0))
    decline_all(allocator, [offer], now=0)
    other = only(allocator.allocate(1))
    assert other.role != offer.role


def test_allocator_expired_filters_are_dropped():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"])
    allocator.add_agent("agent", R("cpus:1;mem:512"))
    decline_all(allocator, allocator.allocate(0), now=0, refuse=5)
    assert len(allocator.filters) == 1
    assert allocator.next_filter_expiry() == 5
    # Past its time, a filter still waits for a batch allocation (MESOS-4302).
    assert allocator.expire_filters(6) == 0
    assert allocator.allocate(1) == []
    assert allocator.expire_filters(4.9) == 0
    assert allocator.expire_filters(5) == 1
    assert len(allocator.filters) == 0
    assert allocator.next_filter_expiry() is None


# ---------------------------------------------------------------------------- agents


def test_allocator_min_allocatable_keeps_crumbs_back():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"])
    allocator.add_agent("crumbs", R("cpus:0.005;mem:16;disk:100"))
    allocator.add_agent("cpu_only", R("cpus:0.5;mem:8"))
    allocator.add_agent("mem_only", R("cpus:0.001;mem:64"))
    offers = allocator.allocate(0)
    assert sorted(offer.agent_id for offer in offers) == ["cpu_only", "mem_only"]


def test_allocator_custom_min_allocatable():
    allocator = HierarchicalAllocator(min_allocatable=[{"cpus": 1, "mem": 512}], random_seed=1)
    allocator.add_framework("f", ["r"])
    allocator.add_agent("small", R("cpus:2;mem:256"))
    allocator.add_agent("big", R("cpus:2;mem:1024"))
    assert only(allocator.allocate(0)).agent_id == "big"


def test_allocator_gpu_agents_go_only_to_gpu_capable_frameworks():
    """MESOS-5634: an agent with gpus is offered only to frameworks with GPU_RESOURCES."""
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("plain", ["a"])
    allocator.add_agent("gpu", R("cpus:4;mem:1024;gpus:1"))
    assert allocator.allocate(0) == []
    assert allocator.metrics.last_rejection["plain"] == INCAPABLE
    allocator.add_framework("ml", ["b"], capabilities=["GPU_RESOURCES"])
    offer = only(allocator.allocate(1))
    assert (offer.framework_id, offer.resources) == ("ml", R("cpus:4;mem:1024;gpus:1"))
    # A framework that gains the capability is offered gpu agents from then on.
    allocator.recover_resources("ml", "gpu", offer.resources, refuse_seconds=LONG, now=1)
    allocator.update_framework("plain", ["a"], capabilities=["GPU_RESOURCES"])
    assert only(allocator.allocate(2)).framework_id == "plain"
    # Agents without gpus go to anyone, and the filter can be turned off.
    allocator.add_agent("cpu", R("cpus:1;mem:512"))
    allocator.add_framework("other", ["c"])
    assert only(allocator.allocate(3)).framework_id == "other"
    unfiltered = HierarchicalAllocator(filter_gpu_resources=False, random_seed=1)
    unfiltered.add_framework("plain", ["a"])
    unfiltered.add_agent("gpu", R("cpus:4;mem:1024;gpus:1"))
    assert only(unfiltered.allocate(0)).framework_id == "plain"


SHARED_VOLUME = "disk(db DYNAMIC principal=p)[s1:data principal=p]<SHARED>:500"


def test_allocator_shared_volume_stays_offerable_while_held():
    """Mesos's shared resources: a shared volume is offered again while a framework
    holds it (to SHARED_RESOURCES frameworks only), one copy an offer."""
    allocator = HierarchicalAllocator(random_seed=1)
    volume = R(SHARED_VOLUME)
    half = R("cpus(db):1;mem(db):256")
    allocator.add_agent("agent", half + half + volume)
    allocator.add_framework("a", ["db"], capabilities=["SHARED_RESOURCES"])
    first = only(allocator.allocate(0))
    assert (first.framework_id, first.resources) == ("a", half + half + volume)
    # "a" keeps half and the volume (a task uses them); the rest comes back...
    allocator.recover_resources("a", "agent", half, now=0)
    assert allocator.available("agent") == half + volume
    # ... and is offered with another copy of the volume, to "a" or to "b".
    allocator.add_framework("b", ["db"], capabilities=["SHARED_RESOURCES"])
    second = only(allocator.allocate(1))
    assert (second.framework_id, second.resources) == ("b", half + volume)
    # Every copy given back leaves one available, never more.
    allocator.recover_resources("b", "agent", second.resources, now=2)
    allocator.recover_resources("a", "agent", half + volume, now=2)
    assert allocator.allocation("a", "agent") == allocator.allocation("b", "agent") == {}
    assert allocator.available("agent") == half + half + volume


def test_allocator_shared_volume_never_reaches_frameworks_without_the_capability():
    allocator = HierarchicalAllocator(random_seed=1)
    volume = R(SHARED_VOLUME)
    allocator.add_agent("agent", R("cpus(db):2;mem(db):512") + volume)
    allocator.add_framework("plain", ["db"])
    offer = only(allocator.allocate(0))
    assert (offer.framework_id, offer.resources) == ("plain", R("cpus(db):2;mem(db):512"))
    # Only the volume is left: not enough to offer on its own (no cpus or mem).
    assert allocator.allocate(1) == []
    allocator.add_framework("aware", ["db"], capabilities=["SHARED_RESOURCES"])
    allocator.recover_resources("plain", "agent", offer.resources, refuse_seconds=LONG, now=1)
    offer = only(allocator.allocate(2))
    assert (offer.framework_id, offer.resources) == ("aware", R("cpus(db):2;mem(db):512") + volume)


def test_allocator_framework_min_allocatable_overrides_the_global_minimum():
    """FrameworkInfo.offer_filters: per role, the framework's own minimum allocatable."""
    allocator = HierarchicalAllocator(random_seed=1)
    # picky wants 4 cpus or nothing in role r; tiny takes anything in role t.
    allocator.add_framework("picky", ["r"], min_allocatable={"r": [{"cpus": 4}]})
    allocator.add_framework("tiny", ["t"], min_allocatable={"t": []})
    allocator.add_framework("plain", ["p"])
    allocator.add_agent("crumb", R("cpus:0.001;mem:1"))  # below the global minimum
    allocator.add_agent("small", R("cpus:2;mem:1024"))
    offers = {offer.agent_id: offer.framework_id for offer in allocator.allocate(0)}
    # crumb reaches only tiny (empty list: anything goes); picky never takes small.
    assert offers["crumb"] == "tiny"
    assert offers["small"] == "plain"
    assert "picky" not in offers.values()
    assert allocator.metrics.last_rejection["picky"] == NOT_ALLOCATABLE
    allocator.add_agent("big", R("cpus:4;mem:1024"))
    # Updating other settings keeps the framework's own minimum.
    allocator.update_framework("picky", ["r"], capabilities=["GPU_RESOURCES"])
    allocator.suppress("tiny")
    allocator.suppress("plain")
    assert only(allocator.allocate(1)).framework_id == "picky"
    # Dropping the override brings the global minimum back.
    allocator.update_framework("tiny", ["t"], min_allocatable={})
    allocator.revive("tiny", now=2)
    allocator.recover_resources("tiny", "crumb", R("cpus:0.001;mem:1"), now=2)
    assert [offer.agent_id for offer in allocator.allocate(2)] == []


def test_allocator_deactivated_agent_is_not_offered():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"])
    allocator.add_agent("agent", R("cpus:1;mem:512"), active=False)
    assert allocator.allocate(0) == []
    allocator.activate_agent("agent")
    assert only(allocator.allocate(1)).agent_id == "agent"
    decline_all(allocator, allocator.allocate(1), now=1, refuse=0)
    allocator.deactivate_agent("agent")
    assert allocator.allocate(2) == []


def test_allocator_remove_agent_releases_everything_held_there():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"])
    allocator.add_agent("agent1", R("cpus:2;mem:512"))
    allocator.add_agent("agent2", R("cpus:2;mem:512"))
    allocator.allocate(0)
    assert allocator.role_share("r") == pytest.approx(1.0)
    allocator.remove_agent("agent1")
    assert allocator.allocated("f") == {"agent2": R("cpus:2;mem:512")}
    assert allocator.role_share("r") == pytest.approx(1.0)
    # Returning resources of a removed agent is not an error: they went with it.
    allocator.recover_resources("f", "agent1", R("cpus:2;mem:512"), now=1)


def test_allocator_update_agent_total_keeps_holdings_and_offers_the_difference():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"])
    allocator.add_agent("agent", R("cpus:2;mem:512"), used={"f": R("cpus:1;mem:256")})
    allocator.update_agent_total("agent", R("cpus:4;mem:512"))
    assert only(allocator.allocate(0)).resources == R("cpus:3;mem:256")


def test_allocator_allocates_only_the_agents_asked_for():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"])
    for index in range(3):
        allocator.add_agent(f"agent{index}", R("cpus:1;mem:512"))
    assert only(allocator.allocate(0, ["agent1", "missing"])).agent_id == "agent1"


def test_allocator_visits_agents_in_seeded_random_order():
    def order(seed: int) -> list[str]:
        allocator = HierarchicalAllocator(random_seed=seed)
        for index in range(30):
            allocator.add_agent(f"agent{index:02}", R("cpus:1;mem:512"))
        for index in range(30):
            allocator.add_framework(f"f{index:02}", ["r"])
        # Every framework starts at share 0: names decide, so agents reveal the visit order.
        offers = allocator.allocate(0)
        return [offer.agent_id for offer in sorted(offers, key=lambda o: o.framework_id)]

    assert order(11) == order(11)
    assert order(11) != order(12)
    assert order(11) != sorted(order(11))


# ---------------------------------------------------------------------------- resources


def test_allocator_recover_checks_what_was_handed_out():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("f", ["r"])
    allocator.add_agent("agent", R("cpus:2;mem:512"))
    allocator.allocate(0)
    with pytest.raises(AccountingError):
        allocator.recover_resources("f", "agent", R("cpus:3"), now=0)
    allocator.recover_resources("f", "agent", R("cpus:1"), now=0)
    assert allocator.allocation("f", "agent") == {"r": R("cpus:1;mem:512")}
    assert allocator.available("agent") == R("cpus:1")


def test_allocator_update_allocation_reserves_for_the_role_only():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("db", ["db"])
    allocator.add_framework("web", ["web"])
    allocator.add_agent("agent", R("cpus:4;mem:1024"))
    offer = only(allocator.allocate(0))
    assert offer.framework_id == "db"
    unreserved = R("cpus:2;mem:512")
    reserved = unreserved.pushed(ReservationInfo(DYNAMIC, "db", "ops"))
    allocator.update_allocation("db", "agent", unreserved, reserved)
    assert allocator.consumed_quota("db") == {"cpus": 4.0, "mem": 1024.0}
    allocator.recover_resources("db", "agent", offer.resources - unreserved + reserved, now=1)
    allocator.suppress("db")
    # The reservation stays back for db; web gets only the unreserved rest.
    offer = only(allocator.allocate(1))
    assert (offer.framework_id, offer.resources) == ("web", R("cpus:2;mem:512"))
    assert allocator.available("agent") == reserved
    assert allocator.consumed_quota("db") == {"cpus": 2.0, "mem": 512.0}
    # Unreserving gives it back to everyone.
    allocator.revive("db", now=2)
    db_offer = only(allocator.allocate(2))
    allocator.update_allocation("db", "agent", reserved, unreserved)
    allocator.recover_resources("db", "agent", db_offer.resources - reserved + unreserved, now=2)
    assert allocator.consumed_quota("db") == {}
    assert allocator.available("agent") == unreserved


# ---------------------------------------------------------------------------- quota


def test_allocator_quota_guarantee_is_served_before_fair_share():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("quota_fw", ["quota"])
    allocator.add_framework("other_fw", ["other"])
    allocator.add_agent("agent0", R("cpus:2;mem:1024"), used={"quota_fw": R("cpus:2;mem:1024")})
    allocator.set_quota("quota", guarantee={"cpus": 3, "mem": 1536})
    allocator.add_agent("agent1", R("cpus:1;mem:512"))
    allocator.add_agent("agent2", R("cpus:1;mem:512"))
    offered = by_framework(allocator.allocate(0))
    # Without quota, `other` (share 0) would take both; the guarantee takes one first.
    assert offered == {"quota_fw": R("cpus:1;mem:512"), "other_fw": R("cpus:1;mem:512")}
    assert allocator.metrics.quota_offers == 1


def test_allocator_quota_guarantee_chops_an_agent_to_what_is_missing():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("quota_fw", ["quota"])
    allocator.add_framework("other_fw", ["other"])
    allocator.set_quota("quota", guarantee=R("cpus:1;mem:256"), limit={"cpus": 1, "mem": 256})
    allocator.add_agent("agent", R("cpus:4;mem:1024;disk:100"))
    offered = by_framework(allocator.allocate(0))
    # Unguaranteed, unlimited names (disk) come along with the guarantee.
    assert offered["quota_fw"] == R("cpus:1;mem:256;disk:100")
    assert offered["other_fw"] == R("cpus:3;mem:768")


def test_allocator_headroom_holds_back_unmet_guarantees_of_absent_roles():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.set_quota("absent", guarantee={"cpus": 2, "mem": 1024})
    allocator.add_framework("greedy", ["greedy"])
    for index in range(4):
        allocator.add_agent(f"agent{index}", R("cpus:1;mem:512"))
    offered = by_framework(allocator.allocate(0))
    assert offered["greedy"] == R("cpus:2;mem:1024")
    assert allocator.metrics.rejections[HEADROOM] >= 1
    # When the quota goes, so does the headroom.
    allocator.remove_quota("absent")
    assert by_framework(allocator.allocate(1))["greedy"] == R("cpus:2;mem:1024")


def test_allocator_quota_limit_is_never_exceeded():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("capped", ["capped"])
    allocator.set_quota("capped", limit={"cpus": 3})
    for index in range(3):
        allocator.add_agent(f"agent{index}", R("cpus:2;mem:1024"))
    offered = by_framework(allocator.allocate(0))
    assert offered["capped"].cpus == 3
    assert offered["capped"].mem == 3072  # memory is not limited
    assert allocator.allocate(1) == []
    assert allocator.consumed_quota("capped")["cpus"] == 3


def test_allocator_quota_limit_of_zero_forbids_that_resource():
    """`limits: cpus:0` means no cpus at all, not "no limit"."""
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("capped", ["capped"])
    allocator.set_quota("capped", limit={"cpus": 0})
    assert allocator.quota("capped").limit == {"cpus": 0.0}
    allocator.add_agent("agent", R("cpus:2;mem:1024"))
    offer = only(allocator.allocate(0))
    # Memory is not limited; the offer carries no zero cpus entry.
    assert offer.resources == R("mem:1024")
    assert [resource.name for resource in offer.resources] == ["mem"]
    assert allocator.consumed_quota("capped") == {"mem": 1024.0}


def test_allocator_quota_on_a_nested_role_is_refused():
    """Mesos refuses quota on nested roles ("not supported yet"); so do we."""
    allocator = HierarchicalAllocator()
    with pytest.raises(ValueError, match="nested"):
        allocator.set_quota("eng/web", guarantee={"cpus": 1})
    assert allocator.quota("eng/web") is None


def test_allocator_quota_limit_applies_to_subroles():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("child", ["eng/web"])
    allocator.set_quota("eng", limit={"cpus": 1})
    allocator.add_agent("agent", R("cpus:4;mem:1024"))
    assert only(allocator.allocate(0)).resources == R("cpus:1;mem:1024")


def test_allocator_reservations_count_toward_quota_consumption():
    allocator = HierarchicalAllocator(random_seed=1)
    allocator.add_framework("q", ["q"])
    allocator.add_framework("other", ["other"])
    allocator.set_quota("q", guarantee={"cpus": 2})
    allocator.add_agent("reserved", R("cpus(q):2;mem(q):512"))
    allocator.add_agent("open", R("cpus:2;mem:512"))
    # The reservation already meets the guarantee: no headroom, `other` gets the open agent.
    offered = by_framework(allocator.allocate(0))
    assert offered["other"] == R("cpus:2;mem:512")
    assert offered["q"] == R("cpus(q):2;mem(q):512")


def test_allocator_guarantee_above_limit_is_refused():
    allocator = HierarchicalAllocator()
    with pytest.raises(ValueError):
        allocator.set_quota("r", guarantee={"cpus": 2}, limit={"cpus": 1})


def test_allocator_without_an_offerable_framework_visits_no_agent(monkeypatch):
    """A new leader re-admits thousands of agents before their frameworks come back: its
    cycles meanwhile cost nothing, and the first active framework is offered at once."""
    from master.allocator import cycle

    allocator = HierarchicalAllocator(random_seed=1)
    for index in range(1000):
        allocator.add_agent(f"agent-{index}", R("cpus:4;mem:4096"))
    allocator.add_framework("f", ["web"])
    allocator.deactivate_framework("f")

    def no_cycle(*args: object) -> None:
        raise AssertionError("an allocation cycle ran")

    with monkeypatch.context() as patch:
        patch.setattr(cycle.AllocationCycle, "__init__", no_cycle)
        assert allocator.allocate(1.0) == []
        assert allocator.allocate(2.0, ["agent-1"], batch=False) == []
    assert allocator.metrics.allocation_runs == 2
    allocator.activate_framework("f")
    assert len(allocator.allocate(3.0)) == 1000
