"""Decisions on ACLs (zmesos.authorization.acls) with Mesos's local authorizer semantics.

A request names a subject (the principal asking; None when unknown, which
Mesos treats as ANY) and an object (a role, a user, a principal, an agent;
None when unknown: ANY). The rules of the action are read in order; the
first rule whose subjects and objects both *match* the request decides, and
it allows only if both also *allow* it:

    rule ->       SOME                NONE    ANY       (ACL entity)
    request SOME  match/allow: in it  match,  match,
                                      deny    allow
    request ANY   no match            match,  match,
                                      deny    allow

So `{"type": "NONE"}` in a rule catches every request and refuses it (how
Mesos writes "nobody"), and a request whose principal is unknown is allowed
only by rules saying ANY. When no rule matches, `permissive` decides.

Hierarchical roles: in the actions on roles (ROLE_ACTIONS), a rule's value
`eng/%` is a rule of its own, in the rule's place, that matches a request
for a role strictly below `eng` (`eng/web`; not `eng`, and not a request
naming no role) and then allows it if its subjects do, as if it said ANY
role. The rule's other values stay a plain rule after it.

`Authorizer` is plain data: the actors that ask count and log the denials.
"""

from __future__ import annotations

import dataclasses

from zmesos.authorization.acls import (
    ACTIONS,
    ROLE_ACTIONS,
    SUBTREE_SUFFIX,
    Acls,
    Entity,
    EntityType,
    Rule,
)

__all__ = ["Authorizer"]


def _matches(request: str | None, rule: Entity) -> bool:
    if rule.type is not EntityType.SOME:
        return True
    return request is not None and request in rule.values


def _allows(request: str | None, rule: Entity) -> bool:
    if rule.type is EntityType.ANY:
        return True
    if rule.type is EntityType.NONE:
        return False
    return request is not None and request in rule.values


@dataclasses.dataclass(frozen=True)
class _Check:
    """One rule as decisions read it: `below` is set for a subtree value (`eng/%` ->
    `eng/`), whose objects are then any role starting with it."""

    subjects: Entity
    objects: Entity
    below: str | None = None


def _checks(action: str, rules: tuple[Rule, ...]) -> tuple[_Check, ...]:
    checks: list[_Check] = []
    for rule in rules:
        values = rule.objects.values
        subtrees = sorted(value for value in values if value.endswith(SUBTREE_SUFFIX))
        if action not in ROLE_ACTIONS or not subtrees:
            checks.append(_Check(rule.subjects, rule.objects))
            continue
        any_role = Entity(EntityType.ANY)
        checks.extend(_Check(rule.subjects, any_role, value[:-1]) for value in subtrees)
        plain = values.difference(subtrees)
        if plain:
            checks.append(_Check(rule.subjects, Entity(EntityType.SOME, plain)))
    return tuple(checks)


class Authorizer:
    """`allowed(action, principal, object)` under one set of ACLs."""

    def __init__(self, acls: Acls) -> None:
        self.acls = acls
        self._checks = {action: _checks(action, rules) for action, rules in acls.rules.items()}

    def allowed(self, action: str, principal: str | None, obj: str | None) -> bool:
        """Whether `principal` may do `action` on `obj` (see the module docstring)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")  # our bug, not the user's
        for check in self._checks.get(action, ()):
            if check.below is not None and (obj is None or not obj.startswith(check.below)):
                continue
            if _matches(principal, check.subjects) and _matches(obj, check.objects):
                return _allows(principal, check.subjects) and _allows(obj, check.objects)
        return self.acls.permissive
