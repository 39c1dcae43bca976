"""Errors raised by the zmesos package.

ZmesosError
 └── ResourcesError (also a ValueError): malformed resource text, an invalid
                     role, or a Resource that breaks Mesos's rules
"""

from __future__ import annotations

__all__ = ["ResourcesError", "ZmesosError"]


class ZmesosError(Exception):
    """Base of every error zmesos raises on purpose."""


class ResourcesError(ZmesosError, ValueError):
    """Resources or a role failed validation; the message is one line naming the culprit."""
