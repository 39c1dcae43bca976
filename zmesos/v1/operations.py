"""Mesos's v1 resource operations in JSON -> our Operation structs.

One reader per operation, shared by the scheduler's ACCEPT (an
`Offer.Operation`'s `reserve`, `create`, `grow_volume`, ... body) and the
operator's RESERVE_RESOURCES, CREATE_VOLUMES, GROW_VOLUME, ... calls (the
call's body, which also names the agent): both carry the same fields
(`resources`, `volumes`, `volume` and `addition`, `volume` and `subtract`).
Each reader raises ApiError naming the bad field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zmesos.errors import ApiError, ResourcesError
from zmesos.protocol import Operation, OperationType
from zmesos.resources import Resources
from zmesos.v1.reader import number, obj
from zmesos.v1.resources import resource_from_v1, resources_from_v1

__all__ = ["OPERATION_READERS", "OperationReader"]

OperationReader = Callable[[dict[str, Any], str], Operation]


def _resources(kind: OperationType, field: str) -> OperationReader:
    def read(body: dict[str, Any], where: str) -> Operation:
        resources = resources_from_v1(body.get(field), f"{where}.{field}")
        return Operation(type=kind, resources=tuple(resources.to_list()))

    return read


def _reserve(body: dict[str, Any], where: str) -> Operation:
    """RESERVE; a `source` (Mesos 1.9), when given, must be what the reservation is made from."""
    operation = _resources(OperationType.RESERVE, "resources")(body, where)
    if body.get("source") is not None:
        source = resources_from_v1(body["source"], f"{where}.source")
        made_from = _reserved_from(operation)
        if made_from is not None and source != made_from:
            raise ApiError(
                f"{where}.source: {source} is not what {where}.resources are reserved"
                f" from ({made_from})"
            )
    return operation


def _reserved_from(operation: Operation) -> Resources | None:
    try:
        return Resources(operation.resources).popped()
    except ResourcesError:
        return None  # the master refuses the reservation itself, naming the rule


def _grow_volume(body: dict[str, Any], where: str) -> Operation:
    return Operation(
        type=OperationType.GROW_VOLUME,
        volume=resource_from_v1(body.get("volume"), f"{where}.volume"),
        addition=resource_from_v1(body.get("addition"), f"{where}.addition"),
    )


def _shrink_volume(body: dict[str, Any], where: str) -> Operation:
    subtract = obj(body.get("subtract"), f"{where}.subtract")
    return Operation(
        type=OperationType.SHRINK_VOLUME,
        volume=resource_from_v1(body.get("volume"), f"{where}.volume"),
        subtract=number(subtract, "value", f"{where}.subtract"),
    )


# Offer.Operation type -> (the key of its body, its reader)
OPERATION_READERS: dict[str, tuple[str, OperationReader]] = {
    "RESERVE": ("reserve", _reserve),
    "UNRESERVE": ("unreserve", _resources(OperationType.UNRESERVE, "resources")),
    "CREATE": ("create", _resources(OperationType.CREATE, "volumes")),
    "DESTROY": ("destroy", _resources(OperationType.DESTROY, "volumes")),
    "GROW_VOLUME": ("grow_volume", _grow_volume),
    "SHRINK_VOLUME": ("shrink_volume", _shrink_volume),
}
