"""Errors raised by the zmesos package.

ZmesosError
 ├── ResourcesError (also a ValueError): malformed resource text, an invalid
 │                   role, or a Resource that breaks Mesos's rules
 ├── FlagsError (also a ValueError): a flag value that cannot be used; one line
 │                   naming the flag or value
 ├── ApiError (also a ValueError): a v1 HTTP API request (JSON) that cannot be
 │                   used; the message is the reason a 400 answer gives
 ├── CredentialsError (also a ValueError): a credentials file that cannot be used
 ├── AuthenticationError: an authentication with the master did not succeed
 │    ├── AuthenticationRefused: the master (or the client, of the master) said no
 │    └── AuthenticationTimedOut: no answer in time (transient: try again)
 └── AclsError (also a ValueError): an ACL document that cannot be used
"""

from __future__ import annotations

__all__ = [
    "AclsError",
    "ApiError",
    "AuthenticationError",
    "AuthenticationRefused",
    "AuthenticationTimedOut",
    "CredentialsError",
    "FlagsError",
    "ResourcesError",
    "ZmesosError",
]


class ZmesosError(Exception):
    """Base of every error zmesos raises on purpose."""


class ResourcesError(ZmesosError, ValueError):
    """Resources or a role failed validation; the message is one line naming the culprit."""


class FlagsError(ZmesosError, ValueError):
    """A flag value failed validation; the message is one line naming it."""


class ApiError(ZmesosError, ValueError):
    """A v1 API call or object failed validation; the message is one line naming the field."""


class CredentialsError(ZmesosError, ValueError):
    """A credentials file cannot be read or breaks its format; one line naming it."""


class AclsError(ZmesosError, ValueError):
    """An ACL document breaks Mesos's format; one line naming the rule."""


class AuthenticationError(ZmesosError):
    """An authentication with the master did not succeed."""


class AuthenticationRefused(AuthenticationError):
    """Wrong credentials, an unknown principal, a master without authentication, throttling,
    or a master that could not prove it knows the secret. The message says which."""


class AuthenticationTimedOut(AuthenticationError):
    """The exchange did not finish in time; trying again may succeed."""
