"""Tests for zmesos.resources: parsing, printing, arithmetic, roles and reservations."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmesos.errors import ResourcesError
from zmesos.resources import (
    DYNAMIC,
    RANGES,
    SCALAR,
    SET,
    STATIC,
    DiskInfo,
    ReservationInfo,
    Resource,
    Resources,
    is_strict_subrole,
    is_valid_role,
    role_ancestors,
    validate_role,
)

PROPERTY = settings(max_examples=200, deadline=None)

# ----------------------------------------------------------------------------- strategies

_ROLE_STACKS = [
    (),
    (ReservationInfo(STATIC, "a"),),
    (ReservationInfo(STATIC, "a/b"),),
    (ReservationInfo(DYNAMIC, "c", principal="ops"),),
    (ReservationInfo(STATIC, "a"), ReservationInfo(DYNAMIC, "a/b", labels=(("k", "v w"),))),
]
_VOLUME_STACK = (ReservationInfo(DYNAMIC, "db", principal="p"),)


@st.composite
def a_resource(draw: st.DrawFn, universe: int = 0) -> Resource:
    """A valid resource; ranges and set items come from a universe chosen by `universe`."""
    kind = draw(st.sampled_from(["cpus", "mem", "ports", "zones", "volume"]))
    reservations = draw(st.sampled_from(_ROLE_STACKS))
    if kind == "ports":
        low = universe * 1000
        bounds = draw(
            st.lists(st.tuples(st.integers(low, low + 900), st.integers(0, 40)), max_size=3)
        )
        ranges = tuple((start, start + length) for start, length in bounds)
        return Resource("ports", RANGES, ranges=ranges, reservations=reservations)
    if kind == "zones":
        alphabet = "abcde" if universe == 0 else "vwxyz"
        items = draw(st.lists(st.sampled_from(alphabet), max_size=4))
        return Resource("zones", SET, items=tuple(sorted(set(items))), reservations=reservations)
    value = draw(st.integers(0, 100_000)) / 1000
    if kind == "volume":
        volume_id = draw(st.sampled_from(["v1", "v 2"]))
        disk = DiskInfo(persistence_id=volume_id, container_path="/data")
        return Resource(
            "disk",
            SCALAR,
            scalar=value,
            reservations=_VOLUME_STACK,
            disk=disk,
            shared=draw(st.booleans()),
        )
    return Resource(kind, SCALAR, scalar=value, reservations=reservations)


def some_resources(universe: int = 0) -> st.SearchStrategy[Resources]:
    return st.lists(a_resource(universe), max_size=6).map(Resources.from_list)


# ----------------------------------------------------------------------------- properties


@PROPERTY
@given(some_resources(0), some_resources(1))
def test_resources_add_then_subtract_gives_back(a: Resources, b: Resources) -> None:
    # b's ranges and set items are disjoint from a's: ranges and sets add as sets.
    assert a + b - b == a


@PROPERTY
@given(
    st.lists(st.integers(0, 10**6), max_size=4),
    st.lists(st.integers(0, 10**6), max_size=4),
)
def test_resources_scalar_add_then_subtract_gives_back(left: list[int], right: list[int]) -> None:
    a = Resources(Resource("cpus", SCALAR, scalar=value / 1000) for value in left)
    b = Resources(Resource("cpus", SCALAR, scalar=value / 1000) for value in right)
    assert a + b - b == a
    assert (a + b).cpus == round(sum(left + right) / 1000, 3)


@PROPERTY
@given(st.lists(some_resources(), max_size=6), st.lists(st.integers(0, 5), max_size=8))
def test_resources_summed_is_the_sum_by_addition(
    collections: list[Resources], repeats: list[int]
) -> None:
    # Some collections met again, the very same objects (as a parse cache shares them).
    collections = collections + [collections[i] for i in repeats if i < len(collections)]
    by_addition = Resources()
    for collection in collections:
        by_addition = by_addition + collection
    assert Resources.summed(collections) == by_addition


def test_resources_summed_rounds_to_the_fixed_point_once() -> None:
    tenth = Resources.parse("cpus:0.1;mem:32")
    assert Resources.summed([tenth] * 10) == Resources.parse("cpus:1;mem:320")
    assert Resources.summed([]) == Resources()


@PROPERTY
@given(some_resources(), some_resources())
def test_resources_subtraction_never_goes_negative(a: Resources, b: Resources) -> None:
    left = a - b
    assert all(resource.scalar >= 0 for resource in left)
    assert all(value >= 0 for value in left.scalars().values())
    assert a.contains(left)


@PROPERTY
@given(some_resources())
def test_resources_text_round_trips(resources: Resources) -> None:
    assert Resources.parse(str(resources)) == resources


@PROPERTY
@given(
    st.text(min_size=1, max_size=8),
    st.text(max_size=8),
    st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=2),
    st.text(min_size=1, max_size=8),
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3),
)
def test_resources_text_round_trips_any_characters(
    persistence_id: str,
    principal: str,
    labels: list[tuple[str, str]],
    path: str,
    items: list[str],
) -> None:
    reservation = ReservationInfo(DYNAMIC, "db", principal=principal, labels=tuple(labels))
    volume = Resource(
        "disk",
        SCALAR,
        scalar=1,
        reservations=(reservation,),
        disk=DiskInfo(persistence_id=persistence_id, container_path=path, source_root=path),
    )
    resources = Resources.from_list([volume, Resource("zones", SET, items=tuple(items))])
    assert Resources.parse(str(resources)) == resources


@PROPERTY
@given(some_resources())
def test_resources_message_round_trips(resources: Resources) -> None:
    wire = msgspec.msgpack.encode(resources.to_list())
    assert Resources.from_list(msgspec.msgpack.decode(wire, type=list[Resource])) == resources


@PROPERTY
@given(some_resources(), some_resources())
def test_resources_sum_contains_both(a: Resources, b: Resources) -> None:
    assert (a + b).contains(a)
    assert b in a + b
    assert a + b == b + a
    assert hash(a + b) == hash(b + a)


@PROPERTY
@given(some_resources())
def test_resources_partition_is_filter_and_the_rest(resources: Resources) -> None:
    def is_scalar(resource: Resource) -> bool:
        return resource.type == SCALAR

    matching, rest = resources.partition(is_scalar)
    assert matching == resources.filter(is_scalar)
    assert rest == resources - matching
    assert matching + rest == resources


@PROPERTY
@given(some_resources())
def test_resources_has_shared_says_whether_shared_is_empty(resources: Resources) -> None:
    assert resources.has_shared() == bool(resources.shared())


@PROPERTY
@given(some_resources(), some_resources())
def test_resources_contains_is_consistent_with_subtraction(a: Resources, b: Resources) -> None:
    assert a.contains(b) == ((a - b) + b == a)
    assert a.contains(a - b)
    if a.contains(b):
        assert not b - a


@PROPERTY
@given(some_resources(), some_resources())
def test_resources_merged_ranges_never_overlap(a: Resources, b: Resources) -> None:
    for resource in (a + b) - Resources.parse("ports:[100-120]"):
        if resource.type == RANGES:
            for (_, high), (low, _) in zip(resource.ranges, resource.ranges[1:], strict=False):
                assert high + 1 < low
            assert all(low <= high for low, high in resource.ranges)


@PROPERTY
@given(some_resources())
def test_resources_push_then_pop_gives_back(resources: Resources) -> None:
    flat = resources.flatten()
    reserved = flat.pushed(ReservationInfo(DYNAMIC, "eng", principal="p"))
    assert reserved.reserved("eng") == reserved
    assert reserved.scalars() == flat.scalars()
    assert reserved.popped() == flat


# ----------------------------------------------------------------------------- parsing


def test_resources_parse_full_example() -> None:
    resources = Resources.parse(
        "cpus:2;mem:1024;disk:4096;ports:[31000-32000,32005-32010];gpus:0;cpus(ads):4;zones:{a,b}"
    )
    assert resources.cpus == 6
    assert resources.mem == 1024
    assert resources.disk == 4096
    assert resources.gpus == 0
    assert resources.ports == ((31000, 32000), (32005, 32010))
    assert resources.set_of("zones") == {"a", "b"}
    assert resources.reserved("ads").cpus == 4
    assert resources.unreserved().cpus == 2
    assert resources.names() == {"cpus", "mem", "disk", "ports", "zones"}  # gpus:0 is dropped
    assert str(resources) == (
        "cpus:2;cpus(ads):4;disk:4096;mem:1024;ports:[31000-32000,32005-32010];zones:{a,b}"
    )


def test_resources_parse_tolerates_whitespace_and_empty_entries() -> None:
    spaced = Resources.parse(
        " cpus ( ads ) : 4 ;; mem : 10 ; ports : [ 1 - 3 , 5 ] ; zones:{ a , b };"
    )
    assert spaced == Resources.parse("cpus(ads):4;mem:10;ports:[1-3,5-5];zones:{a,b}")
    assert Resources.parse("") == Resources()
    assert not Resources.parse("  ")


def test_resources_parse_merges_repeated_entries() -> None:
    resources = Resources.parse("cpus:1;cpus:2;ports:[1-5];ports:[6-8,20-30];zones:{a};zones:{b}")
    assert str(resources) == "cpus:3;ports:[1-8,20-30];zones:{a,b}"
    assert len(resources) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cpus:abc", "bad resource 'cpus:abc': 'abc' is not a number"),
        ("cpus:-1", "bad resource 'cpus:-1': '-1' is negative"),
        ("cpus:inf", "bad resource 'cpus:inf': 'inf' is not a finite number"),
        ("mem:1;cpus", "bad resource 'cpus': expected ':' after 'cpus'"),
        (":4", "bad resource ':4': missing resource name"),
        ("cpus:", "bad resource 'cpus:': missing value after ':'"),
        ("ports:[5-3]", "bad resource 'ports:[5-3]': range '5-3' is inverted"),
        ("ports:[1-x]", "bad resource 'ports:[1-x]': 'x' in '1-x' is not a non-negative integer"),
        ("ports:[1-3", "bad resource 'ports:[1-3': ranges '[1-3' do not end with ']'"),
        ("zones:{a,,b}", "bad resource 'zones:{a,,b}': set '{a,,b}' has an empty item"),
        ("cpus(-x):1", "bad resource 'cpus(-x):1': role '-x' starts with '-'"),
        ("cpus(ads:1", "bad resource 'cpus(ads:1': '(' is not closed by ')'"),
    ],
)
def test_resources_parse_error_names_the_bad_token(text: str, message: str) -> None:
    with pytest.raises(ResourcesError) as raised:
        Resources.parse(text)
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        "cpus(a/):1",
        "cpus(a//b):1",
        "cpus(a/*):1",
        "cpus(..):1",
        "cpus(a,a):1",  # a static reservation on top of another
        "cpus(a,b DYNAMIC):1",  # b does not refine a
        "cpus<SHARED>:1",  # only volumes are shared
        "cpus[id:/data]:1",  # only disk has disk info
        "disk[id:/data]:1",  # an unreserved volume
        "disk(db)[id:/data mode=RX]:1",
        "cpus(a FROZEN):1",
    ],
)
def test_resources_parse_rejects_invalid_resources(text: str) -> None:
    with pytest.raises(ResourcesError, match=r"^bad resource '"):
        Resources.parse(text)


def test_resources_parse_static_roles_and_default_role() -> None:
    resources = Resources.parse("cpus(ads):4;cpus(*):1;mem:2", default_role="web")
    assert resources.reserved("ads").cpus == 4
    assert resources.unreserved() == Resources.parse("cpus:1")
    assert resources.reserved("web") == Resources.parse("mem(web):2")
    (ads_cpus,) = resources.reserved("ads")
    assert ads_cpus.reservations == (ReservationInfo(STATIC, "ads"),)
    assert ads_cpus.role == "ads"


def test_resources_print_dynamic_reservations_and_volumes() -> None:
    volume = Resource(
        "disk",
        SCALAR,
        scalar=100,
        reservations=(ReservationInfo(DYNAMIC, "db", principal="p"),),
        disk=DiskInfo(persistence_id="id", container_path="/data"),
    )
    assert str(Resources([volume])) == "disk(db DYNAMIC principal=p)[id:/data]:100"
    text = "disk(db)[id2:/x mode=RO source=MOUNT root=/mnt/d1]<SHARED>:50"
    (shared,) = Resources.parse(text)
    assert shared.shared and shared.disk == DiskInfo(
        persistence_id="id2", container_path="/x", mode="RO", source="MOUNT", source_root="/mnt/d1"
    )
    assert str(Resources.parse(text)) == text


def test_resources_print_escapes_delimiters_and_parses_them_back() -> None:
    odd = Resource(
        "disk",
        SCALAR,
        scalar=1.5,
        reservations=(
            ReservationInfo(STATIC, "a.b=c"),
            ReservationInfo(DYNAMIC, "a.b=c/d(e)", principal="x y,(z)", labels=(("k:=", "v;w"),)),
        ),
        disk=DiskInfo(persistence_id="id:1]", container_path="/data dir", principal="p q"),
    )
    zones = Resource("zones", SET, items=("a,b", "c}", "%"))
    resources = Resources.from_list([odd, zones])
    text = str(resources)
    assert text == (
        "disk(a.b%3Dc,a.b%3Dc/d%28e%29 DYNAMIC principal=x%20y%2C%28z%29 label=k%3A%3D:v%3Bw)"
        "[id%3A1%5D:/data%20dir principal=p%20q]:1.5;zones:{%25,a%2Cb,c%7D}"
    )
    assert Resources.parse(text) == resources
    assert Resources.parse(text).set_of("zones") == {"a,b", "c}", "%"}


# ----------------------------------------------------------------------------- arithmetic


def test_resources_fixed_point_scalars() -> None:
    total = Resources.parse("cpus:0.1") + Resources.parse("cpus:0.2")
    assert total.cpus == 0.3
    assert total == Resources.parse("cpus:0.3")
    assert str(total) == "cpus:0.3"
    assert Resources.parse("cpus:0.0001") == Resources()
    assert (Resources.parse("cpus:1") - Resources.parse("cpus:0.9")).cpus == 0.1
    thirds = sum((Resources.parse("mem:0.333") for _ in range(3)), Resources())
    assert thirds.mem == 0.999


def test_resources_subtraction_removes_only_what_is_there() -> None:
    agent = Resources.parse("cpus:4;mem:1024;ports:[31000-31010]")
    taken = Resources.parse("cpus:6;mem(web):10;gpus:1;ports:[31005-31020]")
    assert agent - taken == Resources.parse("mem:1024;ports:[31000-31004]")
    assert not agent.contains(taken)


def test_resources_range_arithmetic() -> None:
    ports = Resources.parse("ports:[1-10,20-30]")
    assert (ports + Resources.parse("ports:[11-19]")).ports == ((1, 30),)
    assert (ports - Resources.parse("ports:[5-5,25-40]")).ports == ((1, 4), (6, 10), (20, 24))
    assert ports.contains(Resources.parse("ports:[2-3,20-30]"))
    assert not ports.contains(Resources.parse("ports:[9-21]"))
    assert ports.scalars() == {"ports": 21}


def test_resources_set_arithmetic() -> None:
    zones = Resources.parse("zones:{a,b,c}")
    assert (zones + Resources.parse("zones:{c,d}")).set_of("zones") == {"a", "b", "c", "d"}
    assert zones - Resources.parse("zones:{b,x}") == Resources.parse("zones:{a,c}")
    assert Resources.parse("zones:{a,c}") in zones
    assert Resources.parse("zones:{a,d}") not in zones
    assert not zones - zones


def test_resources_contains_single_resource_and_roles_apart() -> None:
    resources = Resources.parse("cpus:2;cpus(web):1")
    assert Resource("cpus", SCALAR, scalar=1.5) in resources
    assert Resources.parse("cpus(web):1") in resources
    assert Resources.parse("cpus(web):2") not in resources  # roles do not pool


def test_resources_shared_copies_are_counted() -> None:
    volume = Resources.parse("disk(db)[v:/data]<SHARED>:10")
    twice = volume + volume
    assert len(twice) == 2 and twice.disk == 20
    assert str(twice) == "disk(db)[v:/data]<SHARED>:10;disk(db)[v:/data]<SHARED>:10"
    assert twice.contains(volume) and not volume.contains(twice)
    assert twice - volume == volume
    assert twice.shared() == twice and not twice.non_shared()
    assert Resources.parse(str(twice)) == twice


def test_resources_value_semantics() -> None:
    a = Resources.parse("cpus:1;mem:2;ports:[1-2]")
    b = Resources.parse("ports:[1-2];mem:2;cpus:1")
    assert a == b and hash(a) == hash(b) and {a, b} == {a}
    assert a != Resources.parse("cpus:1;mem:2")
    before = str(a)
    _ = a + Resources.parse("cpus:5")
    _ = a - Resources.parse("cpus:1")
    assert str(a) == before
    assert sum([a, b]) == a + b
    assert repr(Resources.parse("cpus:1")) == "Resources('cpus:1')"


# ----------------------------------------------------------------------------- queries


def test_resources_quantities_sum_over_roles() -> None:
    resources = Resources.parse("cpus:1;cpus(a):2.5;mem(a/b):3;ports:[1-10];ports(a):[20-21];z:{x}")
    assert resources.scalar("cpus") == 3.5
    assert resources.scalars() == {"cpus": 3.5, "mem": 3, "ports": 12, "z": 1}
    assert resources.ports == ((1, 10), (20, 21))
    assert resources.scalar("absent") == 0


def test_resources_allocatable_to_hierarchical_roles() -> None:
    resources = Resources.parse(
        "cpus:1;cpus(eng):2;cpus(eng/backend):4;cpus(eng/web):8;cpus(ops):16"
    )
    assert resources.allocatable_to("eng/backend").cpus == 7
    assert resources.allocatable_to("eng").cpus == 3
    assert resources.allocatable_to("eng/backend/db").cpus == 7
    assert resources.allocatable_to("engineering").cpus == 1
    assert resources.allocatable_to("*").cpus == 1


def test_resources_reserved_and_flatten() -> None:
    resources = Resources.parse("cpus:1;cpus(eng):2;mem(eng/web):3")
    assert resources.reserved() == Resources.parse("cpus(eng):2;mem(eng/web):3")
    assert resources.reserved("eng") == Resources.parse("cpus(eng):2")
    assert resources.flatten() == Resources.parse("cpus:3;mem:3")
    assert resources.flatten("ops") == Resources.parse("cpus(ops):3;mem(ops):3")
    assert resources.filter(lambda resource: resource.name == "mem").mem == 3


def test_resources_dynamic_reservation_push_and_pop() -> None:
    unreserved = Resources.parse("cpus:4;mem:1024")
    reservation = ReservationInfo(DYNAMIC, "eng", principal="alice", labels=(("team", "a"),))
    reserved = unreserved.pushed(reservation)
    assert str(reserved) == (
        "cpus(eng DYNAMIC principal=alice label=team:a):4;"
        "mem(eng DYNAMIC principal=alice label=team:a):1024"
    )
    assert Resources.parse(str(reserved)) == reserved
    assert reserved.reserved("eng") == reserved
    assert reserved.popped() == unreserved

    refined = reserved.pushed(ReservationInfo(DYNAMIC, "eng/web"))
    assert refined.reserved("eng/web").cpus == 4
    assert refined.popped() == reserved

    # RESERVE then UNRESERVE on an agent, as the master will do it.
    agent = Resources.parse("cpus:8;mem:2048")
    wanted = Resources.parse("cpus:2").pushed(ReservationInfo(DYNAMIC, "eng"))
    agent = agent - wanted.popped() + wanted
    assert agent.reserved("eng").cpus == 2 and agent.unreserved().cpus == 6
    agent = agent - wanted + wanted.popped()
    assert agent == Resources.parse("cpus:8;mem:2048")


def test_resources_push_and_pop_refuse_bad_reservations() -> None:
    with pytest.raises(ResourcesError, match="DYNAMIC"):
        Resources.parse("cpus:1").pushed(ReservationInfo(STATIC, "eng"))
    with pytest.raises(ResourcesError, match="strict subrole"):
        Resources.parse("cpus(eng):1").pushed(ReservationInfo(DYNAMIC, "ops"))
    with pytest.raises(ResourcesError, match="'\\*'"):
        Resources.parse("cpus:1").pushed(ReservationInfo(DYNAMIC, "*"))
    with pytest.raises(ResourcesError, match="not dynamically reserved"):
        Resources.parse("cpus(eng):1").popped()
    with pytest.raises(ResourcesError, match="not dynamically reserved"):
        Resources.parse("cpus:1").popped()


def test_resources_persistent_volumes() -> None:
    resources = Resources.parse("disk(db):100;disk(db DYNAMIC)[v1:/data]:50;cpus:1")
    volumes = resources.persistent_volumes()
    assert volumes == Resources.parse("disk(db DYNAMIC)[v1:/data]:50")
    assert volumes.without_volumes() == Resources.parse("disk(db DYNAMIC):50")
    mount = Resources.parse("disk(db)[v:/d source=MOUNT root=/mnt]:10").without_volumes()
    assert str(mount) == "disk(db)[source=MOUNT root=/mnt]:10"


def test_resources_from_list_validates_and_merges() -> None:
    listed = [Resource("cpus", SCALAR, scalar=1), Resource("cpus", SCALAR, scalar=2)]
    assert Resources.from_list(listed).to_list() == [Resource("cpus", SCALAR, scalar=3.0)]
    with pytest.raises(ResourcesError, match=r"not a finite number >= 0"):
        Resources.from_list([Resource("cpus", SCALAR, scalar=-1)])
    with pytest.raises(ResourcesError, match="has ranges"):
        Resources.from_list([Resource("cpus", SCALAR, scalar=1, ranges=((1, 2),))])
    with pytest.raises(ResourcesError, match="unknown type"):
        Resources.from_list([Resource("cpus", "TEXT")])
    with pytest.raises(TypeError, match="parse"):
        Resources("cpus:1")  # type: ignore[arg-type]


def test_resources_travel_compactly_as_messagepack() -> None:
    (cpus,) = Resources.parse("cpus:2")
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(cpus)) == {
        "name": "cpus",
        "type": "SCALAR",
        "scalar": 2.0,
    }
    (from_int,) = Resources.from_list([Resource("cpus", SCALAR, scalar=2)])
    assert from_int == cpus and type(from_int.scalar) is float


# ----------------------------------------------------------------------------- roles


@pytest.mark.parametrize("role", ["*", "eng", "eng/web", "a.b", "a-b", "a/b/c", "x-"])
def test_resources_valid_roles(role: str) -> None:
    assert is_valid_role(role)
    validate_role(role)


@pytest.mark.parametrize(
    "role",
    [
        "",
        ".",
        "..",
        "-a",
        "a b",
        "a\tb",
        "/a",
        "a/",
        "a//b",
        "a/./b",
        "a/../b",
        "a/-b",
        "a*",
        "*/a",
    ],
)
def test_resources_invalid_roles(role: str) -> None:
    assert not is_valid_role(role)
    with pytest.raises(ResourcesError):
        validate_role(role)


def test_resources_role_ancestors_and_subroles() -> None:
    assert role_ancestors("a/b/c") == ["a/b", "a"]
    assert role_ancestors("a") == []
    assert is_strict_subrole("a/b", "a")
    assert not is_strict_subrole("a", "a")
    assert not is_strict_subrole("ab", "a")


def test_resources_gpus_come_whole_and_ports_stay_port_numbers():
    assert Resources.parse("gpus:2").gpus == 2
    assert Resources.parse("ports:[0-65535]").ports == ((0, 65535),)
    with pytest.raises(ResourcesError, match="whole number"):
        Resources.parse("gpus:1.5")
    with pytest.raises(ResourcesError, match="past 65535"):
        Resources.parse("ports:[31000-70000]")
