"""What a container uses: Mesos's ResourceStatistics, from cgroups or from /proc.

`ResourceStatistics` carries Mesos's field names (the `/monitor/statistics`
entries' `statistics` object). The containerizer fills it from the container's
cgroup accounting where it has one (agent.cgroups) and otherwise from /proc:
`usage_by_session` sums the processes of every session on the machine in one
pass (an executor leads a session of its own), for posix/cpu and posix/mem
(usage only, nothing is limited; a process that left the session is not counted).
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

__all__ = [
    "PAGE_BYTES",
    "PROC",
    "TICKS_PER_SECOND",
    "ResourceStatistics",
    "SessionUsage",
    "usage_by_session",
]

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ResourceStatistics(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One container's usage at `timestamp` (seconds since the epoch); None: not measured."""

    timestamp: float
    processes: int | None = None
    cpus_user_time_secs: float | None = None
    cpus_system_time_secs: float | None = None
    cpus_limit: float | None = None
    cpus_nr_periods: int | None = None
    cpus_nr_throttled: int | None = None
    mem_rss_bytes: int | None = None
    mem_limit_bytes: int | None = None
    disk_limit_bytes: int | None = None
    disk_used_bytes: int | None = None


class SessionUsage(msgspec.Struct, kw_only=True):
    """The processes of one session, summed (CPU times include the children they reaped)."""

    processes: int = 0
    cpus_user_time_secs: float = 0.0
    cpus_system_time_secs: float = 0.0
    mem_rss_bytes: int = 0


def usage_by_session(proc: Path = PROC) -> dict[int, SessionUsage]:
    """For every session on the machine: its live processes' usage, from /proc/<pid>/stat.

    A process that exits between listing and reading is skipped; a machine
    without /proc answers no session.
    """
    sessions: dict[int, SessionUsage] = {}
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
        if len(fields) < 22 or fields[0] == "Z":
            continue
        usage = sessions.setdefault(int(fields[3]), SessionUsage())
        usage.processes += 1
        usage.cpus_user_time_secs += (int(fields[11]) + int(fields[13])) / TICKS_PER_SECOND
        usage.cpus_system_time_secs += (int(fields[12]) + int(fields[14])) / TICKS_PER_SECOND
        usage.mem_rss_bytes += int(fields[21]) * PAGE_BYTES
    return sessions
