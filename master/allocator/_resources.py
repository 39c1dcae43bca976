"""The few `Resources` operations the allocator needs, and their quantity views.

Everything here turns `Resources` (the protocol's value type) into the plain
quantity dicts the allocator's bookkeeping runs on, or trims `Resources` for
an offer. Only scalars count toward shares and quota, as in Mesos (its sorters
and quota use `ResourceQuantities::fromScalarResources`); a shared volume
counts once however many copies a collection holds.
"""

from __future__ import annotations

from collections.abc import Mapping

from msgspec.structs import replace

from master.allocator.quantities import Quantities
from zmesos.resources import SCALAR, Resource, Resources

__all__ = [
    "EMPTY",
    "reservation_quantities",
    "reserved_roles",
    "reserved_scalar_quantities",
    "scalar_quantities",
    "shrink",
    "split_quota_scalars",
    "unreserved_scalar_quantities",
]

EMPTY = Resources()


def scalar_quantities(resources: Resources) -> Quantities:
    """Scalar amounts by name over all roles; shared copies counted once."""
    amounts: Quantities = {}
    seen_shared: set[Resource] | None = None
    for resource in resources:
        if resource.type != SCALAR:
            continue
        if resource.shared:
            if seen_shared is None:
                seen_shared = set()
            if resource in seen_shared:
                continue
            seen_shared.add(resource)
        name = resource.name
        amounts[name] = amounts.get(name, 0.0) + resource.scalar
    return amounts


def unreserved_scalar_quantities(resources: Resources) -> Quantities:
    """Scalar amounts of the unreserved part."""
    amounts: Quantities = {}
    for resource in resources:
        if resource.type == SCALAR and not resource.reservations:
            name = resource.name
            amounts[name] = amounts.get(name, 0.0) + resource.scalar
    return amounts


def reserved_scalar_quantities(resources: Resources) -> Quantities:
    """Scalar amounts of the reserved part (a shared volume counted once)."""
    amounts: Quantities = {}
    for role_amounts in reservation_quantities(resources).values():
        for name, amount in role_amounts.items():
            amounts[name] = amounts.get(name, 0.0) + amount
    return amounts


def reservation_quantities(resources: Resources) -> dict[str, Quantities]:
    """Reserved scalar amounts by the role each resource is reserved to now."""
    by_role: dict[str, Quantities] = {}
    seen_shared: set[Resource] = set()
    for resource in resources:
        if not resource.reservations or resource.type != SCALAR:
            continue
        if resource.shared:
            if resource in seen_shared:
                continue
            seen_shared.add(resource)
        amounts = by_role.setdefault(resource.role, {})
        amounts[resource.name] = amounts.get(resource.name, 0.0) + resource.scalar
    return by_role


def reserved_roles(resources: Resources) -> set[str]:
    """The roles some of `resources` are reserved to."""
    return {resource.role for resource in resources if resource.reservations}


def split_quota_scalars(resources: Resources) -> tuple[Resources, Resources]:
    """`(unreserved non-shared scalars, everything else)`: what quota counts, and what not."""
    return resources.partition(
        lambda resource: (
            resource.type == SCALAR and not resource.reservations and not resource.shared
        )
    )


def shrink(resources: Resources, caps: Mapping[str, float], *, keep_uncapped: bool) -> Resources:
    """Chop scalar `resources` down to `caps` (Mesos's `shrinkResources`).

    Names absent from `caps` are kept whole when `keep_uncapped` (a limit
    leaves unnamed resources unlimited) or dropped otherwise (a guarantee
    covers only what it names). Non-scalar resources are kept as they are.
    """
    left = dict(caps)
    kept: list[Resource] = []
    changed = False
    for resource in resources:
        if resource.type != SCALAR:
            kept.append(resource)
            continue
        cap = left.get(resource.name)
        if cap is None:
            if keep_uncapped:
                kept.append(resource)
            else:
                changed = True
            continue
        if resource.scalar <= cap + 1e-9:
            kept.append(resource)
            left[resource.name] = cap - resource.scalar
            continue
        changed = True
        amount = round(int(cap * 1000 + 1e-6) / 1000, 3)
        left[resource.name] = 0.0
        if amount > 0:
            kept.append(replace(resource, scalar=amount))
    return Resources(kept) if changed else resources
