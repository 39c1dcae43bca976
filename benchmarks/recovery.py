"""Agent recovery time: an agent under 500 running tasks is SIGKILLed and restarted.

    python -m benchmarks.recovery [--tasks N] [--json FILE] [--seed S]

A master and one agent run as OS processes (`zmesos local`'s cluster); a
checkpointing framework launches N `sleep` command tasks (one command executor
process each). Once all run, the agent is SIGKILLed -- its executors and tasks
live on -- and started again on the same work directory. The figure is the time
from that start to the master having the agent re-registered with every task
(its `slave_reregistrations` metric and `tasks_running` = N), after the agent
recovered its checkpoint and every executor re-registered with it. Target:
under 5 s for 500 tasks (Mesos publishes no figure). Every process it started is
killed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import uvloop

from agent.containerizer import kill_session
from frameworks.scheduler import Scheduler, SchedulerDriver
from libprocess import Node
from zmesos.cli.local import LocalCluster
from zmesos.protocol import CommandInfo, FrameworkInfo, Offer, TaskInfo, TaskState, TaskStatus
from zmesos.resources import Resources

TARGET_SECONDS = 5.0
PER_TASK = "cpus:0.01;mem:1"
LAUNCH_TIMEOUT = 600.0
RECOVERY_TIMEOUT = 120.0


class Sleepers(Scheduler):
    """Launches its task ids (in a seeded random order) as `sleep` tasks; tracks their states."""

    def __init__(self, task_ids: list[str]) -> None:
        self.waiting = task_ids
        self.per_task = Resources.parse(PER_TASK)
        self.states: dict[str, TaskState] = {}

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            available = Resources.from_list(offer.resources)
            tasks = []
            while self.waiting and available.contains(self.per_task):
                available = available - self.per_task
                task_id = self.waiting.pop()
                tasks.append(
                    TaskInfo(
                        name=task_id,
                        task_id=task_id,
                        agent_id=offer.agent_id,
                        resources=tuple(self.per_task.to_list()),
                        command=CommandInfo(value="sleep 3600"),
                    )
                )
            driver.launch_tasks([offer.id], tasks)

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        self.states[status.task_id] = status.state

    def count(self, state: TaskState) -> int:
        return sum(value == state for value in self.states.values())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _metrics(session: aiohttp.ClientSession, cluster: LocalCluster) -> dict[str, float]:
    async with session.get(f"{cluster.url}/metrics/snapshot") as reply:
        return await reply.json()


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout}s")
        await asyncio.sleep(0.01)


def _kill_sessions_under(work_dir: Path) -> None:
    """Kill every session that has a process working under `work_dir` (executors, tasks)."""
    root = work_dir.resolve()
    sessions = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if Path(os.readlink(f"/proc/{entry}/cwd")).is_relative_to(root):
                    sessions.add(os.getsid(int(entry)))
    for session in sessions:
        kill_session(session, signal.SIGKILL)  # every group of it: tasks make their own


async def run(tasks: int, seed: int, work_dir: Path) -> dict[str, float | int | bool]:
    resources = f"cpus:{max(8, tasks * 0.01 + 1)};mem:{tasks + 1024};disk:1024"
    cluster = LocalCluster("127.0.0.1", _free_port(), work_dir, resources)
    actor_port = _free_port()
    task_ids = [f"sleeper-{index:04}" for index in range(tasks)]
    random.Random(seed).shuffle(task_ids)
    try:
        await cluster.start_master("--allocation-interval", "0.2")
        await cluster.start_agent(0, actor_port=actor_port)
        await cluster.wait_for_agents(1)
        scheduler = Sleepers(task_ids)
        async with Node() as node, aiohttp.ClientSession() as session:
            framework = FrameworkInfo(user=getpass.getuser(), name="recovery", checkpoint=True)
            driver = SchedulerDriver(scheduler, framework, cluster.master)
            node.spawn(driver)
            started = time.monotonic()

            async def all_running() -> bool:
                return scheduler.count(TaskState.RUNNING) == tasks

            await _until(all_running, LAUNCH_TIMEOUT, f"{tasks} tasks running")
            launch_seconds = time.monotonic() - started
            print(f"{tasks} tasks running after {launch_seconds:.1f}s", flush=True)

            await cluster.kill_agent(0)
            restarted = time.monotonic()
            await cluster.start_agent(0, actor_port=actor_port)
            agent_up = time.monotonic() - restarted

            async def all_reregistered() -> bool:
                metrics = await _metrics(session, cluster)
                return (
                    metrics.get("master/slave_reregistrations", 0) >= 1
                    and metrics.get("master/tasks_running", 0) == tasks
                )

            await _until(all_reregistered, RECOVERY_TIMEOUT, "re-registration with every task")
            recovery_seconds = time.monotonic() - restarted
            await asyncio.sleep(1.0)  # any task lost in recovery would be reported by now
            lost = tasks - scheduler.count(TaskState.RUNNING)
            driver.stop()
        return {
            "tasks": tasks,
            "seed": seed,
            "launch_seconds": round(launch_seconds, 3),
            "agent_process_up_seconds": round(agent_up, 3),
            "recovery_seconds": round(recovery_seconds, 3),
            "target_seconds": TARGET_SECONDS,
            "within_target": recovery_seconds < TARGET_SECONDS,
            "tasks_not_running_after": lost,
        }
    finally:
        await cluster.stop()
        _kill_sessions_under(work_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500, help="running tasks (default: 500)")
    parser.add_argument("--seed", type=int, default=1, help="the order tasks are launched in")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--work-dir", help="keep the cluster's logs there (default: temporary)")
    options = parser.parse_args()
    print(f"seed {options.seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="zmesos-bench-recovery-") as temporary:
        work_dir = Path(options.work_dir or temporary)
        work_dir.mkdir(parents=True, exist_ok=True)
        figures = uvloop.run(run(options.tasks, options.seed, work_dir))
    print(
        f"agent recovery, {figures['tasks']} running tasks: {figures['recovery_seconds']}s from "
        f"restart to every task re-registered with the master (target < {TARGET_SECONDS}s; "
        f"agent process up in {figures['agent_process_up_seconds']}s); "
        f"tasks not running afterwards: {figures['tasks_not_running_after']}",
        flush=True,
    )
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2) + "\n")
    sys.exit(0 if figures["tasks_not_running_after"] == 0 else 1)


if __name__ == "__main__":
    main()
