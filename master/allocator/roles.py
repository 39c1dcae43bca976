"""The role tree: hierarchical DRF across roles, and what each role consumes.

Roles nest by `/`: `eng/web` sits under `eng`. Every node has a `DRFSorter`
over its children, so siblings compete for their parent's portion (Mesos's
hierarchical sorter). A node whose own role also has frameworks competes with
its children through a leaf entry named after the node itself ("eng" among
"eng/web" and "eng/db"), as Mesos's virtual `eng/.` leaf does.

Each node but the root keeps, for its whole subtree, incrementally:
- `allocation`: what is offered or allocated (reserved or not): its DRF share;
- `reserved_allocation` and `reserved`: what of the allocation is reserved,
  and every reservation (allocated or not), for quota (Mesos: consumed
  quota = unreserved allocation + every reservation);
- how many of its frameworks are active (offerable), so a walk visits only
  subtrees that can take an offer.

Nodes appear on first use (a framework subscribes, a reservation lands, a
weight or quota is set) and disappear when nothing refers to them any more.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from master.allocator.quantities import (
    Quantities,
    Requirements,
    add_into,
    subtract,
    subtract_from,
)
from master.allocator.quota import Quota
from master.allocator.sorter import DRFSorter, Totals
from zmesos.resources import role_ancestors

__all__ = ["RoleNode", "RoleTree"]


class RoleNode:
    """One role. Mutated only through `RoleTree`."""

    __slots__ = (
        "active",
        "active_children",
        "allocation",
        "children",
        "frameworks",
        "min_allocatable",
        "name",
        "own_allocation",
        "parent",
        "quota",
        "reserved",
        "reserved_allocation",
        "sorter",
        "weight",
    )

    def __init__(self, name: str, parent: RoleNode | None, totals: Totals, weight: float) -> None:
        self.name = name
        self.parent = parent
        self.children: dict[str, RoleNode] = {}
        self.weight = weight
        self.quota: Quota | None = None
        # Whole-subtree quantities.
        self.allocation: Quantities = {}
        self.reserved_allocation: Quantities = {}
        self.reserved: Quantities = {}
        # Allocation of this role's own frameworks: the node's leaf entry in
        # `sorter`. While the node has no children it *is* `allocation` (one
        # dict to update per offer instead of two); see `RoleTree.node`.
        self.own_allocation: Quantities = self.allocation
        # Children (and the own-frameworks leaf) in DRF order.
        self.sorter = DRFSorter(totals)
        # This role's own frameworks in DRF order; clients are framework ids.
        self.frameworks = DRFSorter(totals)
        # framework id -> its own minimum allocatable in this role, for those
        # that set one (FrameworkInfo.offer_filters); the rest use the global one.
        self.min_allocatable: dict[str, Requirements] = {}
        self.active = False
        self.active_children = 0
        if name:
            self.sorter.add(name, self.own_allocation)

    @property
    def unreserved_allocation(self) -> Quantities:
        """What of the subtree's allocation is unreserved."""
        return subtract(self.allocation, self.reserved_allocation)

    @property
    def consumed(self) -> Quantities:
        """Quota consumption of the subtree: unreserved allocation plus all reservations."""
        if not self.reserved and not self.reserved_allocation:
            # Nothing reserved (the usual case): all of the allocation, without arithmetic.
            return dict(self.allocation)
        consumed = self.unreserved_allocation
        add_into(consumed, self.reserved)
        return consumed

    def unmet_guarantee(self) -> Quantities:
        """What is missing to the guarantee (empty without quota)."""
        if self.quota is None or not self.quota.guarantee:
            return {}
        return subtract(self.quota.guarantee, self.consumed)

    def share(self) -> float:
        """The node's weighted dominant share among its siblings."""
        if self.parent is None:
            return 0.0
        return self.parent.sorter.share(self.name)

    def __repr__(self) -> str:
        return f"RoleNode({self.name!r})"


class RoleTree:
    """All roles, their weights and quotas, as a tree under an unnamed root."""

    __slots__ = ("_nodes", "_totals", "quotas", "root", "weights")

    def __init__(self, totals: Totals) -> None:
        self._totals = totals
        self.root = RoleNode("", None, totals, 1.0)
        self._nodes: dict[str, RoleNode] = {}
        # Settings outlive nodes: a weight set before any framework joins still applies.
        self.weights: dict[str, float] = {}
        self.quotas: dict[str, Quota] = {}

    # Lookup.

    def get(self, role: str) -> RoleNode | None:
        return self._nodes.get(role)

    def __contains__(self, role: object) -> bool:
        return role in self._nodes

    def node(self, role: str) -> RoleNode:
        """The node for `role`, made (with its ancestors) if missing."""
        node = self._nodes.get(role)
        if node is not None:
            return node
        ancestors = role_ancestors(role)
        parent = self.node(ancestors[0]) if ancestors else self.root
        node = RoleNode(role, parent, self._totals, self.weights.get(role, 1.0))
        node.quota = self.quotas.get(role)
        if not parent.children and parent.own_allocation is parent.allocation and parent.name:
            # The parent's own frameworks and its children now differ.
            parent.own_allocation = dict(parent.allocation)
            parent.sorter.rebind(parent.name, parent.own_allocation)
        parent.children[role] = node
        parent.sorter.add(role, node.allocation, weight=node.weight)
        self._nodes[role] = node
        return node

    def nodes(self) -> Iterator[RoleNode]:
        return iter(self._nodes.values())

    # Frameworks.

    def track_framework(self, role: str, framework_id: str, allocation: Quantities) -> RoleNode:
        """Put a framework (inactive) under `role`; `allocation` is its live dict there."""
        node = self.node(role)
        node.frameworks.add(framework_id, allocation)
        return node

    def untrack_framework(self, role: str, framework_id: str) -> None:
        node = self._nodes[role]
        node.frameworks.remove(framework_id)
        node.min_allocatable.pop(framework_id, None)
        self._refresh_activity(node)
        self.prune(node)

    def set_framework_active(self, role: str, framework_id: str, active: bool) -> None:
        """Make a framework offerable in `role`, or not; propagates up the tree."""
        node = self._nodes[role]
        if active:
            node.frameworks.activate(framework_id)
        else:
            node.frameworks.deactivate(framework_id)
        self._refresh_activity(node)

    def _refresh_activity(self, node: RoleNode) -> None:
        if node.name:
            if node.frameworks.active_count:
                node.sorter.activate(node.name)
            else:
                node.sorter.deactivate(node.name)
        while node.parent is not None:
            active = node.frameworks.active_count > 0 or node.active_children > 0
            if active == node.active:
                return
            node.active = active
            parent = node.parent
            if active:
                parent.sorter.activate(node.name)
                parent.active_children += 1
            else:
                parent.sorter.deactivate(node.name)
                parent.active_children -= 1
            node = parent
        node.active = node.active_children > 0

    # Allocation accounting.

    def allocated(
        self,
        role: str,
        framework_id: str,
        amounts: Mapping[str, float],
        reserved: Mapping[str, float] | None = None,
        *,
        counted: bool = True,
    ) -> None:
        """Charge `amounts` (of which `reserved` is reserved) to a framework in `role`.

        The framework's own allocation dict must already include `amounts`
        (the caller owns it); this marks its position stale and charges every
        node from `role` up to, not including, the root (whose sum nobody
        sorts by; `cluster_allocation` adds it up when quota needs it).
        `counted`: an allocation, which counts for the sorters' tie-break at
        every level, as in Mesos; a conversion (`update_allocation`) is not.
        """
        node = self._nodes[role]
        if counted:
            node.frameworks.charged(framework_id)
            node.sorter.charged(role)
        else:
            node.frameworks.changed(framework_id)
            node.sorter.changed(role)
        if node.own_allocation is not node.allocation:
            add_into(node.own_allocation, amounts)
        parent = node.parent
        while parent is not None:
            add_into(node.allocation, amounts)
            if reserved:
                add_into(node.reserved_allocation, reserved)
            if counted:
                parent.sorter.charged(node.name)
            else:
                parent.sorter.changed(node.name)
            node = parent
            parent = node.parent

    def unallocated(
        self,
        role: str,
        framework_id: str,
        amounts: Mapping[str, float],
        reserved: Mapping[str, float] | None = None,
    ) -> None:
        """The reverse of `allocated`."""
        node = self._nodes[role]
        node.frameworks.changed(framework_id)
        if node.own_allocation is not node.allocation:
            subtract_from(node.own_allocation, amounts)
        node.sorter.changed(role)
        parent = node.parent
        while parent is not None:
            subtract_from(node.allocation, amounts)
            if reserved:
                subtract_from(node.reserved_allocation, reserved)
            parent.sorter.changed(node.name)
            node = parent
            parent = node.parent

    def cluster_unreserved_allocation(self) -> Quantities:
        """Unreserved resources offered or allocated, cluster-wide (sum of top-level roles)."""
        total: Quantities = {}
        for child in self.root.children.values():
            add_into(total, child.allocation)
            subtract_from(total, child.reserved_allocation)
        return total

    def reserve(self, role: str, amounts: Mapping[str, float]) -> None:
        """Count reservations to `role` (allocated or not) against its subtree's quota."""
        node: RoleNode | None = self.node(role)
        while node is not None:
            add_into(node.reserved, amounts)
            node = node.parent

    def unreserve(self, role: str, amounts: Mapping[str, float]) -> None:
        start = self._nodes[role]
        node: RoleNode | None = start
        while node is not None:
            subtract_from(node.reserved, amounts)
            node = node.parent
        self.prune(start)

    # Settings.

    def set_weight(self, role: str, weight: float) -> None:
        if weight <= 0:
            raise ValueError(f"weight of role {role!r} must be positive, got {weight}")
        self.weights[role] = weight
        node = self._nodes.get(role)
        if node is not None:
            node.weight = weight
            assert node.parent is not None
            node.parent.sorter.set_weight(role, weight)

    def set_quota(self, role: str, quota: Quota | None) -> None:
        if quota is None:
            self.quotas.pop(role, None)
        else:
            self.quotas[role] = quota
        node = self.node(role) if quota is not None else self._nodes.get(role)
        if node is not None:
            node.quota = quota
            self.prune(node)

    # Walks.

    def walk(self, start: RoleNode | None = None) -> Iterator[RoleNode]:
        """Roles with offerable frameworks, in hierarchical DRF order.

        From the root, or from `start` (its subtree only, `start` included).
        The order of each level is taken when the walk reaches it; allocations
        made while walking move clients on the next walk.
        """
        node = self.root if start is None else start
        if not node.children:
            if node.frameworks.active_count:
                yield node
            return
        name = node.name
        children = node.children
        for _, _, key in node.sorter.order(names_only=True):
            if key == name:
                yield node
                continue
            child = children[key]
            if child.children:
                yield from self.walk(child)
            else:
                yield child

    # Housekeeping.

    def prune(self, node: RoleNode) -> None:
        """Drop `node` and empty ancestors when nothing refers to them any more."""
        while node.parent is not None:
            if (
                node.children
                or len(node.frameworks)
                or node.quota is not None
                or node.allocation
                or node.reserved
            ):
                return
            parent = node.parent
            parent.sorter.remove(node.name)
            del parent.children[node.name]
            del self._nodes[node.name]
            if not parent.children and parent.name:
                # Childless again: own frameworks and subtree are one (both exact now).
                parent.own_allocation = parent.allocation
                parent.sorter.rebind(parent.name, parent.allocation)
            node = parent
