"""Errors raised by the actor runtime.

LibprocessError
├── ProcessTerminated   the target process is gone (dispatch, wait on a dead actor)
└── NodeError           a node cannot start or is used after it stopped
"""

from __future__ import annotations


class LibprocessError(Exception):
    """Base of every error the runtime raises."""


class ProcessTerminated(LibprocessError):
    """The process a call was waiting on terminated (or never existed)."""


class NodeError(LibprocessError):
    """A node could not bind, or was used after it stopped."""
