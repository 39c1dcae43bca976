"""Persistent volumes with real processes: a key-value service keeps its data through failures.

One cluster (a master and one agent) serves the whole story, to keep it fast:
write keys, then kill the task, SIGKILL its executor and restart the agent,
each time reading every key back from the relaunched service.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
from pathlib import Path

import pytest

from frameworks.kvstore import KeyValueClient, KeyValueScheduler
from frameworks.scheduler import SchedulerDriver
from libprocess import Node
from tests.e2e.cluster import free_port
from zmesos.cli.local import LocalCluster

pytestmark = pytest.mark.timeout(120)
RESOURCES = "cpus:2;mem:1024;disk:1024"
KEYS = {f"key-{index}": f"value-{index}" for index in range(5)}


def _service_pid(port: int) -> int:
    """The OS process of the key-value service listening on `port`."""
    wanted = f"\0--port\0{port}\0--data\0".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if wanted in Path(f"/proc/{entry}/cmdline").read_bytes():
                return int(entry)
    raise AssertionError(f"no service process on port {port}")


async def _next_running(scheduler: KeyValueScheduler) -> tuple[str, KeyValueClient, int]:
    task_id, host, port = await asyncio.wait_for(scheduler.running.get(), 60)
    return task_id, KeyValueClient(host, port), port


async def _assert_all_keys(client: KeyValueClient) -> None:
    assert {key: await client.get(key) for key in KEYS} == KEYS


async def _restart_agent(cluster: LocalCluster) -> None:
    agent = cluster.children[1]
    os.killpg(agent.pid, signal.SIGTERM)
    await asyncio.wait_for(agent.wait(), 30)
    await cluster.start_agent(0)


async def test_volumes_key_value_service_keeps_its_keys_through_every_failure(tmp_path):
    # One free port for the service, so runs on one machine at once never meet.
    port = free_port()
    resources = f"{RESOURCES};ports:[{port}-{port}]"
    cluster = LocalCluster("127.0.0.1", free_port(), tmp_path, resources)
    try:
        await cluster.start_master("--allocation-interval", "0.2")
        await cluster.start_agent(0)
        await cluster.wait_for_agents(1)
        async with Node() as node:
            scheduler = KeyValueScheduler()
            info = scheduler.framework_info(getpass.getuser())
            driver = SchedulerDriver(
                scheduler, info, cluster.master, registration_backoff=(0.2, 1.0)
            )
            node.spawn(driver)
            task_id, client, port = await _next_running(scheduler)
            for key, value in KEYS.items():
                await client.put(key, value)
            volume = next(tmp_path.glob("agent-0/volumes/roles/kv/kv-data"))
            assert (volume / "kv.sqlite").is_file()

            driver.kill_task(task_id)  # 1. the task is killed
            task_id, client, port = await _next_running(scheduler)
            await _assert_all_keys(client)

            os.kill(os.getsid(_service_pid(port)), signal.SIGKILL)  # 2. its executor dies
            task_id, client, port = await _next_running(scheduler)
            await _assert_all_keys(client)

            await _restart_agent(cluster)  # 3. the agent restarts
            task_id, client, port = await _next_running(scheduler)
            await _assert_all_keys(client)
            driver.stop()
        assert scheduler.launches == 4
        assert (tmp_path / "agent-0/meta/resources/resources.info").is_file()
    finally:
        await cluster.stop()
