"""Resources in Mesos's v1 JSON: a list of Resource objects, both ways.

    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}, "role": "*"}
    {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31009}]}}
    {"name": "zones", "type": "SET", "set": {"item": ["a", "b"]}}

Reservations come as the `reservations` stack (Mesos's refined format) or,
from older clients, as `role` plus `reservation`; we write both the stack and
the current `role`, which every client version reads. Disk info carries
`persistence`, `volume` and `source`; `shared: {}` marks a shared volume.
"""

from __future__ import annotations

from typing import Any

import msgspec

from zmesos.errors import ApiError, ResourcesError
from zmesos.resources import Resource, Resources
from zmesos.resources.model import DYNAMIC, STATIC, DiskInfo, ReservationInfo, validate_resource
from zmesos.v1.reader import array, number, obj, optional_obj, string

__all__ = ["resource_from_v1", "resource_to_v1", "resources_from_v1", "resources_to_v1"]

_MAX_RESOURCES = 10_000


# Valid resource lists already read, by their JSON: a framework sends the same few
# shapes with every task, and reading one again cost 60% of reading a v1 TaskInfo.
# Resources are immutable values, so one read serves every task that sends the same.
_READ: dict[bytes, Resources] = {}
_MAX_READ = 4096  # distinct shapes kept; the memo starts over when it is full
_encode = msgspec.json.encode


def resources_from_v1(value: Any, where: str) -> Resources:
    """A JSON array of Resource objects -> Resources; ApiError naming the bad one."""
    if value is None:
        return Resources()
    if not isinstance(value, list):
        raise ApiError(f"{where}: expected an array of resources")
    if len(value) > _MAX_RESOURCES:
        raise ApiError(f"{where}: more than {_MAX_RESOURCES} resources")
    key = _encode(value)
    if b"null" in key:  # NaN and infinities encode as null: never serve them a memo
        key = b""
    read = _READ.get(key)
    if read is not None:
        return read
    items = [resource_from_v1(item, f"{where}[{index}]") for index, item in enumerate(value)]
    try:
        read = Resources(items)
    except ResourcesError as error:
        raise ApiError(f"{where}: {error}") from None
    if key:
        if len(_READ) >= _MAX_READ:
            _READ.clear()
        _READ[key] = read
    return read


def resource_from_v1(value: Any, where: str) -> Resource:
    item = obj(value, where)
    name = string(item, "name", where, required=True)
    kind = string(item, "type", where, required=True)
    scalar = 0.0
    ranges: tuple[tuple[int, int], ...] = ()
    items: tuple[str, ...] = ()
    if kind == "SCALAR":
        scalar = number(obj(item.get("scalar"), f"{where}.scalar"), "value", f"{where}.scalar")
    elif kind == "RANGES":
        spans = optional_obj(item, "ranges", where) or {}
        ranges = tuple(
            _range(span, f"{where}.ranges.range") for span in array(spans, "range", where)
        )
    elif kind == "SET":
        chosen = optional_obj(item, "set", where) or {}
        entries = array(chosen, "item", f"{where}.set")
        if not all(isinstance(entry, str) for entry in entries):
            raise ApiError(f"{where}.set.item: expected strings")
        items = tuple(sorted(set(entries)))
    else:
        raise ApiError(f"{where}.type: {kind!r} is not SCALAR, RANGES or SET")
    resource = Resource(
        name=name,
        type=kind,
        scalar=scalar,
        ranges=ranges,
        items=items,
        reservations=_reservations(item, where),
        disk=_disk(item, where),
        shared=item.get("shared") is not None,
    )
    try:
        validate_resource(resource)
    except ResourcesError as error:
        raise ApiError(f"{where}: {error}") from None
    return resource


def _range(value: Any, where: str) -> tuple[int, int]:
    span = obj(value, where)
    begin, end = span.get("begin"), span.get("end")
    if not isinstance(begin, int) or not isinstance(end, int) or isinstance(begin, bool):
        raise ApiError(f"{where}: begin and end must be integers")
    return (begin, end)


def _reservations(item: dict[str, Any], where: str) -> tuple[ReservationInfo, ...]:
    stack = array(item, "reservations", where)
    if stack:
        return tuple(
            _reservation(entry, f"{where}.reservations[{index}]")
            for index, entry in enumerate(stack)
        )
    role = string(item, "role", where) or "*"
    if role == "*":
        return ()
    old = optional_obj(item, "reservation", where)
    if old is None:
        return (ReservationInfo(type=STATIC, role=role),)
    return (
        ReservationInfo(
            type=DYNAMIC,
            role=role,
            principal=string(old, "principal", f"{where}.reservation"),
            labels=_labels(old, f"{where}.reservation"),
        ),
    )


def _reservation(value: Any, where: str) -> ReservationInfo:
    entry = obj(value, where)
    kind = string(entry, "type", where) or DYNAMIC
    if kind not in (STATIC, DYNAMIC):
        raise ApiError(f"{where}.type: {kind!r} is not STATIC or DYNAMIC")
    return ReservationInfo(
        type=kind,
        role=string(entry, "role", where, required=True),
        principal=string(entry, "principal", where),
        labels=_labels(entry, where),
    )


def _labels(entry: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    holder = optional_obj(entry, "labels", where) or {}
    labels = []
    for index, label in enumerate(array(holder, "labels", f"{where}.labels")):
        pair = obj(label, f"{where}.labels.labels[{index}]")
        labels.append((string(pair, "key", where, required=True), string(pair, "value", where)))
    return tuple(labels)


def _disk(item: dict[str, Any], where: str) -> DiskInfo | None:
    disk = optional_obj(item, "disk", where)
    if disk is None:
        return None
    here = f"{where}.disk"
    persistence = optional_obj(disk, "persistence", here) or {}
    volume = optional_obj(disk, "volume", here) or {}
    source = optional_obj(disk, "source", here) or {}
    source_type = string(source, "type", f"{here}.source") or "ROOT"
    root_holder = optional_obj(source, source_type.lower(), f"{here}.source") or {}
    return DiskInfo(
        persistence_id=string(persistence, "id", f"{here}.persistence"),
        principal=string(persistence, "principal", f"{here}.persistence"),
        container_path=string(volume, "container_path", f"{here}.volume"),
        mode=string(volume, "mode", f"{here}.volume") or "RW",
        source=source_type,
        source_root=string(root_holder, "root", f"{here}.source"),
    )


def resources_to_v1(
    resources: Resources | tuple[Resource, ...], role: str = ""
) -> list[dict[str, Any]]:
    """Resource objects as Mesos writes them; `role` adds their allocation_info (offers)."""
    return [resource_to_v1(resource, role) for resource in resources]


def resource_to_v1(resource: Resource, allocation_role: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {"name": resource.name, "type": resource.type}
    if resource.type == "SCALAR":
        result["scalar"] = {"value": resource.scalar}
    elif resource.type == "RANGES":
        result["ranges"] = {"range": [{"begin": low, "end": high} for low, high in resource.ranges]}
    else:
        result["set"] = {"item": list(resource.items)}
    result["role"] = resource.role
    if resource.reservations:
        result["reservations"] = [
            {
                "type": reservation.type,
                "role": reservation.role,
                **({"principal": reservation.principal} if reservation.principal else {}),
                **(
                    {"labels": {"labels": [{"key": k, "value": v} for k, v in reservation.labels]}}
                    if reservation.labels
                    else {}
                ),
            }
            for reservation in resource.reservations
        ]
    if resource.disk is not None:
        result["disk"] = _disk_to_v1(resource.disk)
    if resource.shared:
        result["shared"] = {}
    if allocation_role:
        result["allocation_info"] = {"role": allocation_role}
    return result


def _disk_to_v1(disk: DiskInfo) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if disk.persistence_id:
        result["persistence"] = {"id": disk.persistence_id}
        if disk.principal:
            result["persistence"]["principal"] = disk.principal
    if disk.container_path:
        result["volume"] = {"container_path": disk.container_path, "mode": disk.mode}
    if disk.source != "ROOT":
        source: dict[str, Any] = {"type": disk.source}
        if disk.source_root:
            source[disk.source.lower()] = {"root": disk.source_root}
        result["source"] = source
    return result
