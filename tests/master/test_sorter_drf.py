"""The DRF sorter: weighted dominant shares, kept sorted incrementally."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from master.allocator import DRFSorter, Totals, UnknownClientError


def make_sorter(**totals: float) -> tuple[DRFSorter, Totals]:
    cluster = Totals()
    cluster.add(totals)
    return DRFSorter(cluster), cluster


def test_sorter_orders_by_dominant_share_lowest_first():
    sorter, _ = make_sorter(cpus=10, mem=100)
    for name in ("a", "b", "c"):
        sorter.add(name, active=True)
    sorter.allocated("a", {"cpus": 5})  # share 0.5
    sorter.allocated("b", {"mem": 20})  # share 0.2
    sorter.allocated("c", {"cpus": 1, "mem": 60})  # dominant: mem, 0.6
    assert sorter.sort() == ["b", "a", "c"]
    assert sorter.share("c") == pytest.approx(0.6)


def test_sorter_breaks_ties_by_name():
    sorter, _ = make_sorter(cpus=4)
    for name in ("zeta", "alpha", "mid"):
        sorter.add(name, active=True)
    assert sorter.sort() == ["alpha", "mid", "zeta"]


def test_sorter_breaks_equal_shares_by_allocation_count_before_name():
    """Mesos's DRFSorter: share, then how often the client was allocated, then name."""
    sorter, _ = make_sorter(cpus=4)
    for name in ("alpha", "beta"):
        sorter.add(name, active=True)
    sorter.allocated("alpha", {"cpus": 1})
    sorter.unallocated("alpha", {"cpus": 1})  # back to share 0, but allocated once
    assert sorter.sort() == ["beta", "alpha"]
    assert sorter.allocations("alpha") == 1
    owned: dict[str, float] = {}
    sorter.add("gamma", owned, active=True)
    owned["cpus"] = 1.0
    sorter.charged("gamma")  # an owner-kept dict charged in place counts as well
    owned.clear()
    sorter.changed("gamma")  # a recovery does not count
    sorter.allocated("beta", {"cpus": 1})
    sorter.unallocated("beta", {"cpus": 1})
    assert sorter.sort() == ["alpha", "beta", "gamma"]
    assert sorter.allocations("gamma") == 1


def test_sorter_weight_divides_the_share():
    sorter, _ = make_sorter(cpus=10)
    sorter.add("light", active=True)
    sorter.add("heavy", weight=2.0, active=True)
    sorter.allocated("light", {"cpus": 3})  # 0.3
    sorter.allocated("heavy", {"cpus": 4})  # 0.4 / 2 = 0.2
    assert sorter.sort() == ["heavy", "light"]
    sorter.set_weight("heavy", 1.0)
    assert sorter.sort() == ["light", "heavy"]


def test_sorter_moves_only_changed_clients_and_unallocation_moves_back():
    sorter, _ = make_sorter(cpus=10)
    for name in ("a", "b", "c"):
        sorter.add(name, active=True)
    sorter.allocated("a", {"cpus": 2})
    assert sorter.sort() == ["b", "c", "a"]
    sorter.unallocated("a", {"cpus": 2})
    # Back to share 0, behind the clients never allocated to (the count breaks the tie).
    assert sorter.sort() == ["b", "c", "a"]
    assert sorter.allocation("a") == {}


def test_sorter_inactive_clients_keep_their_share_but_leave_the_order():
    sorter, _ = make_sorter(cpus=10)
    sorter.add("a", active=True)
    sorter.add("b", active=True)
    sorter.allocated("b", {"cpus": 5})
    sorter.deactivate("a")
    assert sorter.sort() == ["b"]
    assert sorter.active_count == 1
    sorter.allocated("a", {"cpus": 6})
    sorter.activate("a")
    assert sorter.sort() == ["b", "a"]


def test_sorter_recomputes_every_share_when_totals_change():
    sorter, cluster = make_sorter(cpus=10, mem=100)
    sorter.add("cpu_heavy", active=True)
    sorter.add("mem_heavy", active=True)
    sorter.allocated("cpu_heavy", {"cpus": 4})  # 0.4
    sorter.allocated("mem_heavy", {"mem": 50})  # 0.5
    assert sorter.sort() == ["cpu_heavy", "mem_heavy"]
    cluster.add({"mem": 100})  # mem_heavy drops to 0.25
    assert sorter.sort() == ["mem_heavy", "cpu_heavy"]


def test_sorter_leaves_excluded_resources_out_of_shares():
    cluster = Totals(excluded=frozenset({"gpus"}))
    cluster.add({"cpus": 10, "gpus": 2})
    sorter = DRFSorter(cluster)
    sorter.add("gpu_heavy", active=True)
    sorter.add("cpu_heavy", active=True)
    sorter.allocated("gpu_heavy", {"cpus": 1, "gpus": 2})
    sorter.allocated("cpu_heavy", {"cpus": 3})
    assert sorter.share("gpu_heavy") == pytest.approx(0.1)
    assert sorter.sort() == ["gpu_heavy", "cpu_heavy"]
    assert cluster.amounts == {"cpus": 10, "gpus": 2}  # headroom still sees every resource


def test_sorter_reads_allocation_dicts_owned_by_the_caller():
    sorter, _ = make_sorter(cpus=10)
    owned: dict[str, float] = {}
    sorter.add("owner", owned, active=True)
    sorter.add("other", active=True)
    owned["cpus"] = 3.0
    sorter.changed("owner")
    assert sorter.sort() == ["other", "owner"]


def test_sorter_rejects_unknown_and_duplicate_clients():
    sorter, _ = make_sorter(cpus=1)
    sorter.add("a")
    with pytest.raises(ValueError):
        sorter.add("a")
    with pytest.raises(UnknownClientError):
        sorter.allocated("ghost", {"cpus": 1})
    with pytest.raises(ValueError):
        sorter.set_weight("a", 0)
    sorter.remove("a")
    assert "a" not in sorter


def test_sorter_order_is_stable_while_iterated_and_allocated():
    """Allocating while reading `order()` moves clients only on the next `order()`."""
    sorter, _ = make_sorter(cpus=10)
    for name in ("a", "b"):
        sorter.add(name, active=True)
    seen = []
    for _, _, name in sorter.order():
        seen.append(name)
        sorter.allocated(name, {"cpus": 1 if name == "a" else 3})
    assert seen == ["a", "b"]
    assert sorter.sort() == ["a", "b"]


operations = st.lists(
    st.tuples(
        st.sampled_from(["alloc", "unalloc", "weight", "toggle", "totals"]),
        st.integers(0, 5),
        st.sampled_from(["cpus", "mem", "disk"]),
        st.integers(1, 20),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_sorter_order_always_equals_a_full_sort_of_fresh_shares(ops):
    """Property: incremental repositioning gives exactly what sorting from scratch gives."""
    cluster = Totals()
    cluster.add({"cpus": 100.0, "mem": 1000.0, "disk": 500.0})
    sorter = DRFSorter(cluster)
    names = [f"c{i}" for i in range(6)]
    for name in names:
        sorter.add(name, active=True)
    for op, index, resource, amount in ops:
        name = names[index]
        if op == "alloc":
            sorter.allocated(name, {resource: float(amount)})
        elif op == "unalloc":
            sorter.unallocated(name, {resource: float(amount)})
        elif op == "weight":
            sorter.set_weight(name, float(amount % 4 + 1))
        elif op == "toggle":
            if sorter.is_active(name):
                sorter.deactivate(name)
            else:
                sorter.activate(name)
        else:
            cluster.add({resource: float(amount)})
        expected = sorted(
            (sorter.share(client), sorter.allocations(client), client)
            for client in names
            if sorter.is_active(client)
        )
        assert sorter.order() == expected
