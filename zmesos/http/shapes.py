"""What the master's and the agent's JSON endpoints share: Mesos's resource and flag forms.

`resources_json` is the form Mesos's `/state` gives resources in (a map of
name to amount); `format_flags` the form it gives flags in (every value a
string, durations as Mesos prints them: `15secs`, `10mins`, `200ms`).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from zmesos.resources import Resources

__all__ = ["format_duration", "format_flags", "is_duration_flag", "resources_json"]

# A float flag whose name holds one of these words is a duration (seconds in code).
DURATION_WORDS = ("timeout", "interval", "period", "seconds", "delay", "factor", "age")

# Mesos's units, largest first, in seconds.
_UNITS = (
    ("weeks", 604800.0),
    ("days", 86400.0),
    ("hrs", 3600.0),
    ("mins", 60.0),
    ("secs", 1.0),
    ("ms", 1e-3),
    ("us", 1e-6),
    ("ns", 1e-9),
)


def resources_json(resources: Resources) -> dict[str, Any]:
    """Mesos's JSON form: scalars as numbers, ranges as "[a-b,c-d]", sets as "{a,b}".

    Summed over roles, as Mesos's `resources` fields are.
    """
    result: dict[str, Any] = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
    ranges: dict[str, list[tuple[int, int]]] = {}
    items: dict[str, set[str]] = {}
    for resource in resources:
        if resource.type == "SCALAR":
            result[resource.name] = round(result.get(resource.name, 0.0) + resource.scalar, 3)
        elif resource.type == "RANGES":
            ranges.setdefault(resource.name, []).extend(resource.ranges)
        else:
            items.setdefault(resource.name, set()).update(resource.items)
    for name, spans in ranges.items():
        result[name] = "[" + ",".join(f"{low}-{high}" for low, high in _coalesced(spans)) + "]"
    for name, values in items.items():
        result[name] = "{" + ",".join(sorted(values)) + "}"
    return result


def _coalesced(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def format_duration(seconds: float) -> str:
    """Mesos's spelling: the largest unit not above the value, `15secs`, `1.5mins`, `0ns`."""
    sign = "-" if seconds < 0 else ""
    magnitude = abs(seconds)
    for unit, size in _UNITS:
        if magnitude >= size:
            return f"{sign}{magnitude / size:.15g}{unit}"
    return "0ns"


def is_duration_flag(name: str, kind: Any) -> bool:
    """Whether a flags field holds a duration: a float (or optional float) named like a time."""
    if typing.get_origin(kind) is not None:
        members = [member for member in typing.get_args(kind) if member is not type(None)]
        kind = members[0] if members else kind
    return kind is float and any(word in name for word in DURATION_WORDS)


def format_flags(flags: object) -> dict[str, str]:
    """A flags dataclass as Mesos's `/flags` and `/state` show it: name -> string, durations in
    Mesos's units, booleans `true`/`false`, an unset optional as an empty string."""
    if not dataclasses.is_dataclass(flags) or isinstance(flags, type):
        return {}
    hints = typing.get_type_hints(type(flags))
    formatted: dict[str, str] = {}
    for field in dataclasses.fields(flags):
        value = getattr(flags, field.name)
        if value is None:
            formatted[field.name] = ""
        elif isinstance(value, bool):
            formatted[field.name] = "true" if value else "false"
        elif is_duration_flag(field.name, hints.get(field.name)) and isinstance(value, int | float):
            formatted[field.name] = format_duration(float(value))
        else:
            formatted[field.name] = str(value)
    return dict(sorted(formatted.items()))
