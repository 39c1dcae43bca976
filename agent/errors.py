"""Errors raised by the agent package.

AgentError
 ├── FlagsError (also a ValueError): a flag value that cannot be used; the message
 │                is one line naming the flag and the problem
 ├── StatusUpdateError: an update the status update manager cannot take (no uuid,
 │                or the wrong stream)
 └── ForkServerError (agent.launcher): the executor fork server cannot start or
                  answer; the containerizer falls back to exec
"""

from __future__ import annotations

__all__ = ["AgentError", "FlagsError", "StatusUpdateError"]


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class FlagsError(AgentError, ValueError):
    """A flag failed validation; the message is one line naming the flag."""


class StatusUpdateError(AgentError):
    """The status update manager refused an update or acknowledgement."""
