"""The registry in ZooKeeper (`--zk`): agents in 512 bucket znodes, so 50,000 fit and a
new leader reads them all in a fraction of a second.

Layout under `<path>/registry/`:
    generation              the registry's generation (decimal)
    weights                 role weights, one JSON map (one entry per role)
    agents/<bucket>         JSON map: agent id -> AgentInfo, of the agents in that bucket
    unreachable/<bucket>    JSON map: agent id -> when it became unreachable
    gone/<bucket>           JSON map: agent id -> when it was marked gone
    principals/<bucket>     JSON map: agent id -> the principal it authenticated as
    quota/<role>            a role's QuotaRecord (JSON); `/` in a role is written `%2F`
An agent's bucket is one of 512 (`000`-`1ff`, from a CRC of its id; 64 for
the unreachable, gone and principals tables, whose records are small). At
50,000 agents an agents bucket holds about 100 of them, some 40 KB: far from
ZooKeeper's 1 MB limit, and a change rewrites only the buckets it touched
(admitting one agent is one write of its bucket), never the whole registry.
One znode per agent would make each change smaller still, but a new leader
would then read 50,000 znodes one by one (about 0.25 ms each through kazoo:
12 s), which is what a failover cannot afford; 640 reads take a fraction
of a second.

Each batch is one ZooKeeper transaction that also checks this master's
election znode, so a master that lost its session (and with it the
leadership) cannot write: the transaction fails and the store raises
RegistryFenced. A batch too big for one transaction (thousands of agents
admitted at once) is split into several, each fenced. Each transaction also
sets `<path>/registry/version`, whose data version (ZooKeeper's own counter)
thereby names the registry's state. (Masters from before this version do not
set it: a cluster must not mix them, or a standby's copy could look current
when it is not.)

A standing-by master keeps a copy of the registry (`keep_warm`): it checks
the version every half second and reads the registry again when it changed,
keeping the copy only if the version was the same before and after the read
(no write landed in between). Elected, it reads that one version number and,
if it is the copy's, recovers from the copy instead of reading 700 znodes
while thousands of agents knock (Mesos's standby masters keep their replica
of the replicated log current for the same reason). With 40,000 agents the
full read took 7.6 s under that load.
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
_WARM_INTERVAL = 0.5  # seconds between a standby's checks of the registry's version
_BUCKET_COUNTS = {"agents": 512, "unreachable": 64, "gone": 64, "principals": 64}
_BUCKETED = tuple(_BUCKET_COUNTS)
_TYPES: dict[str, Any] = {
    "agents": dict[str, AgentInfo],
    "unreachable": dict[str, float],
    "gone": dict[str, float],
    "principals": dict[str, str],
}


def _buckets(table: str) -> tuple[str, ...]:
    return tuple(f"{index:03x}" for index in range(_BUCKET_COUNTS[table]))


def _bucket(table: str, agent_id: str) -> str:
    return f"{zlib.crc32(agent_id.encode()) % _BUCKET_COUNTS[table]:03x}"


class ZooKeeperStore(RegistryStore):
    """`fence()` names this master's election znode (None: it has none, so it may not write)."""

    kind = "zookeeper"
    max_transaction_bytes = _MAX_TRANSACTION_BYTES

    def __init__(self, client: KazooClient, path: str, fence: Callable[[], str | None]) -> None:
        self.client = client
        self.root = f"{path.rstrip('/')}/registry"
        self.fence = fence
        # A standby's copy of the registry and the version it is of (see keep_warm).
        self._warm: tuple[int, Registry] | None = None
        self._warming = False
        self.warm_reads = 0  # recoveries served from the copy

    async def read(self) -> Registry:
        """The registry now: the standby's copy if it is current, else read whole."""
        self._warming = False
        warm, self._warm = self._warm, None
        loop = asyncio.get_running_loop()
        try:
            if warm is not None and await loop.run_in_executor(None, self._version) == warm[0]:
                self.warm_reads += 1
                return warm[1]
            return await loop.run_in_executor(None, self._read)
        except (KazooException, msgspec.DecodeError, ValueError) as error:
            raise RegistryStorageError(f"cannot read {self.root}: {error!r}") from error

    async def keep_warm(self) -> None:
        """While this master stands by: keep a current copy of the registry, for `read`.

        Runs until `read` is called (or it is cancelled). A failed check or read is
        tried again at the next check; the copy is only ever an optimization.
        """
        loop = asyncio.get_running_loop()
        self._warming = True
        while self._warming:
            with contextlib.suppress(KazooException, msgspec.DecodeError, ValueError):
                version = await loop.run_in_executor(None, self._version)
                if self._warming and (self._warm is None or self._warm[0] != version):
                    copy = await loop.run_in_executor(None, self._read_version, version)
                    if copy is not None and self._warming:
                        self._warm = copy
            await asyncio.sleep(_WARM_INTERVAL)

    def _version(self) -> int:
        """Blocking: the registry's version, as ZooKeeper's leader has it (-1: none yet)."""
        path = f"{self.root}/version"
        self.client.sync(path)
        stat = self.client.exists(path)
        return -1 if stat is None else stat.version

    def _read_version(self, version: int) -> tuple[int, Registry] | None:
        """Blocking: the registry if it is still at `version` once read (None: it moved)."""
        if version < 0:
            return None  # no layout yet: the leader creates it
        registry = self._read(create_layout=False)
        return (version, registry) if self._version() == version else None

    def _read(self, *, create_layout: bool = True) -> Registry:
        """Blocking: every bucket and quota znode, with pipelined async gets."""
        client = self.client
        if create_layout:
            self._ensure_layout()
        registry = Registry()
        generation = self._get(f"{self.root}/generation")
        registry.generation = int(generation) if generation else 0
        weights = self._get(f"{self.root}/weights")
        registry.weights = msgspec.json.decode(weights, type=dict[str, float]) if weights else {}
        pending = [
            (table, client.get_async(f"{self.root}/{table}/{bucket}"))
            for table in _BUCKETED
            for bucket in _buckets(table)
        ]
        roles = client.get_children(f"{self.root}/quota")
        quotas = [(role, client.get_async(f"{self.root}/quota/{role}")) for role in roles]
        for table, result in pending:
            data, _ = result.get()
            if data:
                getattr(registry, table).update(msgspec.json.decode(data, type=_TYPES[table]))
        for role, result in quotas:
            with contextlib.suppress(NoNodeError):
                data, _ = result.get()
                quota = msgspec.json.decode(data, type=QuotaRecord)
                registry.quota[urllib.parse.unquote(role)] = quota
        return registry

    def _get(self, path: str) -> bytes | None:
        try:
            data, _ = self.client.get(path)
        except NoNodeError:
            return None
        return bytes(data)

    def _ensure_layout(self) -> None:
        """Create the nodes that do not exist yet, empty (pipelined)."""
        client = self.client
        for node in ("generation", "version", "weights", "quota", *_BUCKETED):
            client.ensure_path(f"{self.root}/{node}")
        creating = []
        for table in _BUCKETED:
            present = set(client.get_children(f"{self.root}/{table}"))
            for bucket in _buckets(table):
                if bucket not in present:
                    creating.append(client.create_async(f"{self.root}/{table}/{bucket}"))
        for result in creating:
            with contextlib.suppress(NodeExistsError):
                result.get()

    async def write(
        self, before: Registry, after: Registry, operations: Sequence[Operation]
    ) -> None:
        changes = _changes(before, after, operations, self.root)
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
            if kind == "set":
                transaction.set_data(path, data)
            elif kind == "create":
                transaction.create(path, data)
            else:
                transaction.delete(path)
        transaction.set_data(f"{self.root}/version", b"")  # standbys' copies are stale now
        results = transaction.commit()
        failures = [r for r in results if isinstance(r, Exception)]
        if not failures:
            return
        if isinstance(results[0], Exception) and not isinstance(results[0], RolledBackError):
            raise RegistryFenced(f"this master's election znode is gone: {results[0]!r}")
        cause = next(f for f in failures if not isinstance(f, RolledBackError))
        raise RegistryStorageError(f"ZooKeeper refused the registry write: {cause!r}")


def _changes(
    before: Registry, after: Registry, operations: Sequence[Operation], root: str
) -> list[tuple[str, str, bytes]]:
    """(set|create|delete, path, data) for every znode the operations' changes land in."""
    changes: list[tuple[str, str, bytes]] = []
    buckets: set[tuple[str, str]] = set()
    quota_roles: set[str] = set()
    simple: set[str] = set()
    for operation in operations:
        for table, key in operation.touched():
            if table in ("generation", "weights"):
                simple.add(table)
            elif table == "quota":
                quota_roles.update(
                    before.quota.keys() | after.quota.keys() if key is None else (key,)
                )
            elif key is None:
                old, new = getattr(before, table), getattr(after, table)
                keys = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
                buckets.update((table, _bucket(table, k)) for k in keys)
            else:
                buckets.add((table, _bucket(table, key)))
    if "generation" in simple and after.generation != before.generation:
        changes.append(("set", f"{root}/generation", str(after.generation).encode()))
    if "weights" in simple and after.weights != before.weights:
        changes.append(("set", f"{root}/weights", msgspec.json.encode(after.weights)))
    if buckets:
        members = _members(after, {table for table, _ in buckets})
        for table, bucket in sorted(buckets):
            records = members.get((table, bucket), {})
            changes.append(("set", f"{root}/{table}/{bucket}", msgspec.json.encode(records)))
    for role in sorted(quota_roles):
        path = f"{root}/quota/{urllib.parse.quote(role, safe='')}"
        old_quota, new_quota = before.quota.get(role), after.quota.get(role)
        if old_quota == new_quota:
            continue
        if new_quota is None:
            changes.append(("delete", path, b""))
        else:
            kind = "create" if old_quota is None else "set"
            changes.append((kind, path, msgspec.json.encode(new_quota)))
    return changes


def _members(registry: Registry, tables: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each bucket's records of `tables` (one pass over them: cheap next to a write)."""
    members: dict[tuple[str, str], dict[str, Any]] = {}
    for table in tables:
        for key, value in getattr(registry, table).items():
            members.setdefault((table, _bucket(table, key)), {})[key] = value
    return members


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
