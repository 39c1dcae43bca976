"""Quota: a guarantee served first, a limit never exceeded, and headroom.

Follows Mesos's quota.md. A role's *consumed* quota is its subtree's unreserved
allocation plus every reservation to the subtree, allocated or not. While a
guarantee is unmet, the allocator holds back enough unreserved resources
(the *required headroom*, summed over the outermost roles with a guarantee)
from everyone else, so the guarantee can be met later even if the role's
frameworks are picky today. A limit caps the role's consumption, for the role
and its whole subtree; a limit of zero forbids that resource.

Quota is set on top-level roles only: Mesos refuses quota on nested roles
(its quota handler: "not supported yet", MESOS-7402), and so does
`HierarchicalAllocator.set_quota`.

Only scalar quantities take part; resources a quota does not name (ports, or
memory in a cpus-only quota) are neither guaranteed nor limited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from master.allocator.quantities import Quantities, subtract, total_of

if TYPE_CHECKING:
    from master.allocator.roles import RoleNode, RoleTree

__all__ = ["Quota", "available_headroom", "limit_room", "required_headroom"]


@dataclass(frozen=True, slots=True)
class Quota:
    """Guaranteed and limiting scalar quantities of one role.

    Names absent from `limit` are unlimited; names absent from `guarantee`
    are not guaranteed. A guarantee above its limit is refused (ValueError).
    """

    guarantee: Mapping[str, float] = field(default_factory=dict)
    limit: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, amount in (*self.guarantee.items(), *self.limit.items()):
            if amount < 0:
                raise ValueError(f"quota for {name!r} is negative: {amount}")
        for name, amount in self.guarantee.items():
            limit = self.limit.get(name)
            if limit is not None and amount > limit:
                raise ValueError(f"quota guarantee {name}:{amount} exceeds its limit {limit}")


def required_headroom(unmet: Iterable[Mapping[str, float]]) -> Quantities:
    """Unreserved resources to hold back: the sum of the quota roles' unmet guarantees."""
    return total_of(unmet)


def available_headroom(totals: Mapping[str, float], tree: RoleTree) -> Quantities:
    """Unreserved resources not offered or allocated, cluster-wide."""
    unreserved_total = subtract(totals, tree.root.reserved)
    return subtract(unreserved_total, tree.cluster_unreserved_allocation())


def limit_room(node: RoleNode) -> Quantities | None:
    """How much more unreserved quantity `node` may consume under its and its ancestors' limits.

    None when no limit applies; names absent from the result are unlimited.
    """
    room: Quantities | None = None
    current: RoleNode | None = node
    while current is not None and current.parent is not None:
        quota = current.quota
        if quota is not None and quota.limit:
            consumed = current.consumed
            if room is None:
                room = {}
            for name, limit in quota.limit.items():
                left = max(0.0, limit - consumed.get(name, 0.0))
                if name not in room or left < room[name]:
                    room[name] = left
        current = current.parent
    return room
