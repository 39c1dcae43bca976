"""Master failover: from the leader's death to every agent re-registered with the new leader.

    python -m benchmarks.failover [--json FILE] [--quick] [--agents N ...] [--seed S]

A real ZooKeeper (Debian's package), two masters as OS processes electing a
leader in it (the registry there too), and N simulated agents
(benchmarks.simulated_agent) holding 10 running tasks each, in four OS
processes. Once every agent is registered, the leader is SIGKILLed; the clock
starts just before the kill and stops when the last agent hears
AgentReregistered from the new leader. Each agent-hosting process watches the
election in ZooKeeper once for all its agents (a real agent watches it
itself); told of the new leader, each agent re-registers on the real agent's
schedule, which is Mesos's: after a random delay within the backoff factor
(1 s), retrying within 2, 4, ... s. The figure includes the ZooKeeper session
timeout (the dead leader's znode lives until it expires), the election, the
new leader's registry read (from the copy it kept current while standing by,
when it is: the kill comes 3 s after the last registration, a steady state),
that random delay, and the re-registration of every agent with its tasks,
retries included. Mesos 1.5 reported about
19 s for 40,000 agents and 400,000 tasks (other hardware); target: 10,000
agents and 100,000 tasks in under 5 s.

The simulated agents' processes run on the same cores as the masters (real
agents would not): their CPU is printed beside the new leader's, with the
machine's load average, so a figure can be read against both. Thousands of
agents share each process's connection to the new leader, where real agents
have one each: the 8 MiB a connection may hold backlogged drops part of a
40,000-agent burst (counted), which real agents would not see.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import uvloop

from agent.base import REGISTRATION_RETRY_MAX, REGISTRATION_RETRY_MIN
from agent.flags import AgentFlags
from benchmarks.simulated_agent import SimulatedAgent
from libprocess import PID, Node, Timer
from zmesos.backoff import Backoff
from zmesos.cli.local import LocalCluster
from zmesos.detector import ZooKeeperDetector
from zmesos.protocol import (
    AgentRegistered,
    AgentReregistered,
    CommandInfo,
    FrameworkInfo,
    ReportedTask,
    ReregisterAgent,
    TaskInfo,
    TaskState,
)
from zmesos.resources import Resources
from zmesos.zookeeper import ZooKeeperServer

TARGET_SECONDS = 5.0  # 10,000 agents, 100,000 tasks
MESOS_SECONDS = 19.0  # Mesos 1.5, 40,000 agents, 400,000 tasks (its release notes; other hardware)
TASKS_PER_AGENT = 10
AGENT_PROCESSES = 4  # more would starve the masters of CPU on a small machine
SESSION_TIMEOUT = 3.0  # the masters' --zk-session-timeout (Mesos's default is 10 s)
BACKOFF_FACTOR = AgentFlags().registration_backoff_factor  # the real agent's default (1 s)
# Longest line read from an agent process: its agents' re-registration times, 10,000
# of them at 40,000 agents (asyncio's default limit is 64 KiB).
_LINE_LIMIT = 16 * 1024 * 1024
FRAMEWORK = FrameworkInfo(user="bench", name="failover-bench", id="failover-bench-framework")


class FailoverAgent(SimulatedAgent):
    """A simulated agent holding `TASKS_PER_AGENT` running tasks; re-registers on demand."""

    def __init__(
        self, name: str, master: PID, resources: Resources, hostname: str, rng: random.Random
    ) -> None:
        super().__init__(name, master, resources, hostname)
        self.reregistered_at: float | None = None
        self.tasks: tuple[TaskInfo, ...] = ()
        self.backoff = Backoff(
            BACKOFF_FACTOR, REGISTRATION_RETRY_MAX, minimum=REGISTRATION_RETRY_MIN, rng=rng
        )
        self.retry: Timer | None = None
        self.message: ReregisterAgent | None = None
        self.attempts = 0  # ReregisterAgent messages sent since the leader changed

    def _registered(self, sender: PID, message: AgentRegistered | AgentReregistered) -> None:
        if isinstance(message, AgentReregistered):
            if sender == self.master and self.reregistered_at is None:
                self.reregistered_at = time.time()
            return
        if self.agent_id:
            return
        self.agent_id = message.agent_id
        self.info = msgspec.structs.replace(self.info, id=self.agent_id)
        task_resources = tuple(Resources.parse("cpus:0.1;mem:32").to_list())
        self.tasks = tuple(
            TaskInfo(
                name="held",
                task_id=f"{self.agent_id}-t{index}",
                agent_id=self.agent_id,
                resources=task_resources,
                command=CommandInfo(value="sleep 3600"),
            )
            for index in range(TASKS_PER_AGENT)
        )

    def follow(self, master: PID) -> None:
        """The leader changed: re-register with it as the real agent does (Mesos's schedule:
        the first attempt after a random delay within the backoff factor)."""
        self.master = master
        self.reregistered_at = None
        self.attempts = 0
        self.backoff.reset()
        if self.retry is not None:
            self.retry.cancel()
        self.retry = self.delay(self.backoff.next(), self._reregister)

    def _reregister(self) -> None:
        if self.reregistered_at is not None:
            return
        if self.message is None:  # what it reports does not change: built once
            self.message = ReregisterAgent(
                agent=self.info,
                tasks=tuple(
                    ReportedTask(framework_id=FRAMEWORK.id, task=task, state=TaskState.RUNNING)
                    for task in self.tasks
                ),
                frameworks=(FRAMEWORK,),
            )
        self.send(self.master, self.message)
        self.attempts += 1
        # As the real agent: retry within twice the last bound, up to a minute.
        self.retry = self.delay(self.backoff.next(), self._reregister)


async def _leader(detector: ZooKeeperDetector, other_than: PID | None) -> PID:
    """The leader once it is another than `other_than`, as ZooKeeper's watch tells it."""
    leader: PID | None = other_than
    while leader is None or leader == other_than:
        leader = await detector.changed(leader)
    return leader


async def serve_agents(count: int, first: int, zk_url: str, seed: int) -> None:
    """An OS process hosting `count` agents; prints `registered`, then `reregistered <time>`."""
    random.seed(seed + first)
    rng = random.Random(seed + first)
    node = await Node().start()
    detector = ZooKeeperDetector(zk_url)
    leader = await _leader(detector, None)
    resources = Resources.parse("cpus:8;mem:16384;disk:65536;ports:[31000-32000]")
    agents = [
        FailoverAgent(f"agent({index})", leader, resources, f"sim-{index:05d}", rng)
        for index in range(first, first + count)
    ]
    for agent in agents:
        node.spawn(agent)
    while not all(agent.agent_id for agent in agents):
        await asyncio.sleep(0.1)
    # Thousands of agents in one process make one big heap, which Python's collector
    # would walk again and again (a real agent's heap is small): move what exists out
    # of its reach, as the master does (master.runner.tune_garbage_collector).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
    print("registered", flush=True)
    # Follow the leader: when ZooKeeper's watch names another, every agent moves there.
    new_leader = await _leader(detector, leader)
    print(f"detected {time.time():.6f}", flush=True)
    for agent in agents:
        agent.follow(new_leader)
    while not all(agent.reregistered_at is not None for agent in agents):
        await asyncio.sleep(0.02)
    last = max(agent.reregistered_at or 0.0 for agent in agents)
    print(f"reregistered {last:.6f}", flush=True)
    times = [agent.reregistered_at or 0.0 for agent in agents]
    attempts = sum(agent.attempts for agent in agents)
    print(f"agents {json.dumps({'times': times, 'attempts': attempts})}", flush=True)
    print(f"metrics {json.dumps(dict(node.metrics))}", flush=True)
    await asyncio.Event().wait()


async def _line(process: asyncio.subprocess.Process, prefix: str, timeout: float) -> str:
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout)).decode()
        if not line:
            raise RuntimeError(f"an agent process exited before printing {prefix!r}")
        if line.startswith(prefix):
            return line.strip()


async def failover(
    agents: int, seed: int, session_timeout: float, keep: str | None = None
) -> dict[str, Any]:
    processes: list[asyncio.subprocess.Process] = []
    with contextlib.ExitStack() as stack:
        work_dir = keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="zmesos-"))
        zookeeper = ZooKeeperServer(Path(work_dir) / "zookeeper")
        await asyncio.get_running_loop().run_in_executor(None, zookeeper.start)
        cluster = LocalCluster(
            "127.0.0.1",
            _free_port(),
            Path(work_dir),
            "",
            masters=2,
            zookeeper=zookeeper,
            master_ports=[_free_port(), _free_port()],
        )
        try:
            flags = ("--zk-session-timeout", str(session_timeout), "--allocation-interval", "1")
            for index in range(2):
                await cluster.start_master(*flags, index=index)
            leader = await cluster.leader_index()
            per_process = -(-agents // AGENT_PROCESSES)
            start_setup = time.perf_counter()
            for first in range(0, agents, per_process):
                count = min(per_process, agents - first)
                log = Path(work_dir) / f"agents-{first}.log" if keep else None
                processes.append(await _agent_process(count, first, cluster.master, seed, log))
            for process in processes:
                await _line(process, "registered", timeout=900)
            setup = time.perf_counter() - start_setup
            _progress(f"{agents:,} agents registered in {setup:.1f} s; killing the leader")
            # The registry's last writes and the agents' first pings settle, and the
            # standby's copy of the registry catches up with them (it checks every
            # 0.5 s): a leader dies at any moment, mostly long after the last change.
            await asyncio.sleep(3.0)

            standby = cluster.master_processes[1 - leader].pid
            cpu_before = _cpu_seconds(standby), sum(_cpu_seconds(p.pid) for p in processes)
            load_before = os.getloadavg()[0]
            killed_at = time.time()
            os.killpg(cluster.master_processes[leader].pid, signal.SIGKILL)
            detections = [
                float((await _line(process, "detected", timeout=600)).split()[1])
                for process in processes
            ]
            ends = [
                float((await _line(process, "reregistered", timeout=600)).split()[1])
                for process in processes
            ]
            per_agent = [
                json.loads((await _line(process, "agents", timeout=60)).split(" ", 1)[1])
                for process in processes
            ]
            agent_metrics = [
                json.loads((await _line(process, "metrics", timeout=60)).split(" ", 1)[1])
                for process in processes
            ]
            # The CPU the new leader and the agents' processes spent meanwhile (their work,
            # whatever else runs on the machine), and the machine's load.
            leader_cpu = _cpu_seconds(standby) - cpu_before[0]
            agents_cpu = sum(_cpu_seconds(p.pid) for p in processes) - cpu_before[1]
            load_after = os.getloadavg()[0]
            seconds = max(ends) - killed_at
            times = sorted(t - killed_at for one in per_agent for t in one["times"])
            attempts = sum(one["attempts"] for one in per_agent)
            detected = min(detections) - killed_at
            _progress(f"all re-registered after {seconds:.2f} s")
            new_leader = await cluster.leader_index(timeout=120)
            metrics = await _metrics(cluster.master_url(new_leader))
            if keep:
                (Path(work_dir) / "new-leader-metrics.json").write_text(json.dumps(metrics))
        finally:
            for process in processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
            await cluster.stop()
            zookeeper.stop()
    return {
        "agents": agents,
        "tasks": agents * TASKS_PER_AGENT,
        "seconds": seconds,
        "new_leader_found_s": detected,
        "reregistration_s": seconds - detected,
        # When agents heard AgentReregistered, seconds after the kill: the spread shows
        # whether the last ones waited for the new leader or for a retry.
        "reregistered_percentiles_s": {
            str(share): times[min(len(times) - 1, int(len(times) * share / 100))]
            for share in (10, 50, 90, 99)
        },
        # ReregisterAgent sent per agent: 1 when the first attempt was answered in time.
        "attempts_per_agent": attempts / agents,
        "session_timeout_s": session_timeout,
        "new_leader_cpu_s": leader_cpu,
        # The master's part: what it was sent, what it answered as a repeat of the
        # re-registration it had taken already, and its CPU for each agent.
        "new_leader_reregister_messages": metrics.get("master/messages_reregister_agent"),
        "new_leader_repeats_answered": metrics.get("master/agent_reregistrations_repeated", 0),
        "new_leader_cpu_per_agent_us": leader_cpu / agents * 1e6,
        "registry_read_ms": metrics.get("registrar/state_fetch_ms"),
        # Whether the new leader recovered from the copy it kept while standing by (one
        # version check) rather than reading the registry whole.
        "registry_from_standby_copy": bool(
            metrics.get("registrar/state_fetches_from_standby_copy")
        ),
        "agent_processes_cpu_s": agents_cpu,
        "load_average": [load_before, load_after],
        "setup_s": setup,
        "new_leader_agents": metrics.get("master/slaves_active"),
        "new_leader_tasks_running": metrics.get("master/tasks_running"),
        # Messages lost on the way (each costs a retry after a backoff), peers lost or
        # backlogged and reading paused (a full mailbox): the new leader's node, the
        # agents' nodes.
        "new_leader_dropped": {
            name: value
            for name, value in metrics.items()
            if "dropped" in name or "peers_" in name or "pauses" in name
        },
        "agents_dropped": {
            name: sum(m.get(name, 0) for m in agent_metrics)
            for name in sorted({n for m in agent_metrics for n in m})
            if "dropped" in name or "peers_" in name or "pauses" in name
        },
        "seed": seed,
    }


async def _agent_process(
    count: int, first: int, zk_url: str | None, seed: int, log: Path | None
) -> asyncio.subprocess.Process:
    """An OS process hosting agents; its log goes to `log` (kept), else nowhere."""
    assert zk_url is not None
    with open(log or os.devnull, "ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.failover",
            "--serve-agents",
            str(count),
            str(first),
            zk_url,
            "--seed",
            str(seed),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
            limit=_LINE_LIMIT,
        )


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _progress(text: str) -> None:
    print(f"    {text}", file=sys.stderr, flush=True)


async def _metrics(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics/snapshot") as reply:
        return await reply.json()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="1,000 agents only")
    parser.add_argument(
        "--agents", type=int, nargs="+", default=[10_000, 40_000], help="cluster sizes"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the agents' jitter")
    parser.add_argument("--work-dir", help="keep the masters' logs and registry here")
    parser.add_argument(
        "--session-timeout",
        type=float,
        default=SESSION_TIMEOUT,
        help=f"the masters' ZooKeeper session timeout (default {SESSION_TIMEOUT} s)",
    )
    parser.add_argument("--serve-agents", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    seed = options.seed if options.seed is not None else random.randrange(2**31)
    if options.serve_agents:
        count, first, zk_url = options.serve_agents
        uvloop.run(serve_agents(int(count), int(first), zk_url, seed))
        return
    os.environ.setdefault("ZMESOS_LOG_LEVEL", "warning")  # children inherit: logs cost CPU
    sizes = [1000] if options.quick else options.agents
    print(
        f"failover benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, seed {seed}"
    )
    results = []
    for agents in sizes:
        keep = f"{options.work_dir}/{agents}" if options.work_dir else None
        figures = uvloop.run(failover(agents, seed, options.session_timeout, keep))
        results.append(figures)
        verdict = ""
        if agents == 10_000:
            met = "yes" if figures["seconds"] < TARGET_SECONDS else "NO"
            verdict = f" (target < {TARGET_SECONDS:.0f} s: {met})"
        if agents == 40_000:
            verdict = f" (Mesos 1.5: about {MESOS_SECONDS:.0f} s, other hardware)"
        copy = (
            "its standby copy being current"
            if figures["registry_from_standby_copy"]
            else "all of it: its standby copy was not current"
        )
        spread = ", ".join(
            f"{seconds:.2f} s ({share}%)"
            for share, seconds in figures["reregistered_percentiles_s"].items()
        )
        print(
            f"  {agents:,} agents, {figures['tasks']:,} tasks: all re-registered "
            f"{figures['seconds']:.2f} s after the leader's SIGKILL{verdict}: "
            f"{figures['new_leader_found_s']:.2f} s until the new leader was found "
            f"(ZooKeeper session timeout {figures['session_timeout_s']:.1f} s), "
            f"{figures['reregistration_s']:.2f} s to re-register every agent (the new "
            f"leader read the registry in {figures['registry_read_ms'] or 0:,.0f} ms, "
            f"{copy}); "
            f"agents re-registered by {spread}; "
            f"{figures['attempts_per_agent']:.2f} ReregisterAgent sent per agent; "
            f"the new leader took {figures['new_leader_reregister_messages'] or 0:,.0f} of "
            f"them ({figures['new_leader_repeats_answered']:,.0f} repeats answered again); "
            f"CPU meanwhile: new leader {figures['new_leader_cpu_s']:.2f} s "
            f"({figures['new_leader_cpu_per_agent_us']:.0f} us per agent), agents' "
            f"processes {figures['agent_processes_cpu_s']:.2f} s (on the same cores); "
            f"load average "
            f"{figures['load_average'][0]:.1f} -> {figures['load_average'][1]:.1f} "
            f"({os.cpu_count()} cores); messages lost: "
            f"{figures['new_leader_dropped'].get('master/dropped_messages', 0):,.0f} by the new "
            f"leader, {figures['agents_dropped'].get('dropped_messages', 0):,.0f} by the agents' "
            f"nodes; "
            f"new leader counts {figures['new_leader_agents']:,.0f} agents, "
            f"{figures['new_leader_tasks_running']:,.0f} running tasks",
            flush=True,
        )
    if options.json:
        Path(options.json).write_text(json.dumps({"failover": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
