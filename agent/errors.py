"""Errors raised by the agent package.

AgentError
 ├── StatusUpdateError: an update the status update manager cannot take (no uuid,
 │                or the wrong stream)
 ├── ExitStatusUnknown: a recovered container's leader exited; its status went
 │                to the agent that started it
 ├── RecoveryError: the checkpoint cannot be recovered (another agent's, damaged,
 │                or incompatible with the flags); the agent refuses to start
 ├── FetchError: a URI could not be fetched into a sandbox (the task fails with
 │    │           REASON_CONTAINER_LAUNCH_FAILED and this message)
 │    └── ArchiveError (agent.archives): an archive refused or unreadable
 └── ForkServerError (agent.launcher): the executor fork server cannot start or
                  answer; the containerizer falls back to exec

Bad flags raise zmesos.errors.FlagsError (a ValueError), re-exported here.
"""

from __future__ import annotations

from zmesos.errors import FlagsError

__all__ = [
    "AgentError",
    "ExitStatusUnknown",
    "FetchError",
    "FlagsError",
    "RecoveryError",
    "StatusUpdateError",
]


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class StatusUpdateError(AgentError):
    """The status update manager refused an update or acknowledgement."""


class RecoveryError(AgentError):
    """The checkpointed agent cannot be recovered; the message says why, in one line."""


class ExitStatusUnknown(AgentError):
    """A container recovered after a restart ended; this agent cannot know its status."""


class FetchError(AgentError):
    """A URI could not be fetched into a sandbox; the message names it and says why."""
