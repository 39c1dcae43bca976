"""The registrar: applies operations to the registry, one durable batch at a time.

Contract (Mesos's registrar):
- `recover()` reads the registry and bumps its generation durably; until it
  returns, `apply` must not be called.
- `apply(operation)` returns a future: True once the change is durable, False
  when the operation changed nothing (nothing written), RegistryOperationError
  when it does not apply, RegistryStorageError (or RegistryFenced) when the
  store failed: then the change did not happen, and callers must not
  acknowledge it.
- Operations apply in the order `apply` was called. Those that arrive while a
  write is in flight are written together in the next batch, so a burst of
  agents registering costs a few writes, not one each.
- `registry` is always the last durable state: a batch is applied to a copy
  that replaces it only once the store has written it.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

import msgspec

from master.registry.errors import RegistryError, RegistryStorageError
from master.registry.records import BumpGeneration, Operation, Registry
from master.registry.stores import RegistryStore

__all__ = ["Registrar"]


class Registrar:
    """Owned by one master; every method runs on the master's event loop."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self.registry = Registry()
        self.writes = 0
        self.failed_writes = 0
        self.state_fetch_ms = 0.0  # how long reading the registry took (Mesos's metric)
        self.on_failure: Callable[[RegistryStorageError], None] | None = None
        self._pending: collections.deque[tuple[Operation, asyncio.Future[bool]]] = (
            collections.deque()
        )
        self._writing = False
        self._drainer: asyncio.Future[None] | None = None

    async def recover(self) -> Registry:
        """Read the registry, bump its generation, persist that; the registry recovered."""
        started = time.perf_counter()
        registry = await self.store.read()
        self.state_fetch_ms = (time.perf_counter() - started) * 1000
        candidate = _copy(registry)
        operation = BumpGeneration()
        operation.apply(candidate)
        await self.store.write(registry, candidate, [operation])
        self.registry = candidate
        return candidate

    def apply(self, operation: Operation) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((operation, future))
        if not self._writing:
            self._writing = True
            self._drainer = asyncio.ensure_future(self._drain())
        return future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = list(self._pending)
                self._pending.clear()
                await self._write_batch(batch)
        finally:
            self._writing = False

    async def _write_batch(self, batch: list[tuple[Operation, asyncio.Future[bool]]]) -> None:
        candidate = _copy(self.registry)
        changed: list[Operation] = []
        outcomes: list[tuple[asyncio.Future[bool], bool | BaseException]] = []
        for operation, future in batch:
            try:
                did_change = operation.apply(candidate)
            except RegistryError as error:
                outcomes.append((future, error))
                continue
            if did_change:
                changed.append(operation)
            outcomes.append((future, did_change))
        if changed:
            try:
                await self.store.write(self.registry, candidate, changed)
            except Exception as failure:
                storage_error = (
                    failure
                    if isinstance(failure, RegistryStorageError)
                    else RegistryStorageError(f"the store failed: {failure!r}")
                )
                self.failed_writes += 1
                for future, _ in outcomes:
                    _settle(future, storage_error)
                if self.on_failure is not None:
                    self.on_failure(storage_error)
                return
            self.writes += 1
            self.registry = candidate
        for future, outcome in outcomes:
            _settle(future, outcome)


def _copy(registry: Registry) -> Registry:
    """A copy whose tables can change without touching `registry` (records are immutable)."""
    return msgspec.structs.replace(
        registry,
        agents=dict(registry.agents),
        unreachable=dict(registry.unreachable),
        gone=dict(registry.gone),
        weights=dict(registry.weights),
        quota=dict(registry.quota),
    )


def _settle(future: asyncio.Future[bool], outcome: bool | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
