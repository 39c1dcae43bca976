"""Bad input refused at the master's edge, before anything changes; a correct retry then works."""

from __future__ import annotations

import asyncio

import msgpack
import msgspec

from libprocess import Message, Node, clock
from libprocess.testing import settle
from master import Master, MasterFlags
from tests.master.fakes import command_task, framework_info, start_cluster
from zmesos.protocol import (
    AcceptOffers,
    CheckInfo,
    CheckType,
    FrameworkInfo,
    KillTask,
    Operation,
    OperationType,
    ReportedTask,
    ReregisterAgent,
    ReregisterFramework,
    RunTask,
    TaskState,
    TCPCheckInfo,
)


async def _advance(seconds: float) -> None:
    await settle()
    for _ in range(int(seconds)):
        clock.advance(1.0)
        await settle()


async def _send_raw(node: Node, sender: str, message: Message, **replace: object) -> None:
    """Send `message` over real ZeroMQ as `sender`, with fields of its body replaced."""
    body = msgpack.unpackb(msgspec.msgpack.encode(message))
    body.update(replace)
    received = node.metrics["messages_received"] + node.metrics["invalid_messages"]
    raw = node.open_channel(node.address)  # the node's own: `sender` is one of its PIDs
    try:
        raw.send(msgpack.packb([[sender, "master", type(message).__name__, [body]]]))
        async with asyncio.timeout(10):
            while node.metrics["messages_received"] + node.metrics["invalid_messages"] == received:
                await asyncio.sleep(0.01)
    finally:
        raw.close()
    await settle()


async def _restarted_master_with_reregistering_agent(node: Node):  # type: ignore[no-untyped-def,unused-ignore]
    cluster = await start_cluster(node, framework=framework_info(failover_timeout=60))
    [offer] = cluster.scheduler.take_offers()
    cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1")])
    await settle()
    [run] = cluster.agent.launched
    node.terminate(cluster.master_pid)
    await settle()
    master = Master(MasterFlags(master_id="N"))
    node.spawn(master)
    await settle()
    good = ReregisterAgent(
        agent=cluster.agent.info(),
        tasks=(
            ReportedTask(
                framework_id=cluster.scheduler.framework_id, task=run.task, state=TaskState.RUNNING
            ),
        ),
        frameworks=(run.framework,),
        framework_pids={cluster.scheduler.framework_id: run.framework_pid},
    )
    return cluster, master, run, good


async def _assert_serves_after_correct_retry(cluster, master, good) -> None:  # type: ignore[no-untyped-def,unused-ignore]
    cluster.agent.send(cluster.master_pid, good)
    await _advance(3)  # the driver's registration retry, then an allocation
    agent = master.cluster.agents[cluster.agent.agent_id]
    assert agent.ping_timer is not None  # pinged
    assert master.cluster.frameworks[cluster.scheduler.framework_id].tasks["t1"].state == (
        TaskState.RUNNING
    )
    assert agent.used.cpus == 1
    pings = cluster.agent.pings
    await _advance(16)
    assert cluster.agent.pings > pings
    assert any(o.agent_id == agent.id for o in cluster.scheduler.offers.values())  # offered


async def test_master_reregister_agent_with_bogus_task_state_is_refused_whole_and_a_retry_works():
    clock.pause()
    async with Node() as node:
        cluster, master, run, good = await _restarted_master_with_reregistering_agent(node)
        bogus = [
            {
                "framework_id": cluster.scheduler.framework_id,
                "task": msgpack.unpackb(msgspec.msgpack.encode(run.task)),
                "state": "BOGUS",
            }
        ]
        await _send_raw(node, str(cluster.agent.pid), good, tasks=bogus)
        assert node.metrics["dropped_messages/invalid_message"] == 1
        assert node.metrics["handler_errors"] == 0
        assert master.cluster.agents == {}  # nothing half-added
        assert master.metrics["messages_reregister_agent"] == 0
        await _assert_serves_after_correct_retry(cluster, master, good)
        assert node.metrics["handler_errors"] == 0


async def test_master_reregister_agent_breaking_a_rule_across_fields_changes_nothing():
    clock.pause()
    async with Node() as node:
        cluster, master, run, good = await _restarted_master_with_reregistering_agent(node)
        twice = msgspec.structs.replace(good, tasks=good.tasks * 2)
        bad_role = msgspec.structs.replace(
            good,
            frameworks=(msgspec.structs.replace(run.framework, roles=("bad role",)),),
        )
        for message in (twice, bad_role):
            cluster.agent.send(cluster.master_pid, message)
            await settle()
        assert master.metrics["invalid_messages"] == 2
        assert master.cluster.agents == {} and master.cluster.frameworks == {}
        await _assert_serves_after_correct_retry(cluster, master, good)
        assert node.metrics["handler_errors"] == 0


async def test_master_refuses_bad_pids_and_ids_at_decoding():
    async with Node() as node:
        cluster = await start_cluster(node)
        framework_id = cluster.scheduler.framework_id
        sender = str(cluster.driver.pid)
        refused = node.metrics["invalid_messages"]
        await _send_raw(
            node, sender, KillTask(framework_id=framework_id, task_id="t"), framework_id="a/b"
        )
        await _send_raw(
            node, sender, KillTask(framework_id=framework_id, task_id="t"), agent_id="x" * 256
        )
        run = RunTask(
            framework=FrameworkInfo(user="u", name="n"),
            framework_pid="scheduler@127.0.0.1:1",
            task=command_task(next(iter(cluster.scheduler.offers.values())), "t"),
        )
        for pid in ("no-at-sign", "s@127.0.0.1:0", "s@127.0.0.1:65536", "s@host name:1"):
            await _send_raw(node, sender, run, framework_pid=pid)
        assert node.metrics["invalid_messages"] == refused + 6
        assert node.metrics["handler_errors"] == 0


async def test_master_reregister_agent_claiming_another_id_from_a_known_agents_pid_is_dropped():
    async with Node() as node:
        cluster = await start_cluster(node)
        master = cluster.master.cluster
        [agent] = master.agents.values()
        other = msgspec.structs.replace(cluster.agent.info(), id="M-0001-S77")
        cluster.agent.send(cluster.master_pid, ReregisterAgent(agent=other))
        await settle()
        assert list(master.agents) == [agent.id]
        assert master.agents_by_pid == {agent.pid: agent}
        assert cluster.master.metrics["invalid_messages"] == 1


async def test_master_scheduler_of_one_framework_cannot_reregister_as_another():
    async with Node() as node:
        cluster = await start_cluster(node)
        master = cluster.master.cluster
        [framework] = master.frameworks.values()
        info = msgspec.structs.replace(framework.info, id="M-0001-9999")
        cluster.driver.send(cluster.master_pid, ReregisterFramework(framework=info))
        await settle()
        assert list(master.frameworks) == [framework.id]
        assert master.frameworks_by_pid == {framework.pid: framework}
        assert cluster.master.metrics["invalid_messages"] == 1


async def test_master_drops_an_accept_whose_check_does_not_decode_and_a_valid_retry_launches():
    async with Node() as node:
        cluster = await start_cluster(node)
        framework_id = cluster.scheduler.framework_id
        [offer] = cluster.scheduler.take_offers()
        check = CheckInfo(type=CheckType.TCP, tcp=TCPCheckInfo(port=8080))
        task = msgspec.structs.replace(command_task(offer, "t"), check=check)
        accept = AcceptOffers(
            framework_id=framework_id,
            offer_ids=(offer.id,),
            operations=(Operation(type=OperationType.LAUNCH, tasks=(task,)),),
        )
        operation = msgpack.unpackb(msgspec.msgpack.encode(accept.operations[0]))
        refused = node.metrics["invalid_messages"]
        for bad_check in (
            {"type": "GRPC", "tcp": {"port": 8080}},
            {"type": "TCP", "tcp": {"port": 0}},
            {"type": "TCP", "tcp": {"port": 8080}, "delay_seconds": "soon"},
            {"type": "HTTP", "http": {"port": 80, "path": 7}},
            "TCP",
        ):
            operation["tasks"][0]["check"] = bad_check
            await _send_raw(node, str(cluster.driver.pid), accept, operations=[operation])
        assert node.metrics["invalid_messages"] == refused + 5
        assert node.metrics["handler_errors"] == 0
        assert cluster.agent.launched == [] and cluster.scheduler.statuses == []
        cluster.driver.send(cluster.master_pid, accept)
        await settle()
        [run] = cluster.agent.launched
        assert run.task.check == check
