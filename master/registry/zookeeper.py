"""The registry in ZooKeeper (`--zk`): one small znode per record, so 50,000 agents fit.

Layout under `<path>/registry/`:
    generation                 the registry's generation (decimal)
    weights                    role weights, one JSON map (small: one entry per role)
    agents/<bucket>/<id>       an admitted agent's AgentInfo (JSON, a few hundred bytes)
    unreachable/<bucket>/<id>  when it became unreachable (decimal seconds)
    gone/<bucket>/<id>         when it was marked gone
    quota/<role>               a role's QuotaRecord (JSON); `/` in a role is written `%2F`
An agent's bucket is one of 256 (`00`-`ff`, from a CRC of its id), so no
listing comes near ZooKeeper's 1 MB packet limit either: 50,000 agents make
about 200 children a bucket. No znode comes near the limit, and a change writes only the
records it touched (compared with the registry before it): admitting an agent
is one create. Each batch is one ZooKeeper transaction that also checks this
master's election znode, so a master that lost its session (and with it the
leadership) cannot write: the transaction fails and the store raises
RegistryFenced. A batch too big for one transaction (thousands of agents
admitted at once) is split into several, each fenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError, RolledBackError

from master.registry.errors import RegistryFenced, RegistryStorageError
from master.registry.records import Operation, QuotaRecord, Registry
from master.registry.stores import RegistryStore
from zmesos.protocol import AgentInfo

__all__ = ["ZooKeeperStore"]

_MAX_TRANSACTION_BYTES = 512 * 1024  # well under ZooKeeper's default 1 MB request limit
_TABLES = ("agents", "unreachable", "gone", "quota")
_BUCKETED = ("agents", "unreachable", "gone")
_BUCKETS = tuple(f"{index:02x}" for index in range(256))


def _node(table: str, key: str) -> str:
    """A record's path below the registry root."""
    if table in _BUCKETED:
        return f"{table}/{zlib.crc32(key.encode()) % 256:02x}/{key}"
    return f"{table}/{urllib.parse.quote(key, safe='')}"


def _encode(table: str, value: Any) -> bytes:
    if table in ("unreachable", "gone"):
        return repr(float(value)).encode()
    return msgspec.json.encode(value)


class ZooKeeperStore(RegistryStore):
    """`fence()` names this master's election znode (None: it has none, so it may not write)."""

    kind = "zookeeper"
    max_transaction_bytes = _MAX_TRANSACTION_BYTES

    def __init__(self, client: KazooClient, path: str, fence: Callable[[], str | None]) -> None:
        self.client = client
        self.root = f"{path.rstrip('/')}/registry"
        self.fence = fence

    async def read(self) -> Registry:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, self._read)
        except (KazooException, msgspec.DecodeError, ValueError) as error:
            raise RegistryStorageError(f"cannot read {self.root}: {error!r}") from error

    def _read(self) -> Registry:
        """Blocking: lists each table and reads its records with pipelined async gets."""
        client = self.client
        self._ensure_layout()
        registry = Registry()
        generation = self._get_if_exists(f"{self.root}/generation")
        registry.generation = int(generation) if generation else 0
        weights = self._get_if_exists(f"{self.root}/weights")
        registry.weights = msgspec.json.decode(weights, type=dict[str, float]) if weights else {}
        directories = [f"{self.root}/{t}/{b}" for t in _BUCKETED for b in _BUCKETS]
        directories.append(f"{self.root}/quota")
        listings = [(d, client.get_children_async(d)) for d in directories]
        pending = []
        for directory, listing in listings:
            table = directory.removeprefix(f"{self.root}/").split("/", 1)[0]
            for name in listing.get():
                pending.append((table, name, client.get_async(f"{directory}/{name}")))
        for table, name, result in pending:
            try:
                data, _ = result.get()
            except NoNodeError:
                continue
            self._load(registry, table, name, data)
        return registry

    def _ensure_layout(self) -> None:
        """Create the tables and their buckets that do not exist yet (pipelined)."""
        client = self.client
        for node in (*_TABLES, "generation", "weights"):
            client.ensure_path(f"{self.root}/{node}")  # empty data: the defaults
        creating = []
        for table in _BUCKETED:
            present = set(client.get_children(f"{self.root}/{table}"))
            for bucket in _BUCKETS:
                if bucket not in present:
                    creating.append(client.create_async(f"{self.root}/{table}/{bucket}"))
        for result in creating:
            with contextlib.suppress(NodeExistsError):
                result.get()

    def _get_if_exists(self, path: str) -> bytes | None:
        try:
            data, _ = self.client.get(path)
        except NoNodeError:
            return None
        return bytes(data)

    @staticmethod
    def _load(registry: Registry, table: str, name: str, data: bytes) -> None:
        if table == "agents":
            registry.agents[name] = msgspec.json.decode(data, type=AgentInfo)
        elif table == "unreachable":
            registry.unreachable[name] = float(data)
        elif table == "gone":
            registry.gone[name] = float(data)
        else:
            role = urllib.parse.unquote(name)
            registry.quota[role] = msgspec.json.decode(data, type=QuotaRecord)

    async def write(
        self, before: Registry, after: Registry, operations: Sequence[Operation]
    ) -> None:
        changes = _changes(before, after, self.root)
        if not changes:
            return
        fence = self.fence()
        if fence is None:
            raise RegistryFenced("this master holds no election znode")
        loop = asyncio.get_running_loop()
        for chunk in _chunks(changes, self.max_transaction_bytes):
            try:
                await loop.run_in_executor(None, self._commit, fence, chunk)
            except RegistryStorageError:
                raise
            except KazooException as error:
                raise RegistryStorageError(f"cannot write {self.root}: {error!r}") from error

    def _commit(self, fence: str, changes: list[tuple[str, str, bytes]]) -> None:
        transaction = self.client.transaction()
        transaction.check(fence, -1)
        for kind, path, data in changes:
            if kind == "create":
                transaction.create(path, data)
            elif kind == "set":
                transaction.set_data(path, data)
            else:
                transaction.delete(path)
        results = transaction.commit()
        failures = [r for r in results if isinstance(r, Exception)]
        if not failures:
            return
        if isinstance(results[0], Exception) and not isinstance(results[0], RolledBackError):
            raise RegistryFenced(f"this master's election znode is gone: {results[0]!r}")
        cause = next(f for f in failures if not isinstance(f, RolledBackError))
        raise RegistryStorageError(f"ZooKeeper refused the registry write: {cause!r}")


def _changes(before: Registry, after: Registry, root: str) -> list[tuple[str, str, bytes]]:
    """(create|set|delete, path, data) for every record that differs."""
    changes: list[tuple[str, str, bytes]] = []
    if after.generation != before.generation:
        changes.append(("set", f"{root}/generation", str(after.generation).encode()))
    if after.weights != before.weights:
        changes.append(("set", f"{root}/weights", msgspec.json.encode(after.weights)))
    for table in _TABLES:
        old: dict[str, Any] = getattr(before, table)
        new: dict[str, Any] = getattr(after, table)
        if old is new:
            continue
        for key, value in new.items():
            previous = old.get(key)
            if previous is value or previous == value:
                continue
            kind = "create" if key not in old else "set"
            changes.append((kind, f"{root}/{_node(table, key)}", _encode(table, value)))
        for key in old.keys() - new.keys():
            changes.append(("delete", f"{root}/{_node(table, key)}", b""))
    return changes


def _chunks(
    changes: list[tuple[str, str, bytes]], limit: int
) -> list[list[tuple[str, str, bytes]]]:
    chunks: list[list[tuple[str, str, bytes]]] = [[]]
    size = 0
    for change in changes:
        cost = len(change[1]) + len(change[2]) + 32
        if chunks[-1] and size + cost > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(change)
        size += cost
    return chunks
