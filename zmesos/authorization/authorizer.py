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

`Authorizer` is plain data: the actors that ask count and log the denials.
"""

from __future__ import annotations

from zmesos.authorization.acls import ACTIONS, Acls, Entity, EntityType

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


class Authorizer:
    """`allowed(action, principal, object)` under one set of ACLs."""

    def __init__(self, acls: Acls) -> None:
        self.acls = acls

    def allowed(self, action: str, principal: str | None, obj: str | None) -> bool:
        """Whether `principal` may do `action` on `obj` (see the module docstring)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")  # our bug, not the user's
        for rule in self.acls.rules.get(action, ()):
            if _matches(principal, rule.subjects) and _matches(obj, rule.objects):
                return _allows(principal, rule.subjects) and _allows(obj, rule.objects)
        return self.acls.permissive
