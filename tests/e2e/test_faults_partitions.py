"""Fault tests: an agent silent past its ping timeouts (SIGSTOP, then SIGCONT), and a
scheduler SIGKILLed and restarted within and past its failover timeout."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import random
import signal
import sys
from pathlib import Path

import pytest

from frameworks.scheduler import SchedulerDriver
from libprocess import Node
from tests.e2e.cluster import OneSleeper, eventually_json, free_port
from zmesos.cli.local import LocalCluster
from zmesos.protocol import FrameworkInfo, TaskState

pytestmark = pytest.mark.timeout(120)
# Half a second a ping, two misses: an agent stopped for a few seconds is unreachable.
PINGS = ("--agent-ping-timeout", "0.5", "--max-agent-ping-timeouts", "2")


def _unique_sleep() -> str:
    """A command no other test on this machine runs (tests of other runs sleep too)."""
    return f"sleep {random.randint(600, 900)}.{random.randint(0, 999_999):06d}"


def _processes_running(command: str) -> int:
    """How many processes run exactly `command` (their argv joined by spaces)."""
    count = 0
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip() == command.encode():
                count += 1
    return count


async def test_faults_stopped_agent_is_unreachable_then_its_return_keeps_aware_tasks(tmp_path):
    cluster = LocalCluster("127.0.0.1", free_port(), tmp_path, "cpus:2;mem:1024")
    try:
        await cluster.start_master("--allocation-interval", "0.2", *PINGS)
        await cluster.start_agent(0)
        await cluster.wait_for_agents(1)
        async with Node() as node:
            aware_command, plain_command = _unique_sleep(), _unique_sleep()
            aware = OneSleeper(command=aware_command)
            plain = OneSleeper(command=plain_command)
            user = getpass.getuser()
            frameworks = [
                (aware, FrameworkInfo(user=user, name="aware", capabilities=("PARTITION_AWARE",))),
                (plain, FrameworkInfo(user=user, name="plain")),
            ]
            for scheduler, info in frameworks:
                node.spawn(
                    SchedulerDriver(
                        scheduler, info, cluster.master, registration_backoff=(0.2, 1.0)
                    )
                )
            await asyncio.wait_for(asyncio.gather(aware.running, plain.running), 60)
            agent = cluster.children[1]
            os.killpg(agent.pid, signal.SIGSTOP)
            try:
                await asyncio.wait_for(plain.final, 30)
                await aware.wait_for(TaskState.UNREACHABLE, 30)
            finally:
                os.killpg(agent.pid, signal.SIGCONT)
            assert plain.final.result().state == TaskState.LOST
            await aware.wait_for(TaskState.RUNNING, 30, after=TaskState.UNREACHABLE)
            # The framework that is not partition-aware has its task killed on return.
            deadline = asyncio.get_running_loop().time() + 30
            while _processes_running(plain_command):
                assert asyncio.get_running_loop().time() < deadline, "the plain task still runs"
                await asyncio.sleep(0.1)
            assert _processes_running(aware_command) == 1
    finally:
        await cluster.stop()


async def _line(process: asyncio.subprocess.Process, prefix: str, timeout: float = 30) -> str:
    """The next line of the scheduler's output that starts with `prefix`."""
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout)).decode()
        assert line, f"the scheduler exited before printing {prefix!r}"
        if line.startswith(prefix):
            return line.strip()


async def _scheduler(master: str, failover_timeout: float, *framework_id: str):
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.e2e.failover_scheduler",
        master,
        str(failover_timeout),
        *framework_id,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )


async def test_faults_scheduler_killed_keeps_tasks_within_failover_timeout_not_past_it(tmp_path):
    cluster = LocalCluster("127.0.0.1", free_port(), tmp_path, "cpus:2;mem:1024")
    state_url = f"{cluster.url}/state"
    timeout = 3.0
    schedulers: list[asyncio.subprocess.Process] = []
    try:
        await cluster.start_master("--allocation-interval", "0.2")
        await cluster.start_agent(0)
        await cluster.wait_for_agents(1)
        command = _unique_sleep()
        first = await _scheduler(cluster.master, timeout, command)
        schedulers.append(first)
        framework_id = (await _line(first, "registered")).split()[1]
        await _line(first, "status sleeper TASK_RUNNING")
        os.killpg(first.pid, signal.SIGKILL)

        # Back within the timeout: the framework and its task are still there.
        second = await _scheduler(cluster.master, timeout, command, framework_id)
        schedulers.append(second)
        assert (await _line(second, "registered")).split()[1] == framework_id
        assert await _line(second, "status sleeper") == "status sleeper TASK_RUNNING"
        os.killpg(second.pid, signal.SIGKILL)

        # Gone past the timeout: the framework is removed and its task killed.
        state = await eventually_json(
            state_url, lambda s: any(f["id"] == framework_id for f in s["completed_frameworks"])
        )
        [removed] = [f for f in state["completed_frameworks"] if f["id"] == framework_id]
        assert [t["state"] for t in removed["completed_tasks"]] == ["TASK_KILLED"]
        deadline = asyncio.get_running_loop().time() + 30
        while _processes_running(command):
            assert asyncio.get_running_loop().time() < deadline, "the task still runs"
            await asyncio.sleep(0.1)
    finally:
        for process in schedulers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        await cluster.stop()
