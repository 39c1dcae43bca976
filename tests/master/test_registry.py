"""The registry's records, stores and registrar: batching, refusal, durability."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Sequence

import pytest

from master.registry import (
    AdmitAgent,
    FileStore,
    InMemoryStore,
    MarkAgentGone,
    MarkAgentReachable,
    MarkAgentUnreachable,
    Operation,
    PruneUnreachable,
    QuotaRecord,
    Registrar,
    Registry,
    RegistryOperationError,
    RegistryStorageError,
    SetQuota,
    UpdateWeights,
)
from zmesos.protocol import AgentInfo


def _agent(agent_id: str) -> AgentInfo:
    return AgentInfo(hostname="h", id=agent_id)


class GatedStore(InMemoryStore):
    """Writes wait for the test to open the gate; `fail` makes the next write fail."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.batches: list[list[str]] = []
        self.fail = False

    async def write(
        self, before: Registry, after: Registry, operations: Sequence[Operation]
    ) -> None:
        self.batches.append([type(op).__name__ for op in operations])
        await self.gate.wait()
        if self.fail:
            self.fail = False
            raise RegistryStorageError("disk full")
        await super().write(before, after, operations)


def test_registry_operations_refuse_what_does_not_apply():
    registry = Registry()
    assert AdmitAgent(info=_agent("a")).apply(registry)
    with pytest.raises(RegistryOperationError):
        AdmitAgent(info=_agent("a")).apply(registry)
    assert MarkAgentUnreachable(agent_id="a", time=5.0).apply(registry)
    assert registry.unreachable == {"a": 5.0} and "a" not in registry.agents
    assert MarkAgentReachable(info=_agent("a")).apply(registry)
    assert MarkAgentGone(agent_id="a", time=6.0).apply(registry)
    assert not MarkAgentGone(agent_id="a", time=7.0).apply(registry)  # idempotent
    with pytest.raises(RegistryOperationError):
        MarkAgentReachable(info=_agent("a")).apply(registry)
    with pytest.raises(RegistryOperationError):
        AdmitAgent(info=_agent("a")).apply(registry)
    assert PruneUnreachable(before=10.0).apply(registry)
    assert not registry.gone
    assert not UpdateWeights(weights={"x": 1.0}).apply(registry)  # 1.0 is the default


async def test_registrar_batches_operations_that_arrive_during_a_write():
    store = GatedStore()
    registrar = Registrar(store)
    await registrar.recover()
    store.gate.clear()
    first = registrar.apply(AdmitAgent(info=_agent("a")))
    await asyncio.sleep(0)
    rest = [registrar.apply(AdmitAgent(info=_agent(name))) for name in "bcd"]
    duplicate = registrar.apply(AdmitAgent(info=_agent("a")))
    store.gate.set()
    assert await first is True
    assert await asyncio.gather(*rest) == [True, True, True]
    with pytest.raises(RegistryOperationError):
        await duplicate
    # The recovery's write, then one for the first, one for the burst.
    assert store.batches[1:] == [["AdmitAgent"], ["AdmitAgent"] * 3]
    assert set(registrar.registry.agents) == {"a", "b", "c", "d"}


async def test_registrar_failed_write_refuses_the_batch_and_keeps_the_registry():
    store = GatedStore()
    registrar = Registrar(store)
    await registrar.recover()
    store.fail = True
    with pytest.raises(RegistryStorageError):
        await registrar.apply(UpdateWeights(weights={"eng": 2.0}))
    assert registrar.registry.weights == {}
    assert registrar.failed_writes == 1
    assert await registrar.apply(UpdateWeights(weights={"eng": 2.0})) is True
    assert (await store.read()).weights == {"eng": 2.0}


async def test_file_store_survives_a_restart_and_bumps_the_generation(tmp_path):
    registrar = Registrar(FileStore(tmp_path))
    assert (await registrar.recover()).generation == 1
    await registrar.apply(AdmitAgent(info=_agent("a")))
    await registrar.apply(SetQuota(role="eng", quota=QuotaRecord(guarantee={"cpus": 2.0})))
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, nothing left beside it
    again = await Registrar(FileStore(tmp_path)).recover()
    assert again.generation == 2
    assert list(again.agents) == ["a"]
    assert again.quota["eng"].guarantee == {"cpus": 2.0}


async def test_file_store_refuses_a_file_that_is_not_a_registry(tmp_path):
    (tmp_path / "registry.json").write_bytes(b'{"agents": 7}')
    with pytest.raises(RegistryStorageError, match="not a registry"):
        await Registrar(FileStore(tmp_path)).recover()


async def test_file_store_write_failure_is_a_storage_error(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the work dir should be")
    registrar = Registrar(FileStore(tmp_path))
    await registrar.recover()
    registrar.store = FileStore(blocked)
    with pytest.raises(RegistryStorageError, match="cannot write"):
        await registrar.apply(UpdateWeights(weights={"eng": 3.0}))


async def test_registrar_recovery_times_the_read_of_the_registry(monkeypatch):
    """`registrar/state_fetch_ms`, as Mesos names it: how long a new leader read the registry."""
    from master.registry import registrar as registrar_module

    readings = iter([10.0, 10.25])  # the clock before the read, and after it
    clock = types.SimpleNamespace(perf_counter=lambda: next(readings))
    monkeypatch.setattr(registrar_module, "time", clock)
    registrar = Registrar(InMemoryStore())
    assert registrar.state_fetch_ms == 0.0
    await registrar.recover()
    assert registrar.state_fetch_ms == 250.0
