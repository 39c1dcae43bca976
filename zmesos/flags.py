"""What every role's flags share: a field with help text, and Mesos's durations.

Flags are dataclasses (MasterFlags, AgentFlags); the `zmesos` command turns
each field into a `--kebab-case` option and shows the field's help.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from zmesos.errors import FlagsError, ResourcesError
from zmesos.resources import Resources

__all__ = ["flag", "parse_bytes", "parse_duration", "parse_resources"]


def flag(default: Any, help: str, *, mesos: bool = True) -> Any:
    """A flags dataclass field with its `--help` text. `mesos`: Mesos has a flag of that name
    (so `MESOS_<NAME>` in the environment sets it too)."""
    return dataclasses.field(default=default, metadata={"help": help, "mesos": mesos})


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")
_UNITS = {
    "": 1.0,
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "secs": 1.0,
    "mins": 60.0,
    "hrs": 3600.0,
    "days": 86400.0,
    "weeks": 604800.0,
}


def parse_duration(text: str) -> float:
    """Mesos's duration text (`10secs`, `1mins`, `500ms`; a bare number is seconds)."""
    match = _DURATION.match(text.lower())
    unit = match[2] if match else None
    if match is None or unit not in _UNITS:
        raise FlagsError(f"bad duration {text!r}: expected a number and one of ns/us/ms/secs/mins")
    return float(match[1]) * _UNITS[unit]


_BYTES = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$")
_BYTE_UNITS = {"": 1, "b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}


def parse_bytes(text: str) -> int:
    """Mesos's byte sizes (`2GB`, `512MB`, `100KB`, `10B`; a bare number is bytes)."""
    match = _BYTES.match(text.lower())
    unit = match[2] if match else None
    if match is None or unit not in _BYTE_UNITS:
        raise FlagsError(f"bad size {text!r}: expected a whole number and one of B/KB/MB/GB/TB")
    return int(match[1]) * _BYTE_UNITS[unit]


def parse_resources(text: str, option: str = "--resources") -> Resources:
    """Resources given on a command line; FlagsError (one line naming `option`) if bad.

    A zero amount (`cpus:0`) is refused rather than dropped: left out, an
    agent's cpus would be detected, which is not what `cpus:0` asked for.
    """
    try:
        resources = Resources.parse(text)
        for entry in text.split(";"):
            if entry.strip() and not Resources.parse(entry):
                raise ResourcesError(
                    f"{entry.strip()!r} is zero: give an amount > 0 or leave it out"
                )
    except ResourcesError as error:
        raise FlagsError(f"{option}: {error}") from None
    return resources
