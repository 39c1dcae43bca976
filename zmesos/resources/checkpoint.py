"""Checkpointed resources: what an agent keeps on disk beyond its `--resources` flag.

An agent's total is its flag resources with operations applied: dynamic
reservations and persistent volumes. Those are the *checkpointed* resources
(Mesos's `needCheckpointing`): the master sends them to the agent after each
operation, the agent writes them to disk, and on a restart applies them to its
flag resources again, so its reservations and volumes come back.
"""

from __future__ import annotations

from zmesos.errors import ResourcesError
from zmesos.resources.collection import Resources
from zmesos.resources.model import _NO_DISK_INFO, DYNAMIC, DiskInfo, Resource
from zmesos.resources.text import format_resource

__all__ = [
    "apply_checkpoint",
    "base_form",
    "checkpointed_part",
    "needs_checkpoint",
    "without_checkpoint",
]


def needs_checkpoint(resource: Resource) -> bool:
    """Whether an operation made this resource: a volume, or dynamically reserved."""
    if resource.is_persistent_volume:
        return True
    return any(reservation.type == DYNAMIC for reservation in resource.reservations)


def checkpointed_part(resources: Resources) -> Resources:
    """The part of an agent's total that it must checkpoint."""
    return resources.filter(needs_checkpoint)


def base_form(resource: Resource) -> Resource:
    """The resource as the agent's flags give it: dynamic reservations popped, volume removed."""
    reservations = tuple(r for r in resource.reservations if r.type != DYNAMIC)
    disk = resource.disk
    if disk is not None and disk.persistence_id:
        source = DiskInfo(source=disk.source, source_root=disk.source_root)
        disk = None if source == _NO_DISK_INFO else source
    return Resource(
        resource.name,
        resource.type,
        scalar=resource.scalar,
        ranges=resource.ranges,
        items=resource.items,
        reservations=reservations,
        disk=disk,
    )


def apply_checkpoint(base: Resources, checkpointed: Resources) -> Resources:
    """The agent's total: `base` (its flag resources) with `checkpointed` applied.

    Raises ResourcesError when the checkpointed resources do not fit the flag
    resources (the agent was restarted with fewer or other resources).
    """
    needed = Resources(base_form(resource) for resource in checkpointed)
    if not base.contains(needed):
        missing = needed - base
        raise ResourcesError(
            "checkpointed resources do not fit the agent's resources: "
            + ";".join(format_resource(resource) for resource in missing)
        )
    return base - needed + checkpointed


def without_checkpoint(total: Resources, checkpointed: Resources) -> Resources:
    """The inverse of `apply_checkpoint`: a total back in its flag form."""
    return total - checkpointed + Resources(base_form(resource) for resource in checkpointed)
