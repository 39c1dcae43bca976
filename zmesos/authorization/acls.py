"""ACLs in Mesos's JSON format (`--acls`; Mesos's include/mesos/authorizer/acls.proto).

    {
      "permissive": false,
      "register_frameworks": [
        {"principals": {"values": ["analytics"]}, "roles": {"values": ["analytics"]}},
        {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}
      ],
      "run_tasks": [{"principals": {"type": "ANY"}, "users": {"values": ["nobody"]}}]
    }

Each action is a list of rules; a rule names its subjects (`principals`) and
its objects (a field named per action, below), each an entity: `{"values":
[...]}` (SOME), `{"type": "ANY"}` or `{"type": "NONE"}`. `permissive` (true
by default, as in Mesos) decides what no rule covers. The actions zmesos
enforces and the object each names:

    register_frameworks   roles                 a framework registering in a role
    register_agents       agents                an agent registering (its hostname)
    run_tasks             users                 a task run as a user
    reserve_resources     roles                 RESERVE for a role
    unreserve_resources   reserver_principals   UNRESERVE of what a principal reserved
    create_volumes        roles                 CREATE of a volume for a role
    destroy_volumes       creator_principals    DESTROY of a volume a principal created
    resize_volumes        roles                 GROW_VOLUME / SHRINK_VOLUME in a role
    teardown_frameworks   framework_principals  tearing down a framework of a principal
    update_quotas         roles                 setting or removing a role's quota
    get_quotas            roles                 seeing a role's quota
    update_weights        roles                 setting a role's weight
    view_frameworks       users                 seeing a framework (its user)
    view_tasks            users                 seeing a task (its user)
    view_executors        users                 seeing an executor (its framework's user)
    view_agents           agents                seeing an agent (its hostname; zmesos's own)
    access_sandboxes      users                 reading a sandbox (its executor's user)
    mark_agents_gone      agents                marking an agent gone (its id)
    view_roles            roles                 seeing a role (/roles, GET_ROLES, weights,
                                                its resources in agents and events)
    get_endpoints         paths                 GET of an endpoint (/metrics/snapshot, ...)
    view_flags            flags                 seeing the flags (implicit: ANY or NONE)

Where the object is a role (`ROLE_ACTIONS`), a value `eng/%` stands for every
role below `eng` (`eng/web`, `eng/web/a`; not `eng` itself), as Mesos reads
hierarchical roles.

Any other key is refused (AclsError): a misspelt action must not silently
leave the cluster open.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any

from zmesos.errors import AclsError

__all__ = [
    "ACTIONS",
    "ROLE_ACTIONS",
    "SUBTREE_SUFFIX",
    "Acls",
    "Entity",
    "EntityType",
    "Rule",
    "load_acls",
    "parse_acls",
]

# action -> the JSON field naming its objects
ACTIONS: dict[str, str] = {
    "register_frameworks": "roles",
    "register_agents": "agents",
    "run_tasks": "users",
    "reserve_resources": "roles",
    "unreserve_resources": "reserver_principals",
    "create_volumes": "roles",
    "destroy_volumes": "creator_principals",
    "resize_volumes": "roles",
    "teardown_frameworks": "framework_principals",
    "update_quotas": "roles",
    "get_quotas": "roles",
    "update_weights": "roles",
    "view_frameworks": "users",
    "view_tasks": "users",
    "view_executors": "users",
    "view_agents": "agents",
    "access_sandboxes": "users",
    "mark_agents_gone": "agents",
    "view_roles": "roles",
    "get_endpoints": "paths",
    "view_flags": "flags",
}
# The actions whose object is a role: their rules may name a subtree of roles (`eng/%`).
ROLE_ACTIONS = frozenset(
    {
        "register_frameworks",
        "reserve_resources",
        "create_volumes",
        "resize_volumes",
        "update_quotas",
        "get_quotas",
        "update_weights",
        "view_roles",
    }
)
SUBTREE_SUFFIX = "/%"
MAX_ACLS_BYTES = 4 << 20


class EntityType(enum.StrEnum):
    SOME = "SOME"
    ANY = "ANY"
    NONE = "NONE"


@dataclasses.dataclass(frozen=True)
class Entity:
    """Who or what a rule (or a request) names: some values, anyone, or no one."""

    type: EntityType
    values: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class Rule:
    subjects: Entity
    objects: Entity


@dataclasses.dataclass(frozen=True)
class Acls:
    permissive: bool = True
    rules: dict[str, tuple[Rule, ...]] = dataclasses.field(default_factory=dict)


def load_acls(path: str) -> Acls:
    """The ACLs in a file (`file://` accepted, as Mesos does); AclsError if unusable."""
    location = Path(path.removeprefix("file://"))
    try:
        if location.stat().st_size > MAX_ACLS_BYTES:
            raise AclsError(f"{path}: larger than {MAX_ACLS_BYTES} bytes")
        text = location.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise AclsError(f"cannot read ACLs {path}: {error}") from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise AclsError(f"{path}: not valid JSON: {error}") from None
    return parse_acls(document)


def parse_acls(document: Any) -> Acls:
    """ACLs from their JSON document (already parsed); AclsError naming the bad part."""
    if not isinstance(document, dict):
        raise AclsError("ACLs must be a JSON object")
    permissive = document.get("permissive", True)
    if not isinstance(permissive, bool):
        raise AclsError("'permissive' must be true or false")
    rules: dict[str, tuple[Rule, ...]] = {}
    for action, entries in document.items():
        if action == "permissive":
            continue
        field = ACTIONS.get(action)
        if field is None:
            raise AclsError(
                f"unknown or unsupported ACL action {action!r}; zmesos enforces"
                f" {', '.join(sorted(ACTIONS))}"
            )
        if not isinstance(entries, list):
            raise AclsError(f"{action!r} must be a list of rules")
        rules[action] = tuple(
            _rule(entry, action, field, index) for index, entry in enumerate(entries)
        )
    return Acls(permissive=permissive, rules=rules)


def _rule(entry: Any, action: str, field: str, index: int) -> Rule:
    where = f"{action}[{index}]"
    if not isinstance(entry, dict):
        raise AclsError(f"{where} must be an object")
    unknown = set(entry) - {"principals", field}
    if unknown:
        raise AclsError(
            f"{where}: unknown field(s) {sorted(unknown)}; expected principals, {field}"
        )
    for name in ("principals", field):
        if name not in entry:
            raise AclsError(f"{where} needs {name!r}")
    return Rule(
        subjects=_entity(entry["principals"], f"{where}.principals"),
        objects=_entity(entry[field], f"{where}.{field}"),
    )


def _entity(value: Any, where: str) -> Entity:
    if not isinstance(value, dict) or set(value) - {"type", "values"}:
        raise AclsError(f'{where} must be {{"values": [...]}} or {{"type": "ANY"|"NONE"}}')
    kind = value.get("type", "SOME")
    if kind not in EntityType.__members__:
        raise AclsError(f"{where}.type must be SOME, ANY or NONE, not {kind!r}")
    values = value.get("values", [])
    if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
        raise AclsError(f"{where}.values must be a list of strings")
    if kind == "SOME" and not values:
        raise AclsError(f"{where} names no values (use type ANY or NONE)")
    return Entity(EntityType(kind), frozenset(values) if kind == "SOME" else frozenset())
