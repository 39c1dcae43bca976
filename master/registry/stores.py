"""Where the registry lives: in memory (tests, `--registry=in_memory`) or in a file.

A store reads the whole registry once, when a master recovers it, and then
persists each batch of operations the registrar applied. `write` returns only
once the change is durable; it raises `RegistryStorageError` when it is not
(the registrar then refuses the batch). The ZooKeeper store is in
master.registry.zookeeper.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from pathlib import Path

import msgspec

from master.registry.errors import RegistryStorageError
from master.registry.records import Operation, Registry
from zmesos.durable import read_if_exists, write_atomically

__all__ = ["FileStore", "InMemoryStore", "RegistryStore"]

REGISTRY_FILE = "registry.json"


class RegistryStore(abc.ABC):
    """Reads and persists a registry. `kind` names it in /state and logs."""

    kind: str = ""
    warm_reads = 0  # recoveries served from a copy kept while standing by (keep_warm)

    @abc.abstractmethod
    async def read(self) -> Registry:
        """The registry as last persisted (an empty one the first time)."""

    @abc.abstractmethod
    async def write(
        self, before: Registry, after: Registry, operations: Sequence[Operation]
    ) -> None:
        """Persist `operations`, which took the registry from `before` to `after`.

        Durable on return; RegistryStorageError (RegistryFenced: this master
        may no longer write) when not.
        """

    async def keep_warm(self) -> None:  # noqa: B027 (most stores have nothing to prefetch)
        """While the master stands by, keep what makes a later `read` quick (the ZooKeeper
        store keeps a current copy of the registry); returns once `read` is called, at
        once for a store with nothing to prefetch."""

    async def close(self) -> None:  # noqa: B027 (a store that holds nothing needs no close)
        """Release what the store holds (connections); the default holds nothing."""


class InMemoryStore(RegistryStore):
    """Nothing survives the master: what `--registry=in_memory` asks for."""

    kind = "in_memory"

    def __init__(self) -> None:
        self._encoded: bytes | None = None

    async def read(self) -> Registry:
        if self._encoded is None:
            return Registry()
        return msgspec.msgpack.decode(self._encoded, type=Registry)

    async def write(
        self, before: Registry, after: Registry, operations: Sequence[Operation]
    ) -> None:
        self._encoded = msgspec.msgpack.encode(after)


class FileStore(RegistryStore):
    """One JSON file, `<work_dir>/registry.json`, replaced atomically on every batch.

    The whole registry is rewritten each time (the registrar batches the
    operations that arrive while a write is in flight, so a burst costs one
    write). The encoding happens in the master's thread; the write and its
    fsyncs in a worker thread, off the master's mailbox.
    """

    kind = "file"

    def __init__(self, work_dir: str | Path) -> None:
        self.path = Path(work_dir) / REGISTRY_FILE

    async def read(self) -> Registry:
        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(None, read_if_exists, self.path)
        except OSError as error:
            raise RegistryStorageError(f"cannot read {self.path}: {error}") from error
        if data is None:
            return Registry()
        try:
            return msgspec.json.decode(data, type=Registry)
        except msgspec.DecodeError as error:
            raise RegistryStorageError(f"{self.path} is not a registry: {error}") from error

    async def write(
        self, before: Registry, after: Registry, operations: Sequence[Operation]
    ) -> None:
        data = msgspec.json.encode(after)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, write_atomically, self.path, data)
        except OSError as error:
            raise RegistryStorageError(f"cannot write {self.path}: {error}") from error
