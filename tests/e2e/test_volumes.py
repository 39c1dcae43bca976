"""Persistent volumes with real processes: a key-value service keeps its data through failures.

One cluster (a master and one agent) serves the whole story, to keep it fast:
write keys, then kill the task and SIGKILL its executor, each time reading every
key back from the relaunched service; then restart the agent, which recovers the
service (its framework checkpoints) still serving every key.
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
from frameworks.scheduler import Scheduler, SchedulerDriver
from libprocess import Node
from tests.e2e.cluster import eventually_json, free_port
from zmesos.cli.local import LocalCluster
from zmesos.protocol import (
    CommandInfo,
    Filters,
    FrameworkInfo,
    Offer,
    Operation,
    OperationType,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from zmesos.resources import Resources

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

            service = _service_pid(port)
            await _restart_agent(cluster)  # 3. the agent restarts: the service goes on
            await eventually_json(  # it re-registered with the service recovered
                f"{cluster.master_url(0)}/metrics/snapshot",
                lambda metrics: metrics["master/slave_reregistrations"] >= 1,
            )
            await _assert_all_keys(client)
            assert _service_pid(port) == service
            assert scheduler.running.empty() and not any(
                event.startswith(f"{task_id} TASK_") for event in scheduler.events
            )
            driver.stop()
        assert scheduler.launches == 3
        assert (tmp_path / "agent-0/meta/resources/resources.info").is_file()
    finally:
        await cluster.stop()


SHARED = "disk(db DYNAMIC principal=p)[shared:data principal=p]<SHARED>:100"
WRITER = "echo hello > data/hello && exec sleep 60"
READER = "for i in $(seq 100); do test -s data/hello && exit 0; sleep 0.1; done; exit 1"


class _SharedVolumeScheduler(Scheduler):
    """Creates a shared volume and runs a writer on it, then, from a later offer that
    carries the volume while the writer runs, a reader that must see what it wrote."""

    def __init__(self) -> None:
        self.writer_running = False
        self.reader_launched = False
        self.created = False
        self.states: asyncio.Queue[tuple[str, TaskState]] = asyncio.Queue()

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            offered = Resources(offer.resources)
            if not self.created:
                self.created = True
                operations = [
                    _operation(OperationType.RESERVE, "disk(db DYNAMIC principal=p):100"),
                    _operation(OperationType.CREATE, SHARED),
                    Operation(type=OperationType.LAUNCH, tasks=(_task(offer, "writer", WRITER),)),
                ]
                driver.accept([offer.id], operations, Filters(refuse_seconds=0))
            elif self.writer_running and not self.reader_launched and offered.shared():
                self.reader_launched = True
                driver.launch_tasks([offer.id], [_task(offer, "reader", READER)])
            else:
                driver.decline(offer.id, Filters(refuse_seconds=0))

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        if status.task_id == "writer" and status.state == TaskState.RUNNING:
            self.writer_running = True
        self.states.put_nowait((status.task_id, status.state))


def _operation(kind: OperationType, text: str) -> Operation:
    return Operation(type=kind, resources=tuple(Resources.parse(text).to_list()))


def _task(offer: Offer, task_id: str, command: str) -> TaskInfo:
    resources = Resources.parse(f"cpus:0.5;mem:128;{SHARED}")
    return TaskInfo(
        name=task_id,
        task_id=task_id,
        agent_id=offer.agent_id,
        resources=tuple(resources.to_list()),
        command=CommandInfo(value=command),
    )


async def test_volumes_two_tasks_use_one_shared_volume_at_once(tmp_path):
    cluster = LocalCluster("127.0.0.1", free_port(), tmp_path, RESOURCES)
    try:
        await cluster.start_master("--allocation-interval", "0.2")
        await cluster.start_agent(0)
        await cluster.wait_for_agents(1)
        async with Node() as node:
            scheduler = _SharedVolumeScheduler()
            info = FrameworkInfo(
                user=getpass.getuser(),
                name="shared-volume",
                roles=("db",),
                principal="p",
                capabilities=("SHARED_RESOURCES",),
            )
            driver = SchedulerDriver(
                scheduler, info, cluster.master, registration_backoff=(0.2, 1.0)
            )
            node.spawn(driver)
            seen: list[tuple[str, TaskState]] = []
            while ("reader", TaskState.FINISHED) not in seen:
                seen.append(await asyncio.wait_for(scheduler.states.get(), 60))
                assert seen[-1][1] not in (TaskState.FAILED, TaskState.ERROR, TaskState.LOST)
            # The reader saw the writer's file while the writer ran on the same volume.
            assert ("writer", TaskState.RUNNING) in seen
            assert not any(task == "writer" and state.terminal for task, state in seen)
            volume = tmp_path / "agent-0/volumes/roles/db/shared"
            assert (volume / "hello").read_text() == "hello\n"
            driver.kill_task("writer")
            driver.stop()
    finally:
        await cluster.stop()
