"""Reading fields of v1 JSON objects, each failure an ApiError naming the field's path.

Clients send protobuf-shaped JSON: ids are `{"value": "..."}`, bytes are
Base64, enums are strings. Every reader takes the object, the key and the
path of the object (for the error message), and returns a plain value.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from zmesos.errors import ApiError

__all__ = [
    "array",
    "b64",
    "boolean",
    "id_value",
    "number",
    "obj",
    "optional_obj",
    "string",
]

MAX_ID_LENGTH = 1024  # a generous bound: Mesos ids are well under it


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(f"{where}: expected a JSON object, got {_kind(value)}")
    return value


def optional_obj(parent: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    value = parent.get(key)
    return None if value is None else obj(value, f"{where}.{key}")


def string(parent: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = parent.get(key)
    if value is None:
        if required:
            raise ApiError(f"{where}.{key} is required")
        return ""
    if not isinstance(value, str):
        raise ApiError(f"{where}.{key}: expected a string, got {_kind(value)}")
    return value


def id_value(parent: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    """An id field, `{"value": "..."}` (Mesos's FrameworkID, TaskID, ...)."""
    value = parent.get(key)
    if value is None:
        if required:
            raise ApiError(f"{where}.{key} is required")
        return ""
    inner = string(obj(value, f"{where}.{key}"), "value", f"{where}.{key}", required=True)
    if not inner or len(inner) > MAX_ID_LENGTH:
        raise ApiError(f"{where}.{key}.value must be 1 to {MAX_ID_LENGTH} characters")
    return inner


def number(
    parent: dict[str, Any], key: str, where: str, default: float = 0.0, *, minimum: float = 0.0
) -> float:
    value = parent.get(key)
    if value is None:
        return default
    if isinstance(value, str):  # protobuf's JSON allows "Infinity" and quoted numbers
        try:
            value = float(value)
        except ValueError:
            raise ApiError(f"{where}.{key}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(f"{where}.{key}: expected a number, got {_kind(value)}")
    if math.isnan(value) or value < minimum:
        raise ApiError(f"{where}.{key}: {value!r} is not a number >= {minimum}")
    return float(value)


def boolean(parent: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = parent.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(f"{where}.{key}: expected true or false, got {_kind(value)}")
    return value


def array(parent: dict[str, Any], key: str, where: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(f"{where}.{key}: expected an array, got {_kind(value)}")
    return value


def b64(parent: dict[str, Any], key: str, where: str) -> bytes:
    """Bytes, Base64 in JSON (as protobuf's JSON mapping writes them)."""
    text = string(parent, key, where)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(f"{where}.{key}: not valid Base64") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )
