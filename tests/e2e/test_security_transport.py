"""Attacks on the transport of a real cluster (master and agent as OS processes), refused."""

from __future__ import annotations

import asyncio
import getpass

import msgpack
import msgspec
import pytest
import zmq

from frameworks.scheduler import SchedulerDriver
from libprocess import Node
from tests.e2e.cluster import OneSleeper, eventually_json, free_port, get_json, running_cluster
from tests.e2e.test_security import _execute
from zmesos.cli.local import LocalCluster
from zmesos.protocol import FrameworkInfo, KillTask, TaskState

pytestmark = pytest.mark.timeout(120)


async def test_security_forged_kill_as_another_nodes_scheduler_is_dropped_and_the_task_runs(
    tmp_path,
):
    async with running_cluster(tmp_path, agents=1) as cluster, Node() as victim, Node() as mallory:
        scheduler = OneSleeper()
        driver = SchedulerDriver(
            scheduler,
            FrameworkInfo(user=getpass.getuser(), name="victim"),
            cluster.master,
            registration_backoff=(0.2, 1.0),
        )
        victim.spawn(driver)
        await asyncio.wait_for(scheduler.running, 60)
        state = await get_json(f"{cluster.url}/state")
        [framework] = state["frameworks"]  # the PIDs an attacker reads from /state
        master_pid, victim_pid = state["pid"], framework["pid"]
        master_address = master_pid.split("@", 1)[1]
        kill = msgpack.unpackb(
            msgspec.msgpack.encode(KillTask(framework_id=framework["id"], task_id="sleeper"))
        )
        forged = msgpack.packb([[victim_pid, "master", "KillTask", [kill]]])

        # 1. From a node of its own, as the victim's scheduler: forged, dropped.
        mallory.open_channel(_address(master_address)).send(forged)
        # 2. On a connection claiming the victim's node address: never proven, dropped.
        liar = zmq.Context.instance().socket(zmq.PUSH)
        liar.setsockopt(zmq.LINGER, 0)
        liar.setsockopt(zmq.METADATA, f"X-Libprocess-Node:{victim.host}:{victim.port}".encode())
        liar.setsockopt(zmq.METADATA, b"X-Libprocess-Token:0000")
        liar.connect(f"tcp://{master_address}")
        try:
            liar.send(forged)
            metrics = await eventually_json(
                f"{cluster.url}/metrics/snapshot",
                lambda m: (
                    m.get("master/transport_dropped_messages/forged_sender", 0) >= 1
                    and m.get("master/transport_dropped_messages/unproven_connection", 0) >= 1
                ),
            )
        finally:
            liar.close()
        assert metrics["master/dropped_messages"] >= 2
        await asyncio.sleep(0.5)  # what a kill would have done has had time to happen
        state = await get_json(f"{cluster.url}/state")
        [task] = state["frameworks"][0]["tasks"]
        assert task["state"] == "TASK_RUNNING"
        assert TaskState.KILLED not in scheduler.states
        log = (tmp_path / "master.log").read_text()
        assert "forged_sender" in log and "unproven_connection" in log
        driver.stop()


def _address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


async def test_security_curve_cluster_runs_a_task_and_a_node_without_keys_is_refused(tmp_path):
    cluster = LocalCluster(
        "127.0.0.1", free_port(), tmp_path, "cpus:2;mem:1024;disk:1024", curve_agents=1
    )
    try:
        await cluster.start_master("--allocation-interval", "0.2")
        await cluster.start_agent(0)
        await cluster.wait_for_agents(1)
        assert cluster.keys_dir is not None
        # The executor the agent starts speaks CurveZMQ too (its agent's keys).
        keys = str(cluster.keys_dir / "scheduler")
        status, output = await _execute(cluster.master, "--curve-keys", keys)
        assert status == 0, output
        assert "TASK_FINISHED" in output
        status, output = await _execute(cluster.master, "--registration-timeout", "3")
        assert status == 1
        assert "accepted the framework" in output
        await eventually_json(
            f"{cluster.url}/metrics/snapshot",
            lambda m: m.get("master/transport_connections_refused", 0) >= 1,
        )
    finally:
        await cluster.stop()
