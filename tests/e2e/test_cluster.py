"""Master, two agents (real OS processes) and a scheduler: the whole loop, for real."""

from __future__ import annotations

import asyncio
import getpass

import aiohttp
import pytest

from frameworks.batch import BatchScheduler, Command
from frameworks.scheduler import SchedulerDriver
from libprocess import Node
from tests.e2e.cluster import OneSleeper, running_cluster
from zmesos.protocol import FrameworkInfo, TaskState
from zmesos.resources import Resources

pytestmark = pytest.mark.timeout(120)
SMALL = Resources.parse("cpus:0.1;mem:32")


async def _run(master: str, commands: list[Command]) -> BatchScheduler:
    scheduler = BatchScheduler(commands, refuse_seconds=0.5)
    async with Node() as node:
        driver = SchedulerDriver(
            scheduler,
            FrameworkInfo(user=getpass.getuser(), name="e2e"),
            master,
            registration_backoff=(0.2, 1.0),
        )
        node.spawn(driver)
        try:
            await asyncio.wait_for(scheduler.done, 90)
        finally:
            driver.stop()
            await asyncio.sleep(0.1)
    return scheduler


async def test_cluster_fifty_tasks_finish_across_two_agents(tmp_path):
    async with running_cluster(tmp_path) as cluster:
        commands = [Command(f"task-{i:02d}", f"echo task {i}", SMALL) for i in range(50)]
        scheduler = await _run(cluster.master, commands)
    states = {record.state for record in scheduler.records.values()}
    assert states == {TaskState.FINISHED}
    assert len({record.agent_id for record in scheduler.records.values()}) == 2
    stdout = list(
        tmp_path.glob("agent-*/agents/*/frameworks/*/executors/task-07/runs/latest/stdout")
    )
    assert len(stdout) == 1 and stdout[0].read_text() == "task 7\n"


async def test_cluster_failing_command_reports_its_exit_status(tmp_path):
    async with running_cluster(tmp_path, agents=1) as cluster:
        scheduler = await _run(cluster.master, [Command("fails", "exit 7", SMALL)])
    record = scheduler.records["fails"]
    assert record.state == TaskState.FAILED
    assert "status 7" in record.message


async def test_cluster_kill_gives_task_killed(tmp_path):
    async with running_cluster(tmp_path, agents=1) as cluster, Node() as node:
        scheduler = OneSleeper(kill_when_running=True)
        driver = SchedulerDriver(
            scheduler,
            FrameworkInfo(user=getpass.getuser(), name="killer"),
            cluster.master,
            registration_backoff=(0.2, 1.0),
        )
        node.spawn(driver)
        final = await asyncio.wait_for(scheduler.final, 60)
        driver.stop()
    assert final.state == TaskState.KILLED
    assert TaskState.RUNNING in scheduler.states


async def test_cluster_master_and_agents_answer_http_on_their_advertised_addresses(tmp_path):
    async with running_cluster(tmp_path) as cluster, aiohttp.ClientSession() as session:
        async with session.get(f"{cluster.url}/state") as response:
            state = await response.json()
        async with session.get(f"{cluster.url}/actor") as response:
            assert (await response.json())["pid"] == state["pid"]
        assert state["leader_info"]["port"] == cluster.port
        for agent in state["agents"]:
            async with session.get(f"http://127.0.0.1:{agent['port']}/actor") as response:
                assert (await response.json())["pid"] == agent["pid"]
            async with session.get(f"http://127.0.0.1:{agent['port']}/state") as response:
                assert (await response.json())["id"] == agent["id"]
