"""`zmesos local`'s watch over its children: say when one dies, start a dead agent again.

A master or agent that exits while the cluster is meant to be up is reported
on stderr with its exit status and log file. A dead agent is started again
from its work directory after `RESTART_DELAY` (it recovers its id, and the
executors of frameworks that checkpoint, from its checkpoint), unless restarts
are off; a dead master is only reported (its registry is on disk: start it
again by restarting `zmesos local` with the same `--work-dir`).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zmesos.cli.local import LocalCluster

__all__ = ["RESTART_DELAY", "supervise"]

RESTART_DELAY = 1.0  # seconds between an agent's death and its restart


async def supervise(cluster: LocalCluster, *, restart_agents: bool) -> None:
    """Watch until cancelled (cancel it before stopping the cluster)."""
    while True:
        watched = {
            **{
                asyncio.ensure_future(process.wait()): ("agent", index)
                for index, process in cluster.agents.items()
                if process.returncode is None
            },
            **{
                asyncio.ensure_future(process.wait()): ("master", index)
                for index, process in cluster.master_processes.items()
                if process.returncode is None
            },
        }
        if not watched:
            return
        try:
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in watched:
                future.cancel()
        for future in done:
            role, index = watched[future]
            await _died(cluster, role, index, future.result(), restart_agents)


async def _died(
    cluster: LocalCluster, role: str, index: int, status: int, restart_agents: bool
) -> None:
    label = f"{role}-{index}" if role == "agent" or index else role
    log = cluster.work_dir / f"{label}.log"
    print(f"zmesos local: {label} exited with status {status} (its log: {log})", file=sys.stderr)
    if role != "agent" or not restart_agents:
        return
    await asyncio.sleep(RESTART_DELAY)
    print(f"zmesos local: restarting {label}", file=sys.stderr, flush=True)
    try:
        await cluster.start_agent(index)
    except RuntimeError as error:
        print(f"zmesos local: {label} did not restart: {error}", file=sys.stderr, flush=True)
