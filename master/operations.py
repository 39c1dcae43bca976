"""Offer operations other than LAUNCH: validate one and say what it turns into what.

RESERVE, UNRESERVE, CREATE, DESTROY, GROW_VOLUME and SHRINK_VOLUME
(docs/reservation.md, persistent-volume.md, shared-resources.md and
Mesos's master/validation.cpp). Pure functions over plain values:
`apply_operation` returns a `Conversion` (the offered resources it consumes
and what they become) or a `Refusal` naming the rule it breaks. The master
applies a conversion to what is left of the offers, to the agent's total and
to the allocator, in the order the Accept lists its operations.

Rules every refusal names (`Refusal.rule`, also the metric's suffix):
- `invalid_resources`: the resources break Mesos's resource rules;
- `not_offered`: what the operation consumes is not (or no longer) in the offers;
- `role_not_subscribed`: a reservation or volume for a role the framework is
  not subscribed to (nor under);
- `principal_mismatch`: a reservation's or volume's principal is not the framework's;
- `reserve_not_dynamic`, `reserve_volume`: RESERVE pushes exactly one DYNAMIC
  reservation on plain resources;
- `unreserve_not_dynamic`, `unreserve_volume`: UNRESERVE pops a DYNAMIC
  reservation, never under a volume (DESTROY it first);
- `create_not_volume`, `create_unreserved_disk`, `invalid_persistence_id`,
  `persistence_id_in_use` (unique per role per agent), `invalid_container_path`
  (relative, inside the sandbox), `shared_not_allowed` (needs SHARED_RESOURCES);
- `destroy_not_volume`, `unknown_volume`, `volume_in_use` (DESTROY and SHRINK);
- `grow_invalid_addition`, `shrink_invalid_amount`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import msgspec

from master.allocator import SHARED_RESOURCES  # the framework capability shared volumes need
from zmesos.errors import ResourcesError
from zmesos.protocol import FrameworkInfo, Operation, OperationType
from zmesos.resources import (
    DYNAMIC,
    SCALAR,
    Resource,
    Resources,
    container_path_problem,
    role_ancestors,
    validate_resource,
)

__all__ = [
    "SHARED_RESOURCES",
    "Conversion",
    "Refusal",
    "apply_operation",
    "framework_may_hold",
]

_MAX_ID_LENGTH = 255


@dataclasses.dataclass(frozen=True)
class Conversion:
    """A valid operation: `consumed` (of the offers) becomes `converted`."""

    consumed: Resources
    converted: Resources


@dataclasses.dataclass(frozen=True)
class Refusal:
    """An invalid operation: the rule it breaks and a one-line message for logs."""

    rule: str
    message: str


def apply_operation(
    operation: Operation,
    *,
    framework: FrameworkInfo | None,
    available: Resources,
    agent_total: Resources,
    in_use: Resources,
) -> Conversion | Refusal:
    """Validate a non-LAUNCH operation against what is left of the offers.

    `framework`: who asks; None for an operator (no role, principal or
    capability rules then, as an operator acts for every role).
    `agent_total`: the agent's total now (for the volumes it already has);
    `in_use`: what the agent's live tasks and executors hold.
    """
    handler = _HANDLERS.get(operation.type)
    if handler is None:
        return Refusal("unsupported", f"operation {operation.type} is not a resource operation")
    result = handler(operation, framework, agent_total, in_use)
    if isinstance(result, Refusal):
        return result
    if not available.contains(result.consumed):
        return Refusal(
            "not_offered",
            f"{operation.type} needs {result.consumed}, which is not in the offers ({available})",
        )
    return result


def framework_may_hold(framework: FrameworkInfo, role: str) -> bool:
    """Whether `role` is one of the framework's roles or above one of them."""
    roles = framework.roles or ("*",)
    return any(role == mine or role in role_ancestors(mine) for mine in roles)


# ----------------------------------------------------------------------------- handlers


def _reserve(
    operation: Operation, framework: FrameworkInfo | None, agent_total: Resources, in_use: Resources
) -> Conversion | Refusal:
    resources = _valid(operation.resources)
    if isinstance(resources, Refusal):
        return resources
    if not resources:
        return Refusal("invalid_resources", "RESERVE names no resources")
    for resource in resources:
        if resource.is_persistent_volume:
            return Refusal("reserve_volume", f"RESERVE of a persistent volume {resource}")
        if not resource.reservations or resource.reservations[-1].type != DYNAMIC:
            return Refusal(
                "reserve_not_dynamic", f"RESERVE needs a DYNAMIC reservation on top: {resource}"
            )
        reservation = resource.reservations[-1]
        if framework is None:
            continue
        if reservation.role not in (framework.roles or ("*",)):
            return Refusal(
                "role_not_subscribed",
                f"RESERVE for role {reservation.role!r}, which the framework is not subscribed to",
            )
        if reservation.principal != framework.principal:
            return Refusal(
                "principal_mismatch",
                f"RESERVE with principal {reservation.principal!r}, not the framework's"
                f" {framework.principal!r}",
            )
    try:
        consumed = resources.popped()
    except ResourcesError as error:
        return Refusal("reserve_not_dynamic", str(error))
    return Conversion(consumed, resources)


def _unreserve(
    operation: Operation, framework: FrameworkInfo | None, agent_total: Resources, in_use: Resources
) -> Conversion | Refusal:
    resources = _valid(operation.resources)
    if isinstance(resources, Refusal):
        return resources
    if not resources:
        return Refusal("invalid_resources", "UNRESERVE names no resources")
    for resource in resources:
        if resource.is_persistent_volume:
            return Refusal(
                "unreserve_volume",
                f"UNRESERVE of disk that holds persistent volume {resource}: DESTROY it first",
            )
    try:
        converted = resources.popped()
    except ResourcesError as error:
        return Refusal("unreserve_not_dynamic", str(error))
    return Conversion(resources, converted)


def _create(
    operation: Operation, framework: FrameworkInfo | None, agent_total: Resources, in_use: Resources
) -> Conversion | Refusal:
    for resource in operation.resources:
        if resource.disk is not None and resource.disk.persistence_id and not resource.reservations:
            return Refusal("create_unreserved_disk", f"CREATE on unreserved disk: {resource}")
    volumes = _valid(operation.resources)
    if isinstance(volumes, Refusal):
        return volumes
    if not volumes:
        return Refusal("invalid_resources", "CREATE names no volumes")
    existing = {(v.role, v.disk.persistence_id) for v in agent_total.persistent_volumes() if v.disk}
    for volume in volumes:
        refusal = _check_new_volume(volume, framework, existing)
        if refusal is not None:
            return refusal
        assert volume.disk is not None
        existing.add((volume.role, volume.disk.persistence_id))
    return Conversion(volumes.without_volumes(), volumes)


def _check_new_volume(
    volume: Resource, framework: FrameworkInfo | None, existing: set[tuple[str, str]]
) -> Refusal | None:
    disk = volume.disk
    if disk is None or not disk.persistence_id:
        return Refusal("create_not_volume", f"CREATE of disk without a persistence id: {volume}")
    id_problem = _persistence_id_problem(disk.persistence_id)
    if id_problem is not None:
        return Refusal("invalid_persistence_id", id_problem)
    path_problem = container_path_problem(disk.container_path)
    if path_problem is not None:
        return Refusal("invalid_container_path", path_problem)
    if (volume.role, disk.persistence_id) in existing:
        return Refusal(
            "persistence_id_in_use",
            f"persistence id {disk.persistence_id!r} is already in use for role"
            f" {volume.role!r} on this agent",
        )
    if framework is None:
        return None
    if not framework_may_hold(framework, volume.role):
        return Refusal(
            "role_not_subscribed",
            f"CREATE for role {volume.role!r}, which the framework is not subscribed to",
        )
    if disk.principal != framework.principal:
        return Refusal(
            "principal_mismatch",
            f"CREATE with principal {disk.principal!r}, not the framework's"
            f" {framework.principal!r}",
        )
    if volume.shared and SHARED_RESOURCES not in framework.capabilities:
        return Refusal(
            "shared_not_allowed",
            "CREATE of a shared volume by a framework without the SHARED_RESOURCES capability",
        )
    return None


def _destroy(
    operation: Operation, framework: FrameworkInfo | None, agent_total: Resources, in_use: Resources
) -> Conversion | Refusal:
    volumes = _valid(operation.resources)
    if isinstance(volumes, Refusal):
        return volumes
    if not volumes:
        return Refusal("invalid_resources", "DESTROY names no volumes")
    for volume in volumes:
        refusal = _check_existing_volume("DESTROY", volume, agent_total, in_use)
        if refusal is not None:
            return refusal
    return Conversion(volumes, volumes.without_volumes())


def _check_existing_volume(
    kind: str, volume: Resource, agent_total: Resources, in_use: Resources
) -> Refusal | None:
    if not volume.is_persistent_volume:
        return Refusal("destroy_not_volume", f"{kind} of something not a volume: {volume}")
    if not agent_total.contains(volume):
        return Refusal(
            "unknown_volume", f"{kind} of volume {volume}, which the agent does not have"
        )
    assert volume.disk is not None
    persistence_id = volume.disk.persistence_id
    for used in in_use.persistent_volumes():
        if used.role == volume.role and used.disk and used.disk.persistence_id == persistence_id:
            return Refusal("volume_in_use", f"{kind} of volume {persistence_id!r} in use by a task")
    return None


def _grow(
    operation: Operation, framework: FrameworkInfo | None, agent_total: Resources, in_use: Resources
) -> Conversion | Refusal:
    if operation.volume is None or operation.addition is None:
        return Refusal("invalid_resources", "GROW_VOLUME needs a volume and an addition")
    parts = _valid((operation.volume, operation.addition))
    if isinstance(parts, Refusal):
        return parts
    volume, addition = operation.volume, operation.addition
    refusal = _check_existing_volume("GROW_VOLUME", volume, agent_total, Resources())
    if refusal is not None:
        return refusal
    if volume.shared:
        return Refusal("grow_invalid_addition", "GROW_VOLUME of a shared volume")
    assert volume.disk is not None
    if (
        addition.name != "disk"
        or addition.type != SCALAR
        or addition.scalar <= 0
        or addition.is_persistent_volume
        or addition.reservations != volume.reservations
        or (addition.disk.source if addition.disk else "ROOT") != volume.disk.source
    ):
        return Refusal(
            "grow_invalid_addition",
            f"GROW_VOLUME addition {addition} is not disk reserved like the volume",
        )
    grown = msgspec.structs.replace(volume, scalar=round(volume.scalar + addition.scalar, 3))
    return Conversion(Resources((volume, addition)), Resources((grown,)))


def _shrink(
    operation: Operation, framework: FrameworkInfo | None, agent_total: Resources, in_use: Resources
) -> Conversion | Refusal:
    if operation.volume is None:
        return Refusal("invalid_resources", "SHRINK_VOLUME needs a volume")
    parts = _valid((operation.volume,))
    if isinstance(parts, Refusal):
        return parts
    volume = operation.volume
    refusal = _check_existing_volume("SHRINK_VOLUME", volume, agent_total, in_use)
    if refusal is not None:
        return refusal
    subtract = round(operation.subtract, 3)
    if volume.shared or not 0 < subtract < volume.scalar:
        return Refusal(
            "shrink_invalid_amount",
            f"SHRINK_VOLUME by {operation.subtract} of a {volume.scalar} MB volume"
            " (must be more than 0 and less than its size, and not shared)",
        )
    shrunk = msgspec.structs.replace(volume, scalar=round(volume.scalar - subtract, 3))
    freed = Resources((msgspec.structs.replace(volume, scalar=subtract),)).without_volumes()
    return Conversion(Resources((volume,)), Resources((shrunk,)) + freed)


_HANDLERS = {
    OperationType.RESERVE: _reserve,
    OperationType.UNRESERVE: _unreserve,
    OperationType.CREATE: _create,
    OperationType.DESTROY: _destroy,
    OperationType.GROW_VOLUME: _grow,
    OperationType.SHRINK_VOLUME: _shrink,
}


# ----------------------------------------------------------------------------- checks


def _valid(resources: Iterable[Resource]) -> Resources | Refusal:
    resources = list(resources)
    try:
        for resource in resources:
            validate_resource(resource)
    except ResourcesError as error:
        return Refusal("invalid_resources", f"invalid resources: {error}")
    return Resources(resources)


def _persistence_id_problem(persistence_id: str) -> str | None:
    if len(persistence_id) > _MAX_ID_LENGTH:
        return f"persistence id is longer than {_MAX_ID_LENGTH} characters"
    if persistence_id in (".", "..") or "/" in persistence_id or "\0" in persistence_id:
        return f"persistence id {persistence_id!r} cannot be a directory name"
    if any(not char.isprintable() or char.isspace() for char in persistence_id):
        return f"persistence id {persistence_id!r} contains whitespace or a control character"
    return None
