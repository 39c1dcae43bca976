"""`/monitor/statistics`: each live executor's CPU time and memory, from the kernel's accounting.

Mesos answers from its isolators' cgroups. Here an executor leads a session of
its own (the containerizer starts it with `setsid`), so its usage is the sum
over the processes of that session, read from `/proc/<pid>/stat`: user and
system CPU seconds (utime, stime; the children it has reaped included,
cutime and cstime) and resident memory. A process that exits between listing
and reading is skipped; a machine without `/proc` answers zeros.

`executor_targets` runs in the agent's actor (dispatch); `statistics` reads
`/proc` and belongs in a worker thread.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.state import ExecutorState
from libprocess import clock
from zmesos.resources import Resources

if TYPE_CHECKING:
    from agent.agent import Agent

__all__ = [
    "PAGE_BYTES",
    "TICKS_PER_SECOND",
    "ExecutorTarget",
    "executor_targets",
    "statistics",
    "usage_by_session",
]

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_MB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class ExecutorTarget:
    """One executor to measure: who it is, its session (its OS pid) and its limits."""

    executor_id: str
    executor_name: str
    framework_id: str
    source: str
    container_id: str
    session: int
    cpus_limit: float
    mem_limit_bytes: int


def executor_targets(agent: Agent) -> list[ExecutorTarget]:
    """The executors with a running process (run inside the agent's actor)."""
    targets = []
    for framework in agent.frameworks.values():
        for executor in framework.executors.values():
            if executor.container is None or executor.state is ExecutorState.TERMINATED:
                continue
            allocated = Resources(executor.info.resources)
            for task in executor.tasks.values():
                if not task.state.terminal:
                    allocated = allocated + Resources(task.info.resources)
            targets.append(
                ExecutorTarget(
                    executor_id=executor.id,
                    executor_name=executor.info.name,
                    framework_id=framework.id,
                    source=executor.info.source,
                    container_id=executor.container_id,
                    session=executor.container.pid,
                    cpus_limit=allocated.scalar("cpus"),
                    mem_limit_bytes=int(allocated.scalar("mem") * _MB),
                )
            )
    return targets


def usage_by_session(proc: Path = PROC) -> dict[int, dict[str, float]]:
    """For every session on the machine: CPU seconds (user, system; reaped children
    included), resident bytes and process count, summed over its processes."""
    sessions: dict[int, dict[str, float]] = {}
    try:
        entries = [entry for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        entries = []
    for entry in entries:
        try:
            text = (proc / entry / "stat").read_text()
        except OSError:
            continue  # it exited meanwhile
        # The command name is in parentheses and may hold spaces: split after it.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) < 22:
            continue
        usage = sessions.setdefault(
            int(fields[3]),
            {
                "cpus_user_time_secs": 0.0,
                "cpus_system_time_secs": 0.0,
                "mem_rss_bytes": 0.0,
                "processes": 0.0,
            },
        )
        usage["cpus_user_time_secs"] += (int(fields[11]) + int(fields[13])) / TICKS_PER_SECOND
        usage["cpus_system_time_secs"] += (int(fields[12]) + int(fields[14])) / TICKS_PER_SECOND
        usage["mem_rss_bytes"] += int(fields[21]) * PAGE_BYTES
        usage["processes"] += 1
    return sessions


def statistics(targets: list[ExecutorTarget], proc: Path = PROC) -> list[dict[str, Any]]:
    """Mesos's /monitor/statistics: one entry per executor with its `statistics`."""
    now = clock.now()
    sessions = usage_by_session(proc) if targets else {}
    empty = {"cpus_user_time_secs": 0.0, "cpus_system_time_secs": 0.0, "mem_rss_bytes": 0.0}
    answer = []
    for target in targets:
        usage = sessions.get(target.session, {**empty, "processes": 0.0})
        answer.append(
            {
                "executor_id": target.executor_id,
                "executor_name": target.executor_name,
                "framework_id": target.framework_id,
                "source": target.source,
                "container_id": target.container_id,
                "statistics": {
                    "timestamp": now,
                    "cpus_limit": target.cpus_limit,
                    "mem_limit_bytes": target.mem_limit_bytes,
                    "cpus_user_time_secs": round(usage["cpus_user_time_secs"], 3),
                    "cpus_system_time_secs": round(usage["cpus_system_time_secs"], 3),
                    "mem_rss_bytes": int(usage["mem_rss_bytes"]),
                    "processes": int(usage["processes"]),
                },
            }
        )
    return answer
