"""What a container uses: Mesos's ResourceStatistics, from cgroups or from /proc.

`ResourceStatistics` carries Mesos's field names (the `/monitor/statistics`
entries' `statistics` object). The containerizer fills it from the container's
cgroup accounting where it has one (agent.cgroups) and otherwise from /proc:
`session_usage` sums the processes of the container's session (posix/cpu and
posix/mem: usage only, nothing is limited; a process that left the session is
not counted).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import msgspec

__all__ = ["ResourceStatistics", "SessionUsage", "session_usage"]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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


class SessionUsage(msgspec.Struct, kw_only=True, frozen=True):
    processes: int
    cpus_user_time_secs: float
    cpus_system_time_secs: float
    mem_rss_bytes: int


def session_usage(session_id: int, proc: Path = Path("/proc")) -> SessionUsage:
    """CPU times and resident memory of every live process of session `session_id`."""
    processes, user, system, rss = 0, 0, 0, 0
    try:
        entries = os.listdir(proc)
    except OSError:
        entries = []
    for entry in entries:
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            # After the command name (which may hold spaces): state, ppid, pgrp, session, ...
            fields = (proc / entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[3]) != session_id or fields[0] == "Z":
                continue
            processes += 1
            user += int(fields[11])
            system += int(fields[12])
            rss += int(fields[21]) * _PAGE_SIZE
    return SessionUsage(
        processes=processes,
        cpus_user_time_secs=user / _CLOCK_TICKS,
        cpus_system_time_secs=system / _CLOCK_TICKS,
        mem_rss_bytes=rss,
    )
