"""Whole-cluster benchmarks: real processes, and a master facing 10,000 simulated agents.

    python -m benchmarks.cluster [--json FILE] [--quick] [--only real|simulated|isolation|v1]
                                 [--rounds N] [--tasks N]

1. real: a master and 4 agents as OS processes (`zmesos local`'s cluster), one
   framework launching 2,000 trivial command tasks (`true`), each in its own
   command executor process: tasks finished per second, and the median and
   99th-percentile latency from launch to TASK_RUNNING.
2. simulated: one master (its own OS process) with 10,000 simulated agents
   (benchmarks.simulated_agent, 2,500 per OS process) and 10 frameworks running
   100,000 tasks that finish at once: tasks per second through the master,
   messages per second it received, and offer-to-RUNNING latency, beside the
   Mesos paper's figure (task launch overhead under 1 s at 50,000 emulated nodes).
3. isolation: the real-process cluster of (1) twice side by side, each round once
   with `--isolation posix/cpu,posix/mem` (no cgroup: usage from /proc) and once
   with `cgroups/cpu,cgroups/mem,cgroups/pids` and `--cgroups-enable-cfs` (a
   cgroup per container in every hierarchy, limits written, every process joined
   before it runs, the cgroup frozen, killed and removed at the end): tasks per
   second of each (median of the rounds) and their ratio, the cost of isolation.
4. v1: the two doors side by side on one simulated cluster (1,000 agents): an
   actor framework, then a v1 HTTP framework (benchmarks.v1_framework: ACCEPT,
   ACKNOWLEDGE, ... as HTTP calls, events on the RecordIO stream), 20,000 tasks
   each, three rounds: tasks per second and offer-to-RUNNING latency of each,
   and their ratio (target: v1 at least half of the actor framework's tasks/s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from frameworks.batch import BatchScheduler, Command
from frameworks.scheduler import SchedulerDriver
from libprocess import Node
from zmesos.cli.local import LocalCluster
from zmesos.detector import master_detector
from zmesos.protocol import FrameworkInfo
from zmesos.resources import Resources

MESOS_PAPER_LAUNCH_OVERHEAD_S = 1.0  # Hindman et al., NSDI 2011: < 1 s at 50,000 nodes
TARGET_TASKS_PER_S = 2000.0
PROBE_TASKS = 200
V1_TARGET_RATIO = 0.5  # the v1 HTTP door reaches at least half the actor door's tasks/s
ISOLATIONS = {
    "posix": ("--isolation", "posix/cpu,posix/mem"),
    "cgroups": ("--isolation", "cgroups/cpu,cgroups/mem,cgroups/pids", "--cgroups-enable-cfs"),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _latency_figures(latencies: list[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50_s": None, "p99_s": None}
    ordered = sorted(latencies)
    return {
        "p50_s": statistics.median(ordered),
        "p99_s": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


async def _master_metrics(http: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{http}/metrics/snapshot") as reply:
        return await reply.json()


async def run_frameworks(master: str, plans: list[list[Command]], timeout: float):
    """Run one BatchScheduler per plan; return (seconds, schedulers)."""
    async with Node() as node:
        schedulers = [BatchScheduler(plan, refuse_seconds=1.0) for plan in plans]
        drivers = [
            SchedulerDriver(
                scheduler,
                FrameworkInfo(user=getpass.getuser(), name=f"bench-{index}"),
                master,
                registration_backoff=(0.5, 5.0),
            )
            for index, scheduler in enumerate(schedulers)
        ]
        start = time.perf_counter()
        for driver in drivers:
            node.spawn(driver)
        try:
            await asyncio.wait_for(asyncio.gather(*(s.done for s in schedulers)), timeout)
        finally:
            elapsed = time.perf_counter() - start
            for driver in drivers:
                driver.stop()
            await asyncio.sleep(0.2)
    return elapsed, schedulers


async def real(tasks: int, agents: int, agent_flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """`tasks` trivial command tasks on `agents` real agents (given `agent_flags`)."""
    with tempfile.TemporaryDirectory(prefix="zmesos-bench-") as work_dir:
        cluster = LocalCluster(
            "127.0.0.1",
            _free_port(),
            Path(work_dir),
            "cpus:4;mem:8192;disk:8192;ports:[31000-32000]",
        )
        try:
            await cluster.start_master("--allocation-interval", "0.2")
            for index in range(agents):
                await cluster.start_agent(index, *agent_flags)
            await cluster.wait_for_agents(agents)
            plan = [
                Command(f"task-{i:05d}", "true", Resources.parse("cpus:0.25;mem:32"))
                for i in range(tasks)
            ]
            seconds, schedulers = await run_frameworks(cluster.master, [plan], timeout=900)
        finally:
            await cluster.stop()
    records = list(schedulers[0].records.values())
    finished = sum(1 for r in records if r.state is not None and r.state.value == "TASK_FINISHED")
    latencies = [r.launch_to_running for r in records if r.launch_to_running is not None]
    return {
        "tasks": tasks,
        "finished": finished,
        "agents": agents,
        "seconds": seconds,
        "tasks_per_s": finished / seconds,
        **_latency_figures(latencies),
    }


async def isolation_side_by_side(tasks: int, agents: int, rounds: int) -> dict[str, Any]:
    """The real-process cluster with each of ISOLATIONS in turn, `rounds` times: tasks
    per second and launch->RUNNING latency of each (medians), and cgroups/posix."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ISOLATIONS}
    for _ in range(rounds):
        for name, flags in ISOLATIONS.items():  # alternating: the machine's load drifts
            runs[name].append(await real(tasks, agents, flags))
    figures: dict[str, Any] = {"tasks": tasks, "agents": agents, "rounds": rounds}
    for name, results in runs.items():
        figures[name] = {
            "flags": " ".join(ISOLATIONS[name]),
            "finished": min(r["finished"] for r in results),
            "tasks_per_s": statistics.median(r["tasks_per_s"] for r in results),
            "p50_s": statistics.median(r["p50_s"] for r in results if r["p50_s"] is not None),
            "p99_s": statistics.median(r["p99_s"] for r in results if r["p99_s"] is not None),
            "rounds_tasks_per_s": [r["tasks_per_s"] for r in results],
        }
    posix, cgroups = figures["posix"]["tasks_per_s"], figures["cgroups"]["tasks_per_s"]
    figures["cgroups_over_posix"] = cgroups / posix if posix else None
    return figures


@contextlib.asynccontextmanager
async def simulated_cluster(
    work_dir: str, agents: int, agent_processes: int
) -> AsyncIterator[LocalCluster]:
    """A master (its own OS process) and `agents` simulated agents in `agent_processes`."""
    cluster = LocalCluster("127.0.0.1", _free_port(), Path(work_dir), "")
    try:
        await cluster.start_master("--allocation-interval", "1")
        per_process = -(-agents // agent_processes)
        for index in range(agent_processes):
            count = min(per_process, agents - index * per_process)
            await cluster.spawn(
                f"simulated-{index}",
                "--serve-agents",
                str(count),
                str(index * per_process),
                cluster.master,
                module="benchmarks.cluster",
            )
        await cluster.wait_for_agents(agents, timeout=300)
        yield cluster
    finally:
        await cluster.stop()


async def simulated(agents: int, tasks: int, frameworks: int, agent_processes: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="zmesos-bench-") as work_dir:
        async with simulated_cluster(work_dir, agents, agent_processes) as cluster:
            http = cluster.url
            before = await _master_metrics(http)
            resources = Resources.parse("cpus:1;mem:128")
            plans = [
                [Command(f"f{f}-t{t:06d}", "true", resources) for t in range(tasks // frameworks)]
                for f in range(frameworks)
            ]
            seconds, schedulers = await run_frameworks(cluster.master, plans, timeout=900)
            after = await _master_metrics(http)
            # The bulk run's latency is mostly backlog (80,000 tasks launched in the first
            # cycle queue behind each other); a small probe on the idle cluster shows the
            # per-task overhead the Mesos paper measured.
            probe_plan = [Command(f"probe-{t:03d}", "true", resources) for t in range(PROBE_TASKS)]
            _, probe = await run_frameworks(cluster.master, [probe_plan], timeout=120)
    records = [record for scheduler in schedulers for record in scheduler.records.values()]
    finished = sum(1 for r in records if r.state is not None and r.state.value == "TASK_FINISHED")
    latencies = [r.launch_to_running for r in records if r.launch_to_running is not None]
    received = after["master/messages_received"] - before["master/messages_received"]
    probe_latencies = [
        r.launch_to_running for r in probe[0].records.values() if r.launch_to_running is not None
    ]
    idle = {f"idle_{key}": value for key, value in _latency_figures(probe_latencies).items()}
    return {
        "agents": agents,
        "tasks": tasks,
        "frameworks": frameworks,
        "finished": finished,
        "seconds": seconds,
        "tasks_per_s": finished / seconds,
        "master_messages_received_per_s": received / seconds,
        **_latency_figures(latencies),
        **idle,
    }


async def _status_updates(http: str) -> float:
    """Status updates the master has received so far (resent ones included)."""
    return (await _master_metrics(http)).get("master/messages_status_update", 0.0)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def v1_side_by_side(agents: int, tasks: int, rounds: int, agent_processes: int) -> dict:
    """One actor framework, then one v1 HTTP framework, `rounds` times on one simulated cluster.

    Each runs `tasks` tasks of cpus:1;mem:128 alone on the cluster; figures are
    the medians over the rounds, and the v1/actor ratio of tasks per second.
    """
    from benchmarks.v1_framework import V1BatchFramework

    resources = Resources.parse("cpus:1;mem:128")
    runs: dict[str, list[dict[str, float | None]]] = {"actor": [], "v1": []}
    with tempfile.TemporaryDirectory(prefix="zmesos-bench-") as work_dir:
        async with simulated_cluster(work_dir, agents, agent_processes) as cluster:
            master_pid = cluster.children[0].pid
            for round_index in range(rounds):
                plan = [Command(f"a{round_index}-{t:06d}", "true", resources) for t in range(tasks)]
                updates = await _status_updates(cluster.url)
                cpu = _cpu_seconds(master_pid), time.process_time()
                seconds, [scheduler] = await run_frameworks(cluster.master, [plan], timeout=600)
                records = scheduler.records.values()
                finished = sum(1 for r in records if r.state and r.state.value == "TASK_FINISHED")
                latencies = [r.launch_to_running for r in records if r.launch_to_running]
                runs["actor"].append(
                    {
                        "tasks_per_s": finished / seconds,
                        "master_cpu_ms_per_task": (_cpu_seconds(master_pid) - cpu[0]) * 1e3 / tasks,
                        "framework_cpu_ms_per_task": (time.process_time() - cpu[1]) * 1e3 / tasks,
                        "updates_per_task": (await _status_updates(cluster.url) - updates) / tasks,
                        **_latency_figures(latencies),
                    }
                )
                framework = V1BatchFramework(
                    cluster.url, [f"v{round_index}-{t:06d}" for t in range(tasks)]
                )
                updates = await _status_updates(cluster.url)
                start = time.perf_counter()
                cpu = _cpu_seconds(master_pid), time.process_time()
                await asyncio.wait_for(framework.run(), 600)
                seconds = time.perf_counter() - start
                runs["v1"].append(
                    {
                        "tasks_per_s": framework.finished / seconds,
                        "master_cpu_ms_per_task": (_cpu_seconds(master_pid) - cpu[0]) * 1e3 / tasks,
                        "framework_cpu_ms_per_task": (time.process_time() - cpu[1]) * 1e3 / tasks,
                        "updates_per_task": (await _status_updates(cluster.url) - updates) / tasks,
                        **_latency_figures(list(framework.running_latency.values())),
                    }
                )
                await asyncio.sleep(1.0)  # let the torn-down framework's resources return
    figures: dict[str, object] = {"agents": agents, "tasks": tasks, "rounds": rounds}
    medians: dict[str, float | None] = {}
    for door, results in runs.items():
        for key in (
            "tasks_per_s",
            "p50_s",
            "p99_s",
            "master_cpu_ms_per_task",
            "framework_cpu_ms_per_task",
            "updates_per_task",
        ):
            values = [value for r in results if (value := r[key]) is not None]
            medians[f"{door}_{key}"] = statistics.median(values) if values else None
    figures.update(medians)
    v1, actor = medians["v1_tasks_per_s"], medians["actor_tasks_per_s"]
    figures["v1_over_actor"] = v1 / actor if v1 is not None and actor else None
    return figures


async def serve_agents(count: int, first: int, master: str) -> None:
    """An OS process hosting `count` simulated agents on one node."""
    from benchmarks.simulated_agent import SimulatedAgent

    node = await Node().start()
    master_pid = await master_detector(master).detect()
    resources = Resources.parse("cpus:8;mem:16384;disk:65536;ports:[31000-32000]")
    for index in range(first, first + count):
        node.spawn(SimulatedAgent(f"agent({index})", master_pid, resources, f"sim-{index:05d}"))
    print(f"{count} simulated agents on {node.host}:{node.port}", flush=True)
    await asyncio.Event().wait()


def _print(results: dict[str, dict]) -> None:
    real_figures, sim, v1 = results.get("real"), results.get("simulated"), results.get("v1")
    if v1:
        _print_v1(v1)
    if results.get("isolation"):
        _print_isolation(results["isolation"])
    if real_figures:
        print(f"\nreal: {real_figures['agents']} agents, {real_figures['tasks']} command tasks")
        print(
            f"  finished {real_figures['finished']} in {real_figures['seconds']:.1f} s: "
            f"{real_figures['tasks_per_s']:.1f} tasks/s; launch->RUNNING "
            f"p50 {real_figures['p50_s']:.3f} s, p99 {real_figures['p99_s']:.3f} s"
        )
    if sim:
        print(
            f"\nsimulated: {sim['agents']} agents, {sim['frameworks']} frameworks, "
            f"{sim['tasks']} tasks"
        )
        ok = "yes" if sim["tasks_per_s"] >= TARGET_TASKS_PER_S else "NO"
        print(
            f"  finished {sim['finished']} in {sim['seconds']:.1f} s: {sim['tasks_per_s']:,.0f} "
            f"tasks/s through one master (target >= {TARGET_TASKS_PER_S:,.0f}: {ok}); "
            f"{sim['master_messages_received_per_s']:,.0f} messages/s received by the master"
        )
        print(
            f"  offer->RUNNING under the bulk load p50 {sim['p50_s']:.3f} s, "
            f"p99 {sim['p99_s']:.3f} s (backlog of the first cycle's launches)"
        )
        print(
            f"  offer->RUNNING on the idle cluster ({PROBE_TASKS} tasks) "
            f"p50 {sim['idle_p50_s']:.3f} s, p99 {sim['idle_p99_s']:.3f} s "
            f"(Mesos paper: launch overhead < {MESOS_PAPER_LAUNCH_OVERHEAD_S:.0f} s "
            f"at 50,000 emulated nodes; other hardware)"
        )


def _print_isolation(isolation: dict) -> None:
    print(
        f"\nisolation: {isolation['agents']} real agents, {isolation['tasks']} command tasks "
        f"per run, median of {isolation['rounds']} rounds"
    )
    for name in ISOLATIONS:
        run = isolation[name]
        print(
            f"  {name:<7} {run['tasks_per_s']:.1f} tasks/s (rounds: "
            f"{', '.join(f'{r:.1f}' for r in run['rounds_tasks_per_s'])}); launch->RUNNING "
            f"p50 {run['p50_s']:.3f} s, p99 {run['p99_s']:.3f} s  [{run['flags']}]"
        )
    print(f"  cgroups/posix {isolation['cgroups_over_posix']:.2f}")


def _print_v1(v1: dict) -> None:
    print(
        f"\nv1 HTTP vs actor framework: {v1['agents']} simulated agents, {v1['tasks']} tasks "
        f"each, median of {v1['rounds']} rounds"
    )
    for door in ("actor", "v1"):
        print(
            f"  {door:<5} {v1[f'{door}_tasks_per_s']:,.0f} tasks/s; offer->RUNNING "
            f"p50 {v1[f'{door}_p50_s']:.3f} s, p99 {v1[f'{door}_p99_s']:.3f} s; CPU per task: "
            f"master {v1[f'{door}_master_cpu_ms_per_task']:.2f} ms, "
            f"framework {v1[f'{door}_framework_cpu_ms_per_task']:.2f} ms; "
            f"{v1[f'{door}_updates_per_task']:.2f} status updates per task (2: none resent)"
        )
    ok = "yes" if v1["v1_over_actor"] >= V1_TARGET_RATIO else "NO"
    print(f"  v1/actor {v1['v1_over_actor']:.2f} (target >= {V1_TARGET_RATIO}: {ok})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="a tenth of the work")
    parser.add_argument("--only", choices=("real", "simulated", "isolation", "v1"))
    parser.add_argument(
        "--rounds", type=int, default=2, help="isolation: rounds of each (default 2)"
    )
    parser.add_argument(
        "--tasks", type=int, help="isolation: tasks per run (default 2000; 200 with --quick)"
    )
    parser.add_argument("--serve-agents", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_agents:
        count, first, master = options.serve_agents
        uvloop.run(serve_agents(int(count), int(first), master))
        return
    os.environ.setdefault("ZMESOS_LOG_LEVEL", "warning")  # children inherit: logs cost CPU
    scale = 10 if options.quick else 1
    print(f"cluster benchmarks: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    results: dict[str, dict] = {}
    if options.only in (None, "real"):
        results["real"] = uvloop.run(real(2000 // scale, 4))
    if options.only in (None, "simulated"):
        results["simulated"] = uvloop.run(simulated(10_000 // scale, 100_000 // scale, 10, 4))
    if options.only in (None, "isolation"):
        results["isolation"] = uvloop.run(
            isolation_side_by_side(options.tasks or 2000 // scale, 4, max(1, options.rounds))
        )
    if options.only in (None, "v1"):
        results["v1"] = uvloop.run(v1_side_by_side(1000 // scale, 20_000 // scale, 3, 2))
    _print(results)
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
