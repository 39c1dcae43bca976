"""Role names: Mesos's rules for them, and their hierarchy (`eng/web` is under `eng`)."""

from __future__ import annotations

import functools

from zmesos.errors import ResourcesError

UNRESERVED_ROLE = "*"
_ROLE_FORBIDDEN = frozenset("\t\n\v\f\r \x7f*")

# ----------------------------------------------------------------------------- roles


@functools.lru_cache(maxsize=4096)
def _role_error(role: str) -> str | None:
    """Why `role` breaks Mesos's role rules, or None when it is valid. Cached: roles repeat."""
    if role == UNRESERVED_ROLE:
        return None
    if not role:
        return "role must not be empty"
    if role[0] == "-":
        return f"role {role!r} starts with '-'"
    if any(char in _ROLE_FORBIDDEN for char in role):
        return f"role {role!r} contains whitespace, DEL or '*' ('*' is only valid alone)"
    if role[0] == "/" or role[-1] == "/":
        return f"role {role!r} starts or ends with '/'"
    for component in role.split("/"):
        if not component:
            return f"role {role!r} contains '//'"
        if component in (".", ".."):
            return f"role {role!r} has a '.' or '..' component"
        if component[0] == "-":
            return f"role {role!r} has a component starting with '-'"
    return None


def validate_role(role: str) -> None:
    """Raise ResourcesError unless `role` is a valid role name (`*` is valid).

    Mesos's rules: not empty, not `.` or `..`, no leading `-`, no whitespace,
    no `/` at either end nor `//`, no component `.`, `..` or starting with `-`,
    and `*` only as the whole role.
    """
    if not isinstance(role, str):
        raise ResourcesError(f"role must be a string, not {type(role).__name__}")
    error = _role_error(role)
    if error is not None:
        raise ResourcesError(error)


def is_valid_role(role: str) -> bool:
    """Whether `role` is a valid role name; see `validate_role`."""
    return isinstance(role, str) and _role_error(role) is None


def role_ancestors(role: str) -> list[str]:
    """The ancestors of a hierarchical role, nearest first: `a/b/c` -> `['a/b', 'a']`."""
    parts = role.split("/")
    return ["/".join(parts[:end]) for end in range(len(parts) - 1, 0, -1)]


def is_strict_subrole(child: str, parent: str) -> bool:
    """Whether `child` sits strictly below `parent`: `a/b` is below `a`; `ab` and `a` are not."""
    return child.startswith(parent) and child[len(parent) : len(parent) + 1] == "/"
