"""Errors of the registry.

RegistryError
 ├── RegistryOperationError: an operation cannot apply to the registry as it is
 │                           (admitting an admitted agent); the change is refused
 ├── RegistryStorageError: the store could not read or write (disk full,
 │                         ZooKeeper unreachable); the change is refused
 └── RegistryFenced (also a RegistryStorageError): this master no longer leads,
                          so its writes are refused; it must abdicate
"""

from __future__ import annotations

__all__ = ["RegistryError", "RegistryFenced", "RegistryOperationError", "RegistryStorageError"]


class RegistryError(Exception):
    """Base of every error the registry raises on purpose."""


class RegistryOperationError(RegistryError):
    """The operation does not apply to the registry as it is."""


class RegistryStorageError(RegistryError):
    """The store failed to read or write the registry."""


class RegistryFenced(RegistryStorageError):
    """Another master leads now: this one's writes are refused."""
