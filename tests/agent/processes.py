"""Helpers for tests that watch real OS processes: liveness, parents, bounded waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

WAIT_SECONDS = 20.0
POLL_SECONDS = 0.01


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaps counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(") ", 1)[1].split()[1])


def children_of(pid: int) -> list[int]:
    """Live children of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent_of(int(entry.name)) == pid and alive(int(entry.name)):
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


async def wait_until(predicate: Callable[[], Any], timeout: float = WAIT_SECONDS) -> Any:
    """Poll `predicate` every 10 ms until it returns something true; bounded."""

    async def poll() -> Any:
        while not (result := predicate()):
            await asyncio.sleep(POLL_SECONDS)
        return result

    return await asyncio.wait_for(poll(), timeout)


def probe_facts(sandbox: Path) -> dict[str, Any] | None:
    """The JSON line fork_probe printed to the sandbox's stdout, once it is there."""
    lines = (sandbox / "stdout").read_text().splitlines() if (sandbox / "stdout").exists() else []
    return json.loads(lines[0]) if lines else None


def stdout_has(sandbox: Path, text: str) -> bool:
    path = sandbox / "stdout"
    return path.exists() and text in path.read_text()
