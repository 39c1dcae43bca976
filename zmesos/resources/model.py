"""The data model: `Resource`, its reservations and disk info, and their validation.

Frozen values the garbage collector does not track (`gc=False`), like the
messages that carry them (libprocess.Message).
"""

from __future__ import annotations

import math
import posixpath

import msgspec

from zmesos.errors import ResourcesError
from zmesos.resources.roles import UNRESERVED_ROLE, is_strict_subrole, validate_role

SCALAR = "SCALAR"
RANGES = "RANGES"
SET = "SET"
STATIC = "STATIC"
DYNAMIC = "DYNAMIC"

_TYPES = frozenset((SCALAR, RANGES, SET))
_RESERVATION_TYPES = frozenset((STATIC, DYNAMIC))
_DISK_MODES = frozenset(("RW", "RO"))
_DISK_SOURCES = frozenset(("ROOT", "PATH", "MOUNT"))
# Characters that delimit the text form, so a resource name cannot hold them.
_NAME_FORBIDDEN = frozenset("()[]{}<>:;,%=") | frozenset("\t\n\v\f\r \x7f")
# Names with a meaning beyond their type: GPUs come whole, ports are TCP/UDP port numbers.
_WHOLE_SCALARS = frozenset(("gpus",))
_PORT_RANGES = frozenset(("ports",))
_PORT_MAX = 65535

# ----------------------------------------------------------------------------- data model


class ReservationInfo(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """One level of a resource's reservation stack."""

    type: str  # STATIC (from the agent's flags) or DYNAMIC (by a RESERVE operation)
    role: str
    principal: str = ""
    labels: tuple[tuple[str, str], ...] = ()


class DiskInfo(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """A disk resource's volume (when `persistence_id` is set) and source."""

    persistence_id: str = ""
    principal: str = ""
    container_path: str = ""
    mode: str = "RW"  # RW or RO
    source: str = "ROOT"  # ROOT, PATH or MOUNT
    source_root: str = ""


_NO_DISK_INFO = DiskInfo()


class Resource(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """One resource: a name, a typed value, its reservations, disk info and sharedness.

    Only the field of its `type` carries the value (`scalar`, `ranges` or
    `items`). `reservations` is a stack whose last entry names the current
    role; empty means unreserved (role `*`). Build collections with `Resources`
    (which rounds, sorts and merges); a lone Resource is not normalized.
    Fields at their defaults stay off the wire (`omit_defaults`): an unreserved
    `cpus:2` encodes as a map of three entries.
    """

    name: str
    type: str  # SCALAR, RANGES or SET
    scalar: float = 0.0
    ranges: tuple[tuple[int, int], ...] = ()  # inclusive bounds
    items: tuple[str, ...] = ()  # sorted
    reservations: tuple[ReservationInfo, ...] = ()
    disk: DiskInfo | None = None
    shared: bool = False

    @property
    def role(self) -> str:
        """The role the resource is reserved to now, `*` when unreserved."""
        return self.reservations[-1].role if self.reservations else UNRESERVED_ROLE

    @property
    def is_reserved(self) -> bool:
        return bool(self.reservations)

    @property
    def is_persistent_volume(self) -> bool:
        return self.disk is not None and self.disk.persistence_id != ""

    def with_reservations(self, reservations: tuple[ReservationInfo, ...]) -> Resource:
        """This resource with another reservation stack (not validated)."""
        return msgspec.structs.replace(self, reservations=reservations)

    def with_disk(self, disk: DiskInfo | None) -> Resource:
        """This resource with other disk info, e.g. a volume's (not validated)."""
        return msgspec.structs.replace(self, disk=disk)

    def __str__(self) -> str:
        from zmesos.resources.text import format_resource  # text builds on this module

        return format_resource(self)


def validate_resource(resource: Resource) -> None:
    """Raise ResourcesError unless `resource` follows Mesos's rules.

    Checks the name, the type and that only its value field is set, the value
    (finite, non-negative, ranges not inverted, set items non-empty; `gpus` a
    whole number, `ports` within 0-65535), the reservation stack (valid roles
    other than `*`, STATIC only at the bottom, each refinement a strict subrole
    of the one below), disk info (only on `disk`, known mode and source, volumes
    reserved) and that only persistent volumes are shared.
    """
    name = resource.name
    if not isinstance(name, str) or not name:
        raise ResourcesError("resource name must not be empty")
    if any(char in _NAME_FORBIDDEN or char.isspace() for char in name):
        raise ResourcesError(
            f"resource name {name!r} contains whitespace or one of ()[]{{}}<>:;,%="
        )
    kind = resource.type
    if kind not in _TYPES:
        raise ResourcesError(f"resource {name!r} has unknown type {kind!r}")
    if kind == SCALAR:
        value = resource.scalar
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ResourcesError(
                f"resource {name!r} has scalar {value!r}, not a finite number >= 0"
            )
        if name in _WHOLE_SCALARS and value != int(value):
            raise ResourcesError(f"resource {name!r} has {value!r}, not a whole number")
    elif resource.scalar:
        raise ResourcesError(f"{kind} resource {name!r} has a scalar value")
    if kind == RANGES:
        for bounds in resource.ranges:
            if len(bounds) != 2 or not all(isinstance(bound, int) for bound in bounds):
                raise ResourcesError(f"resource {name!r} has malformed range {bounds!r}")
            low, high = bounds
            if low < 0 or low > high:
                raise ResourcesError(f"resource {name!r} has bad range {low}-{high}")
            if name in _PORT_RANGES and high > _PORT_MAX:
                raise ResourcesError(f"resource {name!r} has range {low}-{high} past {_PORT_MAX}")
    elif resource.ranges:
        raise ResourcesError(f"{kind} resource {name!r} has ranges")
    if kind == SET:
        for item in resource.items:
            if not isinstance(item, str) or not item:
                raise ResourcesError(f"resource {name!r} has set item {item!r}, not a string")
    elif resource.items:
        raise ResourcesError(f"{kind} resource {name!r} has set items")
    _validate_reservations(name, resource.reservations)
    disk = resource.disk
    if disk is not None:
        if name != "disk":
            raise ResourcesError(f"resource {name!r} has disk info, which only 'disk' may have")
        if disk.mode not in _DISK_MODES:
            raise ResourcesError(f"disk volume mode {disk.mode!r} is not RW or RO")
        if disk.source not in _DISK_SOURCES:
            raise ResourcesError(f"disk source {disk.source!r} is not ROOT, PATH or MOUNT")
        if disk.persistence_id and not resource.reservations:
            raise ResourcesError(f"persistent volume {disk.persistence_id!r} is not reserved")
    if resource.shared and not resource.is_persistent_volume:
        raise ResourcesError(f"resource {name!r} is shared but not a persistent volume")


def _validate_reservations(name: str, reservations: tuple[ReservationInfo, ...]) -> None:
    below: ReservationInfo | None = None
    for reservation in reservations:
        if reservation.type not in _RESERVATION_TYPES:
            raise ResourcesError(f"reservation of {name!r} has unknown type {reservation.type!r}")
        validate_role(reservation.role)
        if reservation.role == UNRESERVED_ROLE:
            raise ResourcesError(f"resource {name!r} cannot be reserved to role '*'")
        if below is not None:
            if reservation.type == STATIC:
                raise ResourcesError(f"static reservation of {name!r} must be at the bottom")
            if not is_strict_subrole(reservation.role, below.role):
                raise ResourcesError(
                    f"reservation of {name!r} to {reservation.role!r} "
                    f"does not refine {below.role!r} (must be a strict subrole)"
                )
        below = reservation


def container_path_problem(path: str) -> str | None:
    """Why a volume's container path is not a relative path inside the sandbox, or None."""
    if not path:
        return "a volume needs a container path"
    if path.startswith("/"):
        return f"container path {path!r} is absolute; it must be relative to the sandbox"
    if "\0" in path:
        return "container path contains a NUL byte"
    normalized = posixpath.normpath(path)
    if ".." in path.split("/") or normalized in (".", "..") or normalized.startswith("../"):
        return f"container path {path!r} leaves the sandbox ('..')"
    return None
