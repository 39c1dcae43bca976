"""Arithmetic on single resources: merge keys, ranges, merging and reducing."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

import msgspec

from zmesos.resources.model import (
    _NO_DISK_INFO,
    RANGES,
    SCALAR,
    DiskInfo,
    ReservationInfo,
    Resource,
)

# ----------------------------------------------------------------------------- values

_Key = tuple[str, str, tuple[ReservationInfo, ...], DiskInfo | None]
_replace = msgspec.structs.replace


def _merge_key(resource: Resource) -> _Key:
    return (resource.name, resource.type, resource.reservations, resource.disk)


def _coalesce(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort ranges and merge overlapping or adjacent ones (5-7 and 8-9 make 5-9)."""
    merged: list[list[int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            if high > merged[-1][1]:
                merged[-1][1] = high
        else:
            merged.append([low, high])
    return tuple((low, high) for low, high in merged)


def _subtract_ranges(
    ranges: tuple[tuple[int, int], ...], removed: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    """Coalesced `ranges` without the integers in coalesced `removed`."""
    result: list[tuple[int, int]] = []
    index = 0
    for low, high in ranges:
        while index < len(removed) and removed[index][1] < low:
            index += 1
        cursor = index
        while cursor < len(removed) and removed[cursor][0] <= high:
            cut_low, cut_high = removed[cursor]
            if cut_low > low:
                result.append((low, cut_low - 1))
            low = max(low, cut_high + 1)
            if low > high:
                break
            cursor += 1
        if low <= high:
            result.append((low, high))
    return tuple(result)


def _ranges_cover(ranges: tuple[tuple[int, int], ...], inner: tuple[tuple[int, int], ...]) -> bool:
    """Whether coalesced `ranges` hold every integer of `inner`."""
    lows = [low for low, _ in ranges]
    for low, high in inner:
        index = bisect.bisect_right(lows, low) - 1
        if index < 0 or ranges[index][1] < high:
            return False
    return True


def _normalized(resource: Resource) -> Resource | None:
    """`resource` rounded, sorted and coalesced, or None when its value is empty.

    Disk info equal to the default is dropped, so it cannot split a merge key.
    """
    disk = None if resource.disk == _NO_DISK_INFO else resource.disk
    kind = resource.type
    if kind == SCALAR:
        value = round(float(resource.scalar), 3)
        if not value > 0:
            return None
        already_normal = (
            type(resource.scalar) is float
            and value == resource.scalar
            and disk is resource.disk
            and not resource.ranges
            and not resource.items
        )
        return resource if already_normal else _rebuilt(resource, disk, scalar=value)
    if kind == RANGES:
        ranges = _coalesce(resource.ranges)
        return _rebuilt(resource, disk, ranges=ranges) if ranges else None
    items = tuple(sorted(set(resource.items)))
    return _rebuilt(resource, disk, items=items) if items else None


def _rebuilt(resource: Resource, disk: DiskInfo | None, **value: Any) -> Resource:
    """`resource` with only its value field (given in `value`) and `disk`."""
    return Resource(
        resource.name,
        resource.type,
        reservations=resource.reservations,
        disk=disk,
        shared=resource.shared,
        **value,
    )


def _merged(mine: Resource, other: Resource) -> Resource:
    """The sum of two normalized resources with the same merge key."""
    kind = mine.type
    if kind == SCALAR:
        return _replace(mine, scalar=round(mine.scalar + other.scalar, 3))
    if kind == RANGES:
        return _replace(mine, ranges=_coalesce(mine.ranges + other.ranges))
    return _replace(mine, items=tuple(sorted(set(mine.items).union(other.items))))


def _reduced(mine: Resource, other: Resource) -> Resource | None:
    """`mine` without `other` (same merge key), or None when nothing is left."""
    kind = mine.type
    if kind == SCALAR:
        value = round(mine.scalar - other.scalar, 3)
        return _replace(mine, scalar=value) if value > 0 else None
    if kind == RANGES:
        ranges = _subtract_ranges(mine.ranges, other.ranges)
        return _replace(mine, ranges=ranges) if ranges else None
    removed = set(other.items)
    items = tuple(item for item in mine.items if item not in removed)
    return _replace(mine, items=items) if items else None


def _covers(mine: Resource, other: Resource) -> bool:
    """Whether `mine` holds all of `other` (same merge key)."""
    kind = mine.type
    if kind == SCALAR:
        return mine.scalar >= other.scalar
    if kind == RANGES:
        return _ranges_cover(mine.ranges, other.ranges)
    return set(other.items).issubset(mine.items)


def _quantity(resource: Resource) -> float:
    if resource.type == SCALAR:
        return resource.scalar
    if resource.type == RANGES:
        return float(sum(high - low + 1 for low, high in resource.ranges))
    return float(len(resource.items))
