"""Errors raised by the zmesos package.

ZmesosError
 ├── ResourcesError (also a ValueError): malformed resource text, an invalid
 │                   role, or a Resource that breaks Mesos's rules
 ├── FlagsError (also a ValueError): a flag value that cannot be used; one line
 │                   naming the flag or value
 └── ApiError (also a ValueError): a v1 HTTP API request (JSON) that cannot be
                     used; the message is the reason a 400 answer gives
"""

from __future__ import annotations

__all__ = ["ApiError", "FlagsError", "ResourcesError", "ZmesosError"]


class ZmesosError(Exception):
    """Base of every error zmesos raises on purpose."""


class ResourcesError(ZmesosError, ValueError):
    """Resources or a role failed validation; the message is one line naming the culprit."""


class FlagsError(ZmesosError, ValueError):
    """A flag value failed validation; the message is one line naming it."""


class ApiError(ZmesosError, ValueError):
    """A v1 API call or object failed validation; the message is one line naming the field."""
