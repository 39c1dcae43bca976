"""The operator HTTP over real sockets (127.0.0.1, port 0), and hostile input to the master."""

from __future__ import annotations

import asyncio
import math

import aiohttp
import msgpack
import msgspec

from libprocess import Node, clock
from libprocess.testing import settle
from master import MasterFlags, leadership, run_master, serve_http
from tests.master.fakes import command_task, start_cluster
from zmesos.detector import master_detector
from zmesos.protocol import (
    AcceptOffers,
    FrameworkInfo,
    KillTask,
    RegisterAgent,
    RegisterFramework,
    StatusUpdate,
    StatusUpdateMessage,
    TaskState,
    TaskStatus,
)
from zmesos.resources import Resource


async def _get(url: str) -> tuple[int, object]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.json() if response.status == 200 and response.content_length else None
        return response.status, body


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


async def test_master_http_health_state_and_metrics():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1", "cpus:1;mem:128")])
        await settle()
        server = await serve_http(cluster.master_pid, node, "127.0.0.1", 0)
        try:
            assert server.port > 0
            status, _ = await _get(f"{server.url}/health")
            assert status == 200

            status, state = await _get(f"{server.url}/state")
            assert status == 200
            assert state["id"] == "M"
            assert state["activated_slaves"] == 1
            [agent] = state["agents"]
            assert state["slaves"] == state["agents"]
            assert agent["id"] == cluster.agent.agent_id
            assert agent["pid"] == str(cluster.agent.pid)
            assert agent["hostname"] == "host1"
            assert agent["resources"] == {
                "cpus": 4.0,
                "mem": 4096.0,
                "disk": 10000.0,
                "gpus": 0.0,
                "ports": "[31000-32000]",
            }
            assert agent["used_resources"]["cpus"] == 1.0
            assert agent["used_resources"]["mem"] == 128.0
            [framework] = state["frameworks"]
            assert framework["id"] == cluster.scheduler.framework_id
            assert framework["name"] == "test"
            assert framework["roles"] == ["*"]
            assert framework["active"] is True
            [task] = framework["tasks"]
            assert task["id"] == "t1"
            assert task["name"] == "t1"
            assert task["state"] == "TASK_RUNNING"
            assert task["agent_id"] == cluster.agent.agent_id
            assert task["resources"]["cpus"] == 1.0
            assert framework["offers"] == []  # the rest is filtered for 5 s

            status, same = await _get(f"{server.url}/master/state")
            assert status == 200 and same["id"] == "M"

            status, metrics = await _get(f"{server.url}/metrics/snapshot")
            assert status == 200
            assert metrics["master/tasks_running"] == 1
            assert metrics["master/tasks_staging"] == 0
            assert metrics["master/tasks_finished"] == 0
            assert metrics["master/cpus_total"] == 4
            assert metrics["master/cpus_used"] == 1
            assert metrics["master/mem_total"] == 4096
            assert metrics["master/mem_used"] == 128
            assert metrics["master/outstanding_offers"] == 0
            assert metrics["master/frameworks_active"] == 1
            assert metrics["master/slaves_active"] == 1
            for name in (
                "master/messages_received",
                "master/invalid_messages",
                "master/dropped_messages",
                "master/tasks_failed",
                "master/tasks_killed",
                "master/tasks_lost",
                "master/tasks_error",
                "allocator/allocation_runs",
            ):
                assert name in metrics
            assert all(isinstance(v, int | float) for v in metrics.values())

            cluster.agent.update(cluster.scheduler.framework_id, "t1", TaskState.FINISHED)
            await settle()
            _, metrics = await _get(f"{server.url}/metrics/snapshot")
            assert metrics["master/tasks_finished"] == 1
            assert metrics["master/tasks_running"] == 0
            _, state = await _get(f"{server.url}/state")
            [done] = state["frameworks"][0]["completed_tasks"]
            assert done["state"] == "TASK_FINISHED"
        finally:
            await server.close()


async def test_master_run_master_serves_and_stops():
    handle = await run_master(MasterFlags(ip="127.0.0.1", port=0, master_id="R"))
    try:
        assert handle.pid.name == "master"
        assert handle.http.port > 0 and handle.http.port != handle.pid.port
        status, state = await _get(f"{handle.http.url}/master/state")
        assert status == 200 and state["id"] == "R" and state["pid"] == str(handle.pid)
        assert state["leader_info"]["port"] == handle.http.port  # the address users name
        status, actor = await _get(f"{handle.http.url}/actor")
        assert status == 200 and actor == {"pid": str(handle.pid)}
        assert await master_detector(handle.address).detect() == handle.pid
    finally:
        await handle.stop()


def _frame(sender: str, message: object, *, body: dict | None = None) -> bytes:
    name = type(message).__name__
    payload = body if body is not None else msgpack.unpackb(msgspec.msgpack.encode(message))
    return msgpack.packb([[sender, "master", name, [payload]]])


async def test_master_hostile_messages_are_dropped_counted_and_the_master_serves_on():
    async with Node() as node, Node() as elsewhere:
        cluster = await start_cluster(node)
        framework_id = cluster.scheduler.framework_id
        [offer] = cluster.scheduler.take_offers()
        rogue = f"rogue@{elsewhere.host}:{elsewhere.port}"  # a process of another node
        bad_cpus = Resource(name="cpus", type="SCALAR", scalar=-4.0)
        hostile = [
            # Wrong field types: refused by the node's decoder.
            _frame(
                rogue,
                AcceptOffers(framework_id=framework_id, offer_ids=(offer.id,)),
                body={"framework_id": 7},
            ),
            # Well-formed, but the sender is not the framework's scheduler.
            _frame(rogue, AcceptOffers(framework_id=framework_id, offer_ids=(offer.id,))),
            _frame(rogue, KillTask(framework_id=framework_id, task_id="t1")),
            # A status update from something that is not a registered agent.
            _frame(
                rogue,
                StatusUpdateMessage(
                    update=StatusUpdate(
                        framework_id=framework_id,
                        status=TaskStatus(task_id="t1", state=TaskState.FAILED),
                    )
                ),
            ),
            # An agent with negative resources; a framework with a NaN failover timeout.
            _frame(rogue, RegisterAgent(agent=_agent_info(bad_cpus))),
            _frame(
                rogue,
                RegisterFramework(
                    framework=FrameworkInfo(user="x", name="x", failover_timeout=math.nan)
                ),
            ),
        ]
        raw = elsewhere.open_channel(node.address)
        try:
            for frame in hostile:
                raw.send(frame)
            metrics = cluster.master.metrics
            await _wait_for(lambda: cluster.master.metrics["messages_register_framework"] == 2)
        finally:
            raw.close()
        assert node.metrics["invalid_messages"] == 1
        assert metrics["invalid_messages"] >= 4
        assert metrics["invalid_status_updates"] == 1
        assert len(cluster.master.cluster.agents) == 1
        assert len(cluster.master.cluster.frameworks) == 1
        assert offer.id in cluster.master.offers
        assert cluster.scheduler.statuses == []
        # The master serves on: the real framework launches on its offer.
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await _wait_for(lambda: cluster.scheduler.states("t1") == [TaskState.RUNNING])
        snapshot = await node.dispatch(cluster.master_pid, "metrics_snapshot")
        assert snapshot["master/invalid_messages"] >= 5
        assert snapshot["master/dropped_messages"] >= 5


def _agent_info(resource: Resource):
    from zmesos.protocol import AgentInfo

    return AgentInfo(hostname="evil", resources=(resource,))


async def test_master_http_leader_check_follows_what_the_master_publishes():
    """The middleware reads the master's published leadership: 503 once it ends, and a
    newer master at the same PID is not forgotten when the older one withdraws late."""
    handle = await run_master(MasterFlags(ip="127.0.0.1", port=0, master_id="M"))
    try:
        url = f"{handle.http.url}/api/v1"
        call = {"type": "GET_HEALTH"}
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=call) as response:
                assert response.status == 200
            assert leadership.current(handle.pid) == leadership.Leadership(
                leading=True, leader=handle.address
            )
            handle.node.terminate(handle.pid)
            await handle.node.wait(handle.pid)
            assert leadership.current(handle.pid) is None
            async with session.post(url, json=call) as response:
                assert response.status == 503
                assert "restarting its candidacy" in await response.text()
            async with session.get(f"{handle.http.url}/health") as response:
                assert response.status == 200  # local paths need no leader
    finally:
        await handle.stop()
    newer, older = object(), object()
    published = leadership.Leadership(leading=False, leader="10.0.0.9:5050")
    leadership.publish(handle.pid, newer, published)
    leadership.withdraw(handle.pid, older)
    assert leadership.current(handle.pid) == published
    leadership.withdraw(handle.pid, newer)
    assert leadership.current(handle.pid) is None
