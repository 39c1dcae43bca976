"""`Resources`: the normalized, immutable collection and its arithmetic."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from zmesos.errors import ResourcesError
from zmesos.resources._values import (
    _coalesce,
    _covers,
    _Key,
    _merge_key,
    _merged,
    _normalized,
    _quantity,
    _reduced,
    _replace,
)
from zmesos.resources.model import (
    _NO_DISK_INFO,
    DYNAMIC,
    RANGES,
    SCALAR,
    SET,
    STATIC,
    DiskInfo,
    ReservationInfo,
    Resource,
    _validate_reservations,
    validate_resource,
)
from zmesos.resources.roles import UNRESERVED_ROLE, role_ancestors, validate_role
from zmesos.resources.text import format_resource, parse_entry

# ----------------------------------------------------------------------------- collection


class Resources:
    """An immutable, normalized collection of `Resource`; a value (`==`, hashable).

    Operations return new collections and never mutate their operands.
    `Resources(iterable)` trusts its input (it normalizes but does not
    validate); use `from_list` for resources from a peer and `parse` for text.
    """

    __slots__ = ("_by_key", "_hash", "_shared")

    _by_key: dict[_Key, Resource]  # non-shared resources, one per merge key
    _shared: dict[Resource, int]  # shared resources and how many copies of each
    _hash: int | None

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        if isinstance(resources, str):
            raise TypeError("Resources() takes Resource values; use Resources.parse for text")
        by_key: dict[_Key, Resource] = {}
        shared: dict[Resource, int] = {}
        for resource in resources:
            normalized = _normalized(resource)
            if normalized is not None:
                _add_into(by_key, shared, normalized, 1)
        self._by_key = by_key
        self._shared = shared
        self._hash = None

    @classmethod
    def _make(cls, by_key: dict[_Key, Resource], shared: dict[Resource, int]) -> Resources:
        made = object.__new__(cls)
        made._by_key = by_key
        made._shared = shared
        made._hash = None
        return made

    # --------------------------------------------------------------- building

    @classmethod
    def from_list(cls, resources: Iterable[Resource]) -> Resources:
        """Validate (see `validate_resource`) and collect resources, e.g. from a message."""
        resources = list(resources)
        for resource in resources:
            validate_resource(resource)
        return cls(resources)

    def to_list(self) -> list[Resource]:
        """The resources as a list for a message; `from_list(r.to_list()) == r`."""
        return list(self)

    @classmethod
    def parse(cls, text: str, default_role: str = UNRESERVED_ROLE) -> Resources:
        """Parse the text form (see the module docstring), e.g. `cpus:2;mem:1024`.

        Entries without a role get `default_role` as a static reservation.
        Raises ResourcesError with a one-line message naming the bad entry.
        """
        validate_role(default_role)
        default = (
            () if default_role == UNRESERVED_ROLE else (ReservationInfo(STATIC, default_role),)
        )
        resources = []
        for entry in text.split(";"):
            entry = entry.strip()
            if not entry:
                continue
            try:
                resource = parse_entry(entry, default)
                validate_resource(resource)
            except ResourcesError as error:
                raise ResourcesError(f"bad resource {entry!r}: {error}") from None
            resources.append(resource)
        return cls(resources)

    # --------------------------------------------------------------- arithmetic

    def __add__(self, other: Resources | Resource) -> Resources:
        that = _as_resources(other)
        if that is None:
            return NotImplemented
        if not that:
            return self
        by_key = self._by_key.copy()
        for key, resource in that._by_key.items():
            mine = by_key.get(key)
            by_key[key] = resource if mine is None else _merged(mine, resource)
        shared = self._shared
        if that._shared:
            shared = shared.copy()
            for resource, count in that._shared.items():
                shared[resource] = shared.get(resource, 0) + count
        return Resources._make(by_key, shared)

    @classmethod
    def summed(cls, collections: Iterable[Resources]) -> Resources:
        """The sum of many collections, as `+` would make it, in one pass.

        Scalars are added up first and rounded to Mesos's fixed point once, not at
        every step; no intermediate collection is built; the very same collection
        met again (parsed once and shared, as a master's cache hands them out) is
        counted, not walked again: ranges and sets add as sets, so only scalars
        and shared copies multiply. A re-registering agent's ten tasks cost one
        walk (`+` nine times was a sixth of a new leader's work in a failover).
        """
        times: dict[int, list[Any]] = {}  # id -> [collection, how many times]
        for collection in collections:
            seen = times.get(id(collection))
            if seen is None:
                times[id(collection)] = [collection, 1]
            else:
                seen[1] += 1
        by_key: dict[_Key, Resource] = {}
        shared: dict[Resource, int] = {}
        scalars: dict[_Key, float] = {}
        for collection, count in times.values():
            for key, resource in collection._by_key.items():
                mine = by_key.get(key)
                if resource.type == SCALAR:
                    start = 0.0 if mine is None else scalars.get(key, mine.scalar)
                    scalars[key] = start + resource.scalar * count
                    if mine is None:
                        by_key[key] = resource
                elif mine is None:
                    by_key[key] = resource
                else:
                    by_key[key] = _merged(mine, resource)
            for resource, copies in collection._shared.items():
                shared[resource] = shared.get(resource, 0) + copies * count
        for key, value in scalars.items():
            by_key[key] = _replace(by_key[key], scalar=round(value, 3))
        return cls._make(by_key, shared)

    def __radd__(self, other: object) -> Resources:
        """Lets `sum(collections)` start from 0."""
        if other == 0:
            return self
        return NotImplemented

    def __sub__(self, other: Resources | Resource) -> Resources:
        """What is left of self without other; never negative, never raises."""
        if other is self:
            return Resources._make({}, {})  # nothing is left, and no walk finds it out
        that = _as_resources(other)
        if that is None:
            return NotImplemented
        if not that or not self:
            return self
        by_key = self._by_key.copy()
        for key, resource in that._by_key.items():
            mine = by_key.get(key)
            if mine is not None:
                left = _reduced(mine, resource)
                if left is None:
                    del by_key[key]
                else:
                    by_key[key] = left
        shared = self._shared
        if that._shared and shared:
            shared = shared.copy()
            for resource, count in that._shared.items():
                left_count = shared.get(resource, 0) - count
                if left_count > 0:
                    shared[resource] = left_count
                else:
                    shared.pop(resource, None)
        return Resources._make(by_key, shared)

    def contains(self, other: Resources | Resource) -> bool:
        """Whether self holds all of other (each shared copy counts)."""
        that = _as_resources(other)
        if that is None:
            raise TypeError(f"cannot compare Resources with {type(other).__name__}")
        by_key = self._by_key
        for key, resource in that._by_key.items():
            mine = by_key.get(key)
            if mine is None or not _covers(mine, resource):
                return False
        return all(
            self._shared.get(resource, 0) >= count for resource, count in that._shared.items()
        )

    def __contains__(self, other: Resources | Resource) -> bool:
        return self.contains(other)

    # --------------------------------------------------------------- value protocol

    def __iter__(self) -> Iterator[Resource]:
        yield from self._by_key.values()
        for resource, count in self._shared.items():
            for _ in range(count):
                yield resource

    def __len__(self) -> int:
        return len(self._by_key) + sum(self._shared.values())

    def __bool__(self) -> bool:
        return bool(self._by_key or self._shared)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resources):
            return NotImplemented
        return self._by_key == other._by_key and self._shared == other._shared

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash((frozenset(self._by_key.values()), frozenset(self._shared.items())))
        return self._hash

    def __str__(self) -> str:
        entries = sorted((r.name, r.role, format_resource(r)) for r in self)
        return ";".join(text for _, _, text in entries)

    def __repr__(self) -> str:
        return f"Resources({str(self)!r})"

    # --------------------------------------------------------------- quantities

    def scalar(self, name: str) -> float:
        """The sum of the scalar resources called `name`, over all roles."""
        total = 0.0
        for resource in self:
            if resource.name == name and resource.type == SCALAR:
                total += resource.scalar
        return round(total, 3)

    @property
    def cpus(self) -> float:
        return self.scalar("cpus")

    @property
    def mem(self) -> float:
        return self.scalar("mem")

    @property
    def disk(self) -> float:
        return self.scalar("disk")

    @property
    def gpus(self) -> float:
        return self.scalar("gpus")

    def ranges_of(self, name: str) -> tuple[tuple[int, int], ...]:
        """The union of the ranges resources called `name`, over all roles."""
        collected: list[tuple[int, int]] = []
        for resource in self:
            if resource.name == name and resource.type == RANGES:
                collected.extend(resource.ranges)
        return _coalesce(collected)

    @property
    def ports(self) -> tuple[tuple[int, int], ...]:
        return self.ranges_of("ports")

    def set_of(self, name: str) -> frozenset[str]:
        """The union of the set resources called `name`, over all roles."""
        items: set[str] = set()
        for resource in self:
            if resource.name == name and resource.type == SET:
                items.update(resource.items)
        return frozenset(items)

    def names(self) -> frozenset[str]:
        return frozenset(resource.name for resource in self)

    def scalars(self) -> dict[str, float]:
        """Quantities by name over all roles: scalars summed, ranges by size, sets by length.

        Mesos's ResourceQuantities: what quota, fair share and min-allocatable compare.
        """
        totals: dict[str, float] = {}
        for resource in self:
            totals[resource.name] = totals.get(resource.name, 0.0) + _quantity(resource)
        return {name: round(total, 3) for name, total in totals.items()}

    # --------------------------------------------------------------- filters

    def filter(self, predicate: Callable[[Resource], bool]) -> Resources:
        """The resources for which `predicate` is true (asked once per distinct resource)."""
        by_key = {key: r for key, r in self._by_key.items() if predicate(r)}
        shared = {r: count for r, count in self._shared.items() if predicate(r)}
        return Resources._make(by_key, shared)

    def partition(self, predicate: Callable[[Resource], bool]) -> tuple[Resources, Resources]:
        """`(filter(predicate), the rest)` in one pass, without a subtraction."""
        matching: dict[_Key, Resource] = {}
        rest: dict[_Key, Resource] = {}
        for key, resource in self._by_key.items():
            (matching if predicate(resource) else rest)[key] = resource
        shared_matching: dict[Resource, int] = {}
        shared_rest: dict[Resource, int] = {}
        for resource, count in self._shared.items():
            (shared_matching if predicate(resource) else shared_rest)[resource] = count
        return Resources._make(matching, shared_matching), Resources._make(rest, shared_rest)

    def reserved(self, role: str | None = None) -> Resources:
        """All reserved resources, or those whose current role is exactly `role`."""
        if role is None:
            return self.filter(lambda resource: bool(resource.reservations))
        return self.filter(lambda resource: bool(resource.reservations) and resource.role == role)

    def unreserved(self) -> Resources:
        return self.filter(lambda resource: not resource.reservations)

    def allocatable_to(self, role: str) -> Resources:
        """What `role` may be offered: unreserved, reserved to it, or to one of its ancestors."""
        roles = {role, *role_ancestors(role)}
        return self.filter(
            lambda resource: resource.role == UNRESERVED_ROLE or resource.role in roles
        )

    def persistent_volumes(self) -> Resources:
        return self.filter(lambda resource: resource.is_persistent_volume)

    def shared(self) -> Resources:
        return Resources._make({}, self._shared)

    def has_shared(self) -> bool:
        """Whether any resource here is shared (`bool(shared())` without building it)."""
        return bool(self._shared)

    def non_shared(self) -> Resources:
        return Resources._make(self._by_key, {})

    # --------------------------------------------------------------- transformations

    def _mapped(self, transform: Callable[[Resource], Resource]) -> Resources:
        """Apply `transform` to every distinct resource and merge the results again."""
        by_key: dict[_Key, Resource] = {}
        shared: dict[Resource, int] = {}
        for resource in self._by_key.values():
            _add_into(by_key, shared, transform(resource), 1)
        for resource, count in self._shared.items():
            _add_into(by_key, shared, transform(resource), count)
        return Resources._make(by_key, shared)

    def flatten(self, role: str = UNRESERVED_ROLE) -> Resources:
        """Every resource re-roled: unreserved for `*`, else statically reserved to `role`."""
        validate_role(role)
        stack = () if role == UNRESERVED_ROLE else (ReservationInfo(STATIC, role),)
        return self._mapped(lambda resource: _replace(resource, reservations=stack))

    def pushed(self, reservation: ReservationInfo) -> Resources:
        """Every resource with a DYNAMIC `reservation` pushed on its stack (RESERVE).

        Raises ResourcesError unless the reservation is DYNAMIC to a valid role
        other than `*` that is a strict subrole of each resource's current role
        (when it has one).
        """
        if reservation.type != DYNAMIC:
            raise ResourcesError(f"can only push a DYNAMIC reservation, not {reservation.type}")
        _validate_reservations("pushed", (reservation,))
        for resource in itertools.chain(self._by_key.values(), self._shared):
            if resource.reservations:
                _validate_reservations(resource.name, (resource.reservations[-1], reservation))
        return self._mapped(
            lambda resource: _replace(resource, reservations=(*resource.reservations, reservation))
        )

    def popped(self) -> Resources:
        """Every resource with the top of its reservation stack removed (UNRESERVE).

        Raises ResourcesError if a resource is not dynamically reserved.
        """
        for resource in itertools.chain(self._by_key.values(), self._shared):
            if not resource.reservations or resource.reservations[-1].type != DYNAMIC:
                raise ResourcesError(
                    f"cannot pop a reservation of {resource}: not dynamically reserved"
                )
        return self._mapped(
            lambda resource: _replace(resource, reservations=resource.reservations[:-1])
        )

    def without_volumes(self) -> Resources:
        """Every disk resource without its volume (keeping its source): what a CREATE consumes."""

        def strip(resource: Resource) -> Resource:
            disk = resource.disk
            if disk is None or not disk.persistence_id:
                return resource
            source = DiskInfo(source=disk.source, source_root=disk.source_root)
            return _replace(
                resource, disk=None if source == _NO_DISK_INFO else source, shared=False
            )

        return self._mapped(strip)


def _as_resources(value: object) -> Resources | None:
    if isinstance(value, Resources):
        return value
    if isinstance(value, Resource):
        return Resources((value,))
    return None


def _add_into(
    by_key: dict[_Key, Resource], shared: dict[Resource, int], resource: Resource, count: int
) -> None:
    """Add `count` copies of a normalized resource to a collection's dicts, merging it."""
    if resource.shared:
        shared[resource] = shared.get(resource, 0) + count
        return
    key = _merge_key(resource)
    mine = by_key.get(key)
    by_key[key] = resource if mine is None else _merged(mine, resource)
