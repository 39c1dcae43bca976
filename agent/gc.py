"""Sandbox garbage collection, as Mesos's agent does it (docs/sandbox.md, slave/gc.cpp).

`GarbageCollector` removes directories at their deadline: `schedule(seconds,
path)` sets one (again for a path already scheduled), `unschedule(path)`
withdraws it (an executor relaunched under the same id), `prune(within)`
removes at once everything due within that many seconds (disk pressure). One
timer serves the earliest deadline; it runs on libprocess's clock, in the
owning actor's context, so tests drive it on the paused clock.

A removal first renames the directory to a `.gc-<uuid>` tombstone beside it
(atomic, on the actor), so a sandbox made right then under the same name is
never touched; the tombstone is then deleted in a worker thread by
`remove_tree`, which never follows a symbolic link (it unlinks the link) and
never crosses into another mount: a persistent volume, symlinked or
bind-mounted into a sandbox, keeps its data. Only paths under the `roots` the
collector is given are removed at all.

`max_allowed_age(usage)` is Mesos's `--gc_disk_headroom` rule: with the disk
`usage` fraction full, a sandbox may live `gc_delay * max(0, 1 - headroom -
usage)`; the agent prunes what is older every `--disk-watch-interval`.

`collectable(work_dir, agent_id, live)` lists what a restarted agent should
schedule: the sandboxes and checkpoints of other (older) agent ids, and under
its own id every framework, executor and run directory not in use; each is
due `gc_delay` after its modification time (touched when it was scheduled).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from agent import paths
from libprocess import Timer, clock

__all__ = [
    "GarbageCollector",
    "collectable",
    "disk_usage",
    "max_allowed_age",
    "mount_points",
    "remove_tree",
]

TOMBSTONE_PREFIX = ".gc-"


def disk_usage(path: str | Path) -> float:
    """The fraction (0..1) of the filesystem holding `path` that is not free."""
    usage = shutil.disk_usage(path)
    return (usage.total - usage.free) / usage.total if usage.total else 0.0


def max_allowed_age(gc_delay: float, headroom: float, usage: float) -> float:
    """How old a sandbox may get with the disk `usage` (0..1) full (Mesos's Slave::age)."""
    return gc_delay * max(0.0, 1.0 - headroom - usage)


class GarbageCollector:
    """Removes scheduled directories at their deadline (see the module doc)."""

    def __init__(
        self,
        roots: Iterable[Path],
        *,
        delay: Callable[..., Timer],
        defer: Callable[[Any, Callable[[asyncio.Future[Any]], None]], Any],
        log: Any,
    ) -> None:
        self.roots = [Path(root).absolute() for root in roots]
        self._delay = delay
        self._defer = defer
        self.log = log
        self.scheduled: dict[Path, float] = {}  # path -> deadline on the runtime clock
        self.removed: list[Path] = []  # what was removed, for metrics and tests
        self.kept: list[str] = []  # what a removal left alone (links' targets, mounts)
        self.removing = 0  # deletions running in worker threads
        self._timer: Timer | None = None

    def schedule(self, seconds: float, path: Path) -> None:
        """Remove `path` after `seconds` (from now); replaces an earlier schedule of it."""
        path = Path(path).absolute()
        if not self._inside_roots(path):
            self.log.error("gc_refused", path=str(path), reason="not under the agent's work dir")
            return
        self.scheduled[path] = clock.now() + max(seconds, 0.0)
        self.log.info("gc_scheduled", path=str(path), seconds=round(max(seconds, 0.0), 3))
        self._arm()

    def unschedule(self, path: Path) -> bool:
        """Keep `path` after all; False when it was not scheduled."""
        found = self.scheduled.pop(Path(path).absolute(), None) is not None
        if found:
            self.log.info("gc_unscheduled", path=str(path))
            self._arm()
        return found

    def prune(self, within: float) -> int:
        """Remove now whatever is due within `within` seconds; returns how many."""
        horizon = clock.now() + within
        due = [path for path, deadline in self.scheduled.items() if deadline <= horizon]
        if due:
            self.log.info("gc_pruning", paths=len(due), within=round(within, 3))
        self._remove(due)
        return len(due)

    # -- the timer ---------------------------------------------------------------

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.scheduled:
            earliest = min(self.scheduled.values())
            self._timer = self._delay(max(earliest - clock.now(), 0.0), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = clock.now()
        self._remove([path for path, deadline in self.scheduled.items() if deadline <= now])

    # -- removal -----------------------------------------------------------------

    def _remove(self, due: list[Path]) -> None:
        for path in due:
            del self.scheduled[path]
            tombstone = path.with_name(f"{TOMBSTONE_PREFIX}{uuid.uuid4().hex}")
            try:
                os.rename(path, tombstone)
            except FileNotFoundError:
                self.log.info("gc_already_gone", path=str(path))
                continue
            except OSError as error:
                self.log.error("gc_failed", path=str(path), error=str(error))
                continue
            self.removing += 1
            self._defer(
                asyncio.to_thread(remove_tree, tombstone, mount_points()),
                functools.partial(self._removed, path),
            )
        self._arm()

    def _removed(self, path: Path, done: asyncio.Future[Any]) -> None:
        self.removing -= 1
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            self.log.error("gc_failed", path=str(path), error=str(error or "cancelled"))
            return
        kept: list[str] = done.result()
        self.removed.append(path)
        self.kept += kept
        self.log.info("gc_removed", path=str(path), kept=kept or None)

    def _inside_roots(self, path: Path) -> bool:
        return any(root in path.parents for root in self.roots)


# -- removing a tree safely (in a worker thread) -----------------------------------------


def mount_points() -> frozenset[str]:
    """Every mount point this process sees (from /proc/self/mountinfo; empty elsewhere)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return frozenset()
    points = set()
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            points.add(_unescape(fields[4]))
    return frozenset(points)


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040)."""
    if "\\" not in text:
        return text
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1").decode()


def remove_tree(top: Path, mounts: Collection[str] = frozenset()) -> list[str]:
    """Delete `top` and everything in it, returning what was left alone.

    Symbolic links are unlinked, never followed. A directory on another device
    or listed in `mounts` is a mount point: it and the directories above it stay
    (named in the result). `top` itself must be a real directory.
    """
    top = Path(top)
    info = os.lstat(top)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{top} is not a directory")
    kept: list[str] = []
    descriptor = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        complete = _empty(descriptor, str(top), info.st_dev, mounts, kept)
    finally:
        os.close(descriptor)
    if complete:
        os.rmdir(top)
    return kept


def _empty(
    descriptor: int, where: str, device: int, mounts: Collection[str], kept: list[str]
) -> bool:
    """Remove the entries of the open directory; False if something had to stay."""
    complete = True
    with os.scandir(descriptor) as entries:
        names = [entry.name for entry in entries]
    for name in names:
        path = f"{where}/{name}"
        try:
            info = os.stat(name, dir_fd=descriptor, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(info.st_mode):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=descriptor)
            continue
        if info.st_dev != device or path in mounts:
            kept.append(path)
            complete = False
            continue
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=descriptor)
        try:
            if os.fstat(child).st_ino != info.st_ino:  # swapped under us: leave it
                kept.append(path)
                complete = False
                continue
            emptied = _empty(child, path, device, mounts, kept)
        finally:
            os.close(child)
        if emptied:
            os.rmdir(name, dir_fd=descriptor)
        else:
            complete = False
    return complete


# -- what a restarted agent collects -------------------------------------------------------


def collectable(
    work_dir: str | Path, agent_id: str, live: Mapping[str, Mapping[str, str]]
) -> list[Path]:
    """Directories no running executor uses: see the module doc.

    `live` maps each framework id the agent has to its executors' ids and their
    current container ids.
    """
    found: list[Path] = []
    agents = Path(work_dir) / "agents"
    for agent in _directories(agents):
        if agent.name != agent_id:
            found.append(agent)
    metas = paths.meta_dir(work_dir) / "agents"
    for meta in _directories(metas):
        if meta.name != agent_id:
            found.append(meta)
    if not agent_id:
        return found
    for framework in _directories(agents / agent_id / "frameworks"):
        executors = live.get(framework.name)
        if executors is None:
            found.append(framework)
            continue
        for executor in _directories(framework / "executors"):
            container = executors.get(executor.name)
            if container is None:
                found.append(executor)
                continue
            found += [run for run in _directories(executor / "runs") if run.name != container]
    return found


def _directories(parent: Path) -> list[Path]:
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    # A tombstone left by a removal the last agent did not finish is collected too.
    return sorted(Path(entry.path) for entry in entries if entry.is_dir(follow_symlinks=False))
