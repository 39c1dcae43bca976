"""The text form: parsing `cpus:2;mem:1024;ports:[31000-32000]` and printing it back."""

from __future__ import annotations

import math
from urllib.parse import quote, unquote

from zmesos.errors import ResourcesError
from zmesos.resources.model import (
    _RESERVATION_TYPES,
    RANGES,
    SCALAR,
    SET,
    STATIC,
    DiskInfo,
    ReservationInfo,
    Resource,
)
from zmesos.resources.roles import UNRESERVED_ROLE

# ----------------------------------------------------------------------------- text form


def _escape(text: str) -> str:
    return quote(text, safe="/*")


def _format_scalar(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _format_reservation(reservation: ReservationInfo) -> str:
    fields = [_escape(reservation.role)]
    if reservation.type != STATIC:
        fields.append(reservation.type)
    if reservation.principal:
        fields.append(f"principal={_escape(reservation.principal)}")
    for key, value in reservation.labels:
        fields.append(f"label={_escape(key)}:{_escape(value)}")
    return " ".join(fields)


def _format_disk(disk: DiskInfo) -> str:
    fields = []
    if disk.persistence_id or disk.container_path:
        fields.append(f"{_escape(disk.persistence_id)}:{_escape(disk.container_path)}")
    if disk.mode != "RW":
        fields.append(f"mode={disk.mode}")
    if disk.principal:
        fields.append(f"principal={_escape(disk.principal)}")
    if disk.source != "ROOT":
        fields.append(f"source={disk.source}")
    if disk.source_root:
        fields.append(f"root={_escape(disk.source_root)}")
    return " ".join(fields)


def format_resource(resource: Resource) -> str:
    parts = [resource.name]
    if resource.reservations:
        parts.append(f"({','.join(_format_reservation(r) for r in resource.reservations)})")
    if resource.disk is not None:
        parts.append(f"[{_format_disk(resource.disk)}]")
    if resource.shared:
        parts.append("<SHARED>")
    parts.append(":")
    if resource.type == SCALAR:
        parts.append(_format_scalar(resource.scalar))
    elif resource.type == RANGES:
        parts.append(f"[{','.join(f'{low}-{high}' for low, high in resource.ranges)}]")
    else:
        parts.append(f"{{{','.join(_escape(item) for item in resource.items)}}}")
    return "".join(parts)


def _enclosed(entry: str, start: int, closing: str) -> tuple[str, int]:
    """The text between entry[start] and the next `closing`, and the index after it."""
    end = entry.find(closing, start + 1)
    if end < 0:
        raise ResourcesError(f"{entry[start]!r} is not closed by {closing!r}")
    return entry[start + 1 : end], end + 1


def _skip_spaces(entry: str, index: int) -> int:
    while index < len(entry) and entry[index].isspace():
        index += 1
    return index


def parse_entry(entry: str, default: tuple[ReservationInfo, ...]) -> Resource:
    """One `name[(reservations)][disk][<SHARED>]:value` entry, not yet validated."""
    index = 0
    while index < len(entry) and entry[index] not in "([<:" and not entry[index].isspace():
        index += 1
    name = entry[:index]
    if not name:
        raise ResourcesError("missing resource name")
    reservations = default
    disk = None
    shared = False
    index = _skip_spaces(entry, index)
    if entry.startswith("(", index):
        inside, index = _enclosed(entry, index, ")")
        reservations = _parse_reservations(inside)
        index = _skip_spaces(entry, index)
    if entry.startswith("[", index):
        inside, index = _enclosed(entry, index, "]")
        disk = _parse_disk(inside)
        index = _skip_spaces(entry, index)
    if entry.startswith("<SHARED>", index):
        shared = True
        index = _skip_spaces(entry, index + len("<SHARED>"))
    if not entry.startswith(":", index):
        raise ResourcesError(f"expected ':' after {entry[:index].strip()!r}")
    value = entry[index + 1 :].strip()
    if not value:
        raise ResourcesError("missing value after ':'")
    if value[0] == "[":
        ranges = _parse_ranges(value)
        return Resource(
            name, RANGES, ranges=ranges, reservations=reservations, disk=disk, shared=shared
        )
    if value[0] == "{":
        items = _parse_set(value)
        return Resource(name, SET, items=items, reservations=reservations, disk=disk, shared=shared)
    return Resource(
        name,
        SCALAR,
        scalar=_parse_scalar(value),
        reservations=reservations,
        disk=disk,
        shared=shared,
    )


def _parse_scalar(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ResourcesError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ResourcesError(f"{text!r} is not a finite number")
    if value < 0:
        raise ResourcesError(f"{text!r} is negative")
    return value


def _parse_bound(text: str, whole: str) -> int:
    if not text.isdecimal():
        raise ResourcesError(f"{text!r} in {whole!r} is not a non-negative integer")
    return int(text)


def _parse_ranges(text: str) -> tuple[tuple[int, int], ...]:
    if not text.endswith("]"):
        raise ResourcesError(f"ranges {text!r} do not end with ']'")
    inside = text[1:-1].strip()
    if not inside:
        return ()
    ranges = []
    for part in inside.split(","):
        part = part.strip()
        low_text, dash, high_text = part.partition("-")
        low = _parse_bound(low_text.strip(), part)
        high = _parse_bound(high_text.strip(), part) if dash else low
        if low > high:
            raise ResourcesError(f"range {part!r} is inverted")
        ranges.append((low, high))
    return tuple(ranges)


def _parse_set(text: str) -> tuple[str, ...]:
    if not text.endswith("}"):
        raise ResourcesError(f"set {text!r} does not end with '}}'")
    inside = text[1:-1].strip()
    if not inside:
        return ()
    items = []
    for part in inside.split(","):
        item = unquote(part.strip())
        if not item:
            raise ResourcesError(f"set {text!r} has an empty item")
        items.append(item)
    return tuple(items)


def _parse_reservations(text: str) -> tuple[ReservationInfo, ...]:
    levels = [level.strip() for level in text.split(",")]
    if levels == [UNRESERVED_ROLE]:
        return ()
    return tuple(_parse_reservation(level) for level in levels)


def _parse_reservation(text: str) -> ReservationInfo:
    fields = text.split()
    if not fields:
        raise ResourcesError("empty reservation in '(...)'")
    role = unquote(fields[0])
    kind = STATIC
    principal = ""
    labels = []
    for field in fields[1:]:
        if field in _RESERVATION_TYPES:
            kind = field
        elif field.startswith("principal="):
            principal = unquote(field[len("principal=") :])
        elif field.startswith("label="):
            key, colon, value = field[len("label=") :].partition(":")
            if not colon:
                raise ResourcesError(f"label {field!r} is not label=key:value")
            labels.append((unquote(key), unquote(value)))
        else:
            raise ResourcesError(f"unknown reservation field {field!r}")
    return ReservationInfo(kind, role, principal, tuple(labels))


def _parse_disk(text: str) -> DiskInfo:
    fields: dict[str, str] = {}
    for field in text.split():
        key, equals, value = field.partition("=")
        if equals:
            if key not in ("mode", "principal", "source", "root"):
                raise ResourcesError(f"unknown disk field {field!r}")
            fields[key] = value
        elif ":" in field:
            persistence_id, _, path = field.partition(":")
            fields["id"], fields["path"] = persistence_id, path
        else:
            raise ResourcesError(f"disk field {field!r} is neither id:path nor key=value")
    return DiskInfo(
        persistence_id=unquote(fields.get("id", "")),
        principal=unquote(fields.get("principal", "")),
        container_path=unquote(fields.get("path", "")),
        mode=fields.get("mode", "RW"),
        source=fields.get("source", "ROOT"),
        source_root=unquote(fields.get("root", "")),
    )
