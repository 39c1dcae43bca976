"""What the agent recovery tests share: a cluster whose one agent can be SIGKILLed and
restarted on the same port, a scheduler that launches many command tasks and records
every update, and the clean-up of executors that outlive the agent on purpose."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import getpass
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec

from agent import paths
from agent.checkpoints import UpdateRecord
from agent.containerizer import kill_session
from agent.records import split
from frameworks.scheduler import Scheduler, SchedulerDriver
from libprocess import Node
from tests.e2e.cluster import free_port
from zmesos.cli.local import LocalCluster
from zmesos.protocol import CommandInfo, FrameworkInfo, Offer, TaskInfo, TaskState, TaskStatus
from zmesos.resources import Resources

# Short real timeouts: the agent and its executors are separate processes, so the
# runtime clock cannot be paused across them.
AGENT_FLAGS = ("--executor-reregistration-timeout", "3", "--registration-backoff-factor", "0.2")


class Sleepers(Scheduler):
    """Launches `count` tasks running `command`, as many per offer as fit; records updates."""

    def __init__(self, count: int, command: str, per_task: str = "cpus:0.01;mem:1") -> None:
        self.waiting = [f"task-{index:03}" for index in range(count)]
        self.command = command
        self.per_task = Resources.parse(per_task)
        self.updates: dict[str, list[TaskStatus]] = collections.defaultdict(list)
        self.changed = asyncio.Event()

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            available = Resources.from_list(offer.resources)
            tasks = []
            while self.waiting and available.contains(self.per_task):
                available = available - self.per_task
                task_id = self.waiting.pop(0)
                tasks.append(
                    TaskInfo(
                        name=task_id,
                        task_id=task_id,
                        agent_id=offer.agent_id,
                        resources=tuple(self.per_task.to_list()),
                        command=CommandInfo(value=self.command),
                    )
                )
            driver.launch_tasks([offer.id], tasks)

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        self.updates[status.task_id].append(status)
        self.changed.set()

    def latest(self) -> dict[str, TaskState]:
        return {task_id: updates[-1].state for task_id, updates in self.updates.items()}

    def in_state(self, *states: TaskState) -> int:
        return sum(state in states for state in self.latest().values())

    def terminal(self) -> int:
        return sum(state.terminal for state in self.latest().values())

    async def until(self, predicate, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def recovery_cluster(
    work_dir: Path, *agent_flags: str, resources: str = "cpus:8;mem:8192;disk:1024"
) -> AsyncIterator[RestartableCluster]:
    cluster = RestartableCluster(work_dir, resources, agent_flags)
    try:
        await cluster.start_master("--allocation-interval", "0.2")
        await cluster.start_agent_again()
        await cluster.wait_for_agents(1)
        yield cluster
    finally:
        await cluster.stop()
        kill_sessions_under(work_dir)


class RestartableCluster(LocalCluster):
    """A master and one agent that keeps its port across restarts."""

    def __init__(self, work_dir: Path, resources: str, agent_flags: tuple[str, ...]) -> None:
        super().__init__("127.0.0.1", free_port(), work_dir, resources)
        self.agent_port = free_port()
        self.agent_flags = agent_flags

    async def start_agent_again(self, *extra: str) -> None:
        await self.start_agent(
            0, *AGENT_FLAGS, *self.agent_flags, *extra, actor_port=self.agent_port
        )

    async def metric(self, name: str) -> float:
        url = f"{self.url}/metrics/snapshot"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return float((await response.json()).get(name, 0.0))

    async def until_reregistered(self, times: int, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while await self.metric("master/slave_reregistrations") < times:
                await asyncio.sleep(0.1)

    def unacknowledged(self) -> int:
        """How many updates the agent's checkpointed streams hold unacknowledged."""
        pending = 0
        for path in self.meta.glob("agents/*/frameworks/*/executors/*/runs/*/tasks/*/task.updates"):
            stream: list[bytes] = []
            for payload in split(path.read_bytes()).records:
                record = msgspec.msgpack.decode(payload, type=UpdateRecord)
                if record.update is not None and record.update.uuid is not None:
                    stream.append(record.update.uuid)
                elif stream and stream[0] == record.acknowledged:
                    stream.pop(0)
            pending += len(stream)
        return pending

    async def until_nothing_unacknowledged(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while self.unacknowledged():
                await asyncio.sleep(0.1)

    @property
    def meta(self) -> Path:
        return paths.meta_dir(self.agent_work_dir(0))

    def executor_pids(self, executor_id: str = "*") -> set[int]:
        """The OS pids of the executors checkpointed under the agent's meta directory."""
        found = set()
        pattern = f"agents/*/frameworks/*/executors/{executor_id}/runs/*/pids/forked.pid"
        for path in self.meta.glob(pattern):
            records = split(path.read_bytes()).records
            if records:
                found.add(msgspec.msgpack.decode(records[-1], type=int))
        return found

    def executor_pid_of(self, executor_id: str) -> int:
        [pid] = self.executor_pids(executor_id)
        return pid

    async def until_nothing_left(self, timeout: float) -> None:
        """Until no framework is left in the agent's checkpoint (every task acknowledged)."""
        async with asyncio.timeout(timeout):
            while any(self.meta.glob("agents/*/frameworks/*")):
                await asyncio.sleep(0.1)


def framework_info(checkpoint: bool, capabilities: tuple[str, ...] = ()) -> FrameworkInfo:
    return FrameworkInfo(
        user=getpass.getuser(), name="recovery", checkpoint=checkpoint, capabilities=capabilities
    )


@contextlib.asynccontextmanager
async def running_scheduler(
    cluster: LocalCluster,
    scheduler: Scheduler,
    checkpoint: bool = True,
    capabilities: tuple[str, ...] = (),
) -> AsyncIterator[SchedulerDriver]:
    async with Node() as node:
        driver = SchedulerDriver(
            scheduler,
            framework_info(checkpoint, capabilities),
            cluster.master,
            registration_backoff=(0.2, 1.0),
        )
        node.spawn(driver)
        try:
            yield driver
        finally:
            driver.stop()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0] != "Z"


def processes_under(work_dir: Path) -> set[int]:
    """The pids of the processes whose working directory is under `work_dir`."""
    root = work_dir.resolve()
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if Path(os.readlink(f"/proc/{entry}/cwd")).is_relative_to(root):
                    found.add(int(entry))
    return found


def kill_sessions_under(work_dir: Path) -> int:
    """SIGKILL the session of every process whose working directory is under `work_dir`
    (the executors and tasks the agent left running on purpose)."""
    sessions = set()
    for pid in processes_under(work_dir):
        with contextlib.suppress(OSError):
            sessions.add(os.getsid(pid))
    # Every process of the session, whatever group it made (a command task makes its own).
    return sum(kill_session(session, signal.SIGKILL) for session in sessions)
