"""Errors raised by the agent package.

AgentError
 ├── StatusUpdateError: an update the status update manager cannot take (no uuid,
 │                or the wrong stream)
 └── ForkServerError (agent.launcher): the executor fork server cannot start or
                  answer; the containerizer falls back to exec

Bad flags raise zmesos.errors.FlagsError (a ValueError), re-exported here.
"""

from __future__ import annotations

from zmesos.errors import FlagsError

__all__ = ["AgentError", "FlagsError", "StatusUpdateError"]


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class StatusUpdateError(AgentError):
    """The status update manager refused an update or acknowledgement."""
