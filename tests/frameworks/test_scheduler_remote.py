"""The scheduler driver on its own node, talking to a master over ZeroMQ (real clock)."""

from __future__ import annotations

import asyncio

from frameworks import SchedulerDriver
from libprocess import Node
from master import MasterFlags, run_master
from tests.master.fakes import FakeAgent, Recorder, command_task
from zmesos.protocol import FrameworkInfo, TaskState


async def _wait_for(predicate, timeout: float = 15.0) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


async def test_scheduler_remote_registers_launches_and_reregisters_after_master_restart():
    """Given the master's HTTP address, the driver finds its actor, and finds it again
    when the master comes back on the same address with another actor port."""
    master = await run_master(MasterFlags(ip="127.0.0.1", port=0, master_id="M1"))
    scheduler_node = await Node(host="127.0.0.1", port=0).start()
    address, http_port = master.address, master.http.port
    replacement = None
    try:
        agent = FakeAgent(master.pid)
        master.node.spawn(agent)
        scheduler = Recorder()
        driver = SchedulerDriver(
            scheduler,
            FrameworkInfo(user="u", name="remote", failover_timeout=60),
            address,
            registration_backoff=(0.2, 1.0),
        )
        scheduler_node.spawn(driver)
        await _wait_for(lambda: scheduler.offers)
        assert driver.master == master.pid
        [offer] = scheduler.take_offers()
        driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await _wait_for(lambda: scheduler.states("t1") == [TaskState.RUNNING])
        await _wait_for(lambda: len(agent.acks) == 1)  # the ack crossed both nodes

        await master.stop()
        await _wait_for(lambda: ("disconnected", None) in scheduler.events)
        replacement = await run_master(MasterFlags(ip="127.0.0.1", port=http_port, master_id="M2"))
        await _wait_for(lambda: ("reregistered", "M2") in scheduler.events)
        assert driver.connected and driver.framework_id == scheduler.framework_id
        assert driver.master == replacement.pid != master.pid
    finally:
        await scheduler_node.stop()
        if replacement is not None:
            await replacement.stop()
        await master.stop()
