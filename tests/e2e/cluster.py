"""A real cluster for end-to-end tests: master and agents as OS processes on loopback."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from zmesos.cli.local import LocalCluster


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def running_cluster(
    work_dir: Path, agents: int = 2, resources: str = "cpus:4;mem:4096;disk:4096"
) -> AsyncIterator[LocalCluster]:
    cluster = LocalCluster("127.0.0.1", free_port(), free_port(), work_dir, resources)
    try:
        await cluster.start_master("--allocation-interval", "0.2")
        for index in range(agents):
            await cluster.start_agent(index)
        await cluster.wait_for_agents(agents)
        yield cluster
    finally:
        await cluster.stop()
