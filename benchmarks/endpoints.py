"""Operator endpoints under load: how long the master takes to answer its HTTP views of a
large cluster, and how big the answers are.

    python -m benchmarks.endpoints [--json FILE] [--quick] [--agents N] [--tasks N]

A master (its own OS process) with 1,000 simulated agents (benchmarks.cluster's,
in 2 OS processes) runs 10 frameworks of 1,000 tasks each to the end, so its
`/state` holds 10,000 tasks (completed frameworks keep theirs). Then each
endpoint is fetched `ROUNDS` times in a row: the median and worst latency, and
the answer's size. `/metrics` (Prometheus's text) and `/tasks` (one page of
100) are the ones a scraper and the web UI poll; `/state` is the largest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import uvloop

from benchmarks.cluster import run_frameworks, simulated_cluster
from frameworks.batch import Command
from zmesos.resources import Resources

ROUNDS = 20
ENDPOINTS = (
    "/state",
    "/state-summary",
    "/slaves",
    "/frameworks",
    "/tasks",
    "/roles",
    "/metrics/snapshot",
    "/metrics",
)


async def _measure(url: str) -> dict[str, float]:
    latencies: list[float] = []
    size = 0
    async with aiohttp.ClientSession() as session:
        for _ in range(ROUNDS):
            started = time.perf_counter()
            async with session.get(url) as response:
                body = await response.read()
                assert response.status == 200, (url, response.status)
            latencies.append(time.perf_counter() - started)
            size = len(body)
    return {
        "median_ms": statistics.median(latencies) * 1000,
        "max_ms": max(latencies) * 1000,
        "bytes": float(size),
    }


async def run(agents: int, tasks: int, frameworks: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="zmesos-bench-") as work_dir:
        async with simulated_cluster(work_dir, agents, 2) as cluster:
            resources = Resources.parse("cpus:1;mem:128")
            plans = [
                [Command(f"f{f}-t{t:06d}", "true", resources) for t in range(tasks // frameworks)]
                for f in range(frameworks)
            ]
            await run_frameworks(cluster.master, plans, timeout=600)
            figures = {path: await _measure(f"{cluster.url}{path}") for path in ENDPOINTS}
    return {"agents": agents, "tasks": tasks, "frameworks": frameworks, "endpoints": figures}


def _print(results: dict[str, object]) -> None:
    print(
        f"master endpoints with {results['agents']} agents and {results['tasks']} tasks "
        f"(median and worst of {ROUNDS} GETs)"
    )
    endpoints = results["endpoints"]
    assert isinstance(endpoints, dict)
    for path, figure in endpoints.items():
        print(
            f"  {path:<18} {figure['median_ms']:8.1f} ms  (max {figure['max_ms']:7.1f} ms)"
            f"  {figure['bytes'] / 1024:9.1f} KiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="a tenth of the cluster")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10_000)
    options = parser.parse_args()
    os.environ.setdefault("ZMESOS_LOG_LEVEL", "warning")  # children inherit: logs cost CPU
    scale = 10 if options.quick else 1
    print(f"endpoint benchmarks: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    results = uvloop.run(run(options.agents // scale, options.tasks // scale, 10))
    _print(results)
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
