"""Errors raised by the allocator.

AllocatorError
 ├── UnknownClientError (also a KeyError): a sorter asked about a client it never had
 └── AccountingError: the caller returned or converted resources the allocator
                      never handed out (a broken invariant between master and
                      allocator: raised loudly, never logged and dropped)
"""

from __future__ import annotations

__all__ = ["AccountingError", "AllocatorError", "UnknownClientError"]


class AllocatorError(Exception):
    """Base of every error the allocator raises on purpose."""


class UnknownClientError(AllocatorError, KeyError):
    """A sorter was asked about a client it does not track."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class AccountingError(AllocatorError):
    """Resources returned or converted were not allocated to that framework there."""
