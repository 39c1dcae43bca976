"""The registry in ZooKeeper: records in small znodes, one transaction a batch, fenced."""

from __future__ import annotations

import asyncio

import pytest
from kazoo.client import KazooClient

from master.registry import (
    AdmitAgent,
    MarkAgentGone,
    MarkAgentUnreachable,
    QuotaRecord,
    Registrar,
    RegistryFenced,
    RemoveQuota,
    SetQuota,
    UpdateWeights,
)
from master.registry.zookeeper import ZooKeeperStore
from zmesos.protocol import AgentInfo
from zmesos.zookeeper import parse_zk_url


@pytest.fixture
def client(zookeeper):
    client = KazooClient(hosts=zookeeper.hosts)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


async def test_registry_zookeeper_keeps_every_record_and_writes_only_what_changed(client, zk_url):
    path = parse_zk_url(zk_url).path
    fence = client.create(f"{path}/fence", ephemeral=True, makepath=True)
    store = ZooKeeperStore(client, path, lambda: fence)
    store.max_transaction_bytes = 16 * 1024
    registrar = Registrar(store)
    await registrar.recover()
    # Many agents at once: more than one transaction's worth.
    infos = [AgentInfo(hostname=f"h{i}", id=f"agent-{i:05d}", port=i) for i in range(400)]
    results = [
        registrar.apply(AdmitAgent(info=info, principal=f"p{i % 3}"))
        for i, info in enumerate(infos)
    ]
    for result in results:
        assert await result
    await registrar.apply(MarkAgentUnreachable(agent_id="agent-00001", time=7.5))
    await registrar.apply(MarkAgentGone(agent_id="agent-00002", time=8.0))
    await registrar.apply(UpdateWeights(weights={"eng": 2.0}))
    await registrar.apply(SetQuota(role="eng/web", quota=QuotaRecord(guarantee={"cpus": 1.0})))
    await registrar.apply(SetQuota(role="ops", quota=QuotaRecord(guarantee={"mem": 64.0})))
    await registrar.apply(RemoveQuota(role="ops"))
    # Agents live in 512 buckets: a bucket znode holds a few of them, not all.
    znode, stat = client.get(f"{path}/registry/agents/{_bucket('agent-00003')}")
    assert b'"agent-00003"' in znode and stat.dataLength < 4096

    again = await Registrar(ZooKeeperStore(client, path, lambda: fence)).recover()
    assert again.generation == 2
    assert len(again.agents) == 398
    assert again.agents["agent-00010"] == infos[10]
    assert again.unreachable == {"agent-00001": 7.5}
    assert again.gone == {"agent-00002": 8.0}
    # The principal each agent proved: kept while unreachable, dropped when gone.
    assert len(again.principals) == 399 and again.principals["agent-00001"] == "p1"
    assert "agent-00002" not in again.principals
    assert again.weights == {"eng": 2.0}
    assert list(again.quota) == ["eng/web"]


async def test_registry_zookeeper_refuses_writes_once_the_fence_is_gone(client, zk_url):
    path = parse_zk_url(zk_url).path
    fence = client.create(f"{path}/fence", ephemeral=True, makepath=True)
    registrar = Registrar(ZooKeeperStore(client, path, lambda: fence))
    await registrar.recover()
    client.delete(fence)  # as when this master's session expires: another may lead
    with pytest.raises(RegistryFenced):
        await registrar.apply(UpdateWeights(weights={"eng": 3.0}))
    assert registrar.registry.weights == {}


async def _warm_copy(store: ZooKeeperStore) -> asyncio.Future[None]:
    """Start keeping `store`'s copy; return once it holds one."""
    warming = asyncio.ensure_future(store.keep_warm())
    for _ in range(200):
        if store._warm is not None:
            return warming
        await asyncio.sleep(0.05)
    raise AssertionError("the standby never made a copy")


async def test_registry_zookeeper_standby_recovers_from_its_current_copy(client, zk_url):
    path = parse_zk_url(zk_url).path
    fence = client.create(f"{path}/fence", ephemeral=True, makepath=True)
    leader = Registrar(ZooKeeperStore(client, path, lambda: fence))
    await leader.recover()
    for i in range(50):
        await leader.apply(AdmitAgent(info=AgentInfo(hostname=f"h{i}", id=f"a{i}"), principal="p"))
    standby = ZooKeeperStore(client, path, lambda: fence)
    warming = await _warm_copy(standby)
    await leader.apply(UpdateWeights(weights={"eng": 2.0}))  # the copy follows the change
    for _ in range(100):
        assert standby._warm is not None
        if standby._warm[1].weights:
            break
        await asyncio.sleep(0.05)
    recovered = await Registrar(standby).recover()
    await asyncio.wait_for(warming, 5)  # reading ends the standing by
    assert standby.warm_reads == 1
    assert len(recovered.agents) == 50 and recovered.weights == {"eng": 2.0}
    assert recovered.generation == 2


async def test_registry_zookeeper_standby_reads_again_when_its_copy_is_stale(client, zk_url):
    path = parse_zk_url(zk_url).path
    fence = client.create(f"{path}/fence", ephemeral=True, makepath=True)
    leader = Registrar(ZooKeeperStore(client, path, lambda: fence))
    await leader.recover()
    standby = ZooKeeperStore(client, path, lambda: fence)
    warming = await _warm_copy(standby)
    warming.cancel()  # the copy no longer follows: the next write makes it stale
    await leader.apply(AdmitAgent(info=AgentInfo(hostname="late", id="late"), principal="p"))
    recovered = await Registrar(standby).recover()
    assert standby.warm_reads == 0
    assert "late" in recovered.agents


async def test_registry_zookeeper_standby_drops_a_copy_a_write_landed_in(client, zk_url):
    path = parse_zk_url(zk_url).path
    fence = client.create(f"{path}/fence", ephemeral=True, makepath=True)
    await Registrar(ZooKeeperStore(client, path, lambda: fence)).recover()
    standby = ZooKeeperStore(client, path, lambda: fence)
    read = standby._read

    def read_while_the_leader_writes(**options: bool):
        registry = read(**options)
        client.set(f"{path}/registry/version", b"")  # a transaction landed meanwhile
        return registry

    standby._read = read_while_the_leader_writes
    assert standby._read_version(standby._version()) is None


def _bucket(agent_id: str) -> str:
    import zlib

    return f"{zlib.crc32(agent_id.encode()) % 512:03x}"
