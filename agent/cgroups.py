"""Linux control groups as the containerizer uses them: one cgroup per container.

A container's cgroup lives at `<mount>/<cgroups_root>/<agent slot>/<container id>`
in every hierarchy the agent uses: with cgroup v1, one directory per subsystem
(cpu, cpuacct, memory, pids, freezer: each may be mounted on its own or with
others); with cgroup v2, one directory in the unified hierarchy. The agent slot
is derived from the agent's work directory, so agents sharing a machine (tests,
benchmarks, `zmesos local`) never take each other's cgroups for orphans.

`Hierarchies.detect()` reads the mounts and says which subsystems are usable;
`Hierarchies.cgroup(container_id)` gives a `ContainerCgroup` (CgroupV1 or
CgroupV2) that creates, limits, measures, kills and removes one container's
cgroup. Everything here is a plain blocking file operation on cgroupfs (each
takes microseconds); nothing here knows about tasks or the agent.

A process joins a cgroup by writing its pid to the cgroup's `cgroup.procs`;
its descendants are born in it, whatever they do with sessions or process
groups, and only root (or a delegated owner) can move them out. That is what
makes a kill of the cgroup final: `kill()` freezes the cgroup (no fork can race
the kill), SIGKILLs every member and thaws it so they die.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
import select
import signal
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "V1_SUBSYSTEMS",
    "CgroupUsage",
    "CgroupV1",
    "CgroupV2",
    "ContainerCgroup",
    "Hierarchies",
    "OomNotifier",
    "agent_slot",
    "join_cgroups",
    "parse_mounts",
]

V1_SUBSYSTEMS = ("cpu", "cpuacct", "memory", "pids", "freezer")
V2_CONTROLLERS = ("cpu", "memory", "pids")
CPU_SHARES_PER_CPU = 1024  # Mesos: CPU_SHARES_PER_CPU
MIN_CPU_SHARES = 2  # the kernel's minimum
CFS_PERIOD_US = 100_000  # Mesos: CPU_CFS_PERIOD, 100 ms
MIN_CFS_QUOTA_US = 1_000  # the kernel's minimum
V2_WEIGHT_MAX = 10_000
FREEZE_WAIT_SECONDS = 0.5  # a freeze takes microseconds; past this, kill unfrozen
KILL_ROUNDS = 20  # SIGKILL rounds until the cgroup is empty (each re-reads its members)
_USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
UNLIMITED = 1 << 62  # what "no limit" reads as, near enough (v1: 9223372036854771712)


def agent_slot(work_dir: str) -> str:
    """The directory under the cgroups root that holds one agent's containers."""
    digest = hashlib.sha256(os.path.abspath(work_dir).encode()).hexdigest()
    return f"agent-{digest[:12]}"


def parse_mounts(text: str) -> tuple[dict[str, Path], Path | None]:
    """From /proc/mounts: (v1 subsystem -> its mount point, the v2 mount or None)."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        mount_point, kind, options = Path(fields[1]), fields[2], fields[3].split(",")
        if kind == "cgroup2" and v2 is None:
            v2 = mount_point
        elif kind == "cgroup":
            for subsystem in V1_SUBSYSTEMS:
                if subsystem in options:
                    v1.setdefault(subsystem, mount_point)
    return v1, v2


def join_cgroups(pid: int, procs_files: Sequence[str]) -> None:
    """Move process `pid` into each cgroup whose `cgroup.procs` file is given.

    Plain system calls only: it also runs in a forked child before it execs.
    OSError names the file it could not write.
    """
    data = str(pid).encode()
    for path in procs_files:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as error:
            raise OSError(error.errno, f"cannot join the cgroup: {error.strerror}", path) from None


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, value: str) -> None:
    """One write() of `value`, as cgroupfs wants it (errors as OSError)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _key_values(text: str) -> dict[str, int]:
    """`name value` lines (memory.stat, cpu.stat, memory.events) as a dict."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[name] = int(value)
    return values


def _pids_of(procs: Path) -> list[int]:
    try:
        return [int(line) for line in _read(procs).split()]
    except FileNotFoundError:
        return []


def _rmdir(path: Path) -> bool:
    """Remove an (empty) cgroup directory; False while it still has members."""
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError as error:
        if error.errno in (errno.EBUSY, errno.ENOTEMPTY):
            return False
        raise
    return True


def _signal_all(pids: list[int], sig: int) -> None:
    own = os.getpid()
    for pid in pids:
        if pid != own:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


class OomNotifier:
    """A descriptor to wait on (`fd`, readable on news) for a cgroup's OOM events.

    v1: an eventfd (`watched` is -1); v2: an epoll set watching memory.events
    (`watched`) for POLLPRI. `rearm()` consumes the news; `close()` both.
    """

    def __init__(self, fd: int, watched: int = -1) -> None:
        self.fd = fd
        self.watched = watched

    def rearm(self) -> None:
        if self.watched < 0:
            with contextlib.suppress(BlockingIOError):
                os.eventfd_read(self.fd)
            return
        os.lseek(self.watched, 0, os.SEEK_SET)
        os.read(self.watched, 4096)

    def close(self) -> None:
        for fd in (self.fd, self.watched):
            if fd >= 0:
                os.close(fd)
        self.fd = self.watched = -1


@dataclasses.dataclass(frozen=True)
class CgroupUsage:
    """What a cgroup's accounting says (None where the hierarchy is not used)."""

    cpus_user_time_secs: float | None = None
    cpus_system_time_secs: float | None = None
    mem_rss_bytes: int | None = None
    mem_limit_bytes: int | None = None
    processes: int = 0
    cpus_nr_periods: int | None = None
    cpus_nr_throttled: int | None = None


class ContainerCgroup:
    """One container's cgroup in every hierarchy used; see CgroupV1 and CgroupV2."""

    name: str

    def create(self) -> None:
        """Make the directories (and parents); OSError when cgroupfs refuses."""
        raise NotImplementedError

    def exists(self) -> bool:
        raise NotImplementedError

    def procs_files(self) -> list[str]:
        """The files a process writes its pid to (or "0": itself) to join the cgroup."""
        raise NotImplementedError

    def limit_cpu(self, cpus: float, cfs: bool) -> None:
        raise NotImplementedError

    def limit_memory(self, limit_bytes: int) -> None:
        raise NotImplementedError

    def limit_pids(self, maximum: int) -> None:
        raise NotImplementedError

    def pids(self) -> list[int]:
        """Every process in the cgroup now."""
        raise NotImplementedError

    def freeze(self, frozen: bool) -> None:
        raise NotImplementedError

    def oom_kills(self) -> int:
        """How many processes the kernel killed here for going over the memory limit."""
        raise NotImplementedError

    def oom_notifier(self) -> OomNotifier | None:
        """A descriptor that turns readable when `oom_kills` may have changed (None
        without a memory hierarchy); OSError when the kernel refuses one."""
        raise NotImplementedError

    def usage(self) -> CgroupUsage:
        raise NotImplementedError

    def remove(self) -> bool:
        """Remove the directories; False while a member still lives (retry later)."""
        raise NotImplementedError

    def kill(self) -> int:
        """Freeze, SIGKILL every member, thaw; returns how many were signalled.

        Frozen, no member can fork a new one while the kill goes round, so none
        escapes; members keep dying after thawing (zombies leave the cgroup at exit).
        """
        signalled = 0
        frozen = False
        with contextlib.suppress(OSError):
            self.freeze(True)
            frozen = True
        try:
            for _ in range(KILL_ROUNDS):
                members = self.pids()
                if not members:
                    break
                _signal_all(members, signal.SIGKILL)
                signalled += len(members)
                if frozen:
                    break  # nobody can fork while frozen: this round got them all
        finally:
            if frozen:
                with contextlib.suppress(OSError):
                    self.freeze(False)
        return signalled


class CgroupV1(ContainerCgroup):
    """A container's cgroups in v1 hierarchies: `dirs` maps each subsystem to its directory."""

    def __init__(self, name: str, dirs: dict[str, Path]) -> None:
        self.name = name
        self.dirs = dirs

    def _unique_dirs(self) -> list[Path]:
        return list(dict.fromkeys(self.dirs.values()))  # co-mounted subsystems share one

    def create(self) -> None:
        for path in self._unique_dirs():
            path.mkdir(parents=True, exist_ok=True)

    def exists(self) -> bool:
        return any(path.is_dir() for path in self._unique_dirs())

    def procs_files(self) -> list[str]:
        return [str(path / "cgroup.procs") for path in self._unique_dirs()]

    def limit_cpu(self, cpus: float, cfs: bool) -> None:
        cpu = self.dirs["cpu"]
        _write(cpu / "cpu.shares", str(max(MIN_CPU_SHARES, int(cpus * CPU_SHARES_PER_CPU))))
        if cfs:
            quota = max(MIN_CFS_QUOTA_US, int(cpus * CFS_PERIOD_US))
            _write(cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(cpu / "cpu.cfs_quota_us", str(quota))

    def limit_memory(self, limit_bytes: int) -> None:
        memory = self.dirs["memory"]
        _write(memory / "memory.limit_in_bytes", str(limit_bytes))
        with contextlib.suppress(OSError):  # only where swap accounting is on
            _write(memory / "memory.memsw.limit_in_bytes", str(limit_bytes))

    def limit_pids(self, maximum: int) -> None:
        _write(self.dirs["pids"] / "pids.max", str(maximum))

    def pids(self) -> list[int]:
        members: set[int] = set()
        for path in self._unique_dirs():
            members.update(_pids_of(path / "cgroup.procs"))
        return sorted(members)

    def freeze(self, frozen: bool) -> None:
        freezer = self.dirs.get("freezer")
        if freezer is None:
            raise OSError(errno.ENOTSUP, "no freezer hierarchy")
        _write(freezer / "freezer.state", "FROZEN" if frozen else "THAWED")
        if not frozen:
            return
        deadline = time.monotonic() + FREEZE_WAIT_SECONDS
        while _read(freezer / "freezer.state").strip() != "FROZEN":
            if time.monotonic() > deadline:
                raise OSError(errno.ETIMEDOUT, "the freezer did not freeze in time")
            time.sleep(0.001)

    def oom_kills(self) -> int:
        memory = self.dirs.get("memory")
        if memory is None:
            return 0
        try:
            control = _key_values(_read(memory / "memory.oom_control"))
        except FileNotFoundError:
            return 0
        return control.get("oom_kill", 0)

    def oom_notifier(self) -> OomNotifier | None:
        """An eventfd the kernel signals on OOM (registered through cgroup.event_control)."""
        memory = self.dirs.get("memory")
        if memory is None:
            return None
        event = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            control = os.open(memory / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _write(memory / "cgroup.event_control", f"{event} {control}")
            finally:
                os.close(control)
        except OSError:
            os.close(event)
            raise
        return OomNotifier(event)

    def usage(self) -> CgroupUsage:
        fields: dict[str, float | int | None] = {"processes": len(self.pids())}
        cpuacct = self.dirs.get("cpuacct")
        if cpuacct is not None:
            with contextlib.suppress(FileNotFoundError):
                stat = _key_values(_read(cpuacct / "cpuacct.stat"))
                fields["cpus_user_time_secs"] = stat.get("user", 0) / _USER_HZ
                fields["cpus_system_time_secs"] = stat.get("system", 0) / _USER_HZ
        cpu = self.dirs.get("cpu")
        if cpu is not None:
            with contextlib.suppress(FileNotFoundError):
                stat = _key_values(_read(cpu / "cpu.stat"))
                fields["cpus_nr_periods"] = stat.get("nr_periods")
                fields["cpus_nr_throttled"] = stat.get("nr_throttled")
        memory = self.dirs.get("memory")
        if memory is not None:
            with contextlib.suppress(FileNotFoundError):
                stat = _key_values(_read(memory / "memory.stat"))
                fields["mem_rss_bytes"] = stat.get("total_rss", stat.get("rss", 0))
                fields["mem_limit_bytes"] = int(_read(memory / "memory.limit_in_bytes"))
        return CgroupUsage(**fields)  # type: ignore[arg-type]

    def cpu_usage_seconds(self) -> float:
        """Total CPU time of the cgroup (cpuacct.usage, nanoseconds)."""
        return int(_read(self.dirs["cpuacct"] / "cpuacct.usage")) / 1e9

    def remove(self) -> bool:
        removed = True
        for path in self._unique_dirs():
            removed = _rmdir(path) and removed
        return removed


class CgroupV2(ContainerCgroup):
    """A container's cgroup in the unified (v2) hierarchy: one directory, below `mount`
    (whose `controllers` are delegated down to it when it is made)."""

    def __init__(
        self, name: str, path: Path, mount: Path | None = None, controllers: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.path = path
        self.mount = mount or path.parent
        self.controllers = tuple(controllers)

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.controllers:
            enable = " ".join(f"+{name}" for name in self.controllers)
            ancestor = self.mount
            for part in self.path.parent.relative_to(self.mount).parts:
                with contextlib.suppress(OSError):  # enabled already, or not ours to enable
                    _write(ancestor / "cgroup.subtree_control", enable)
                ancestor = ancestor / part
            _write(ancestor / "cgroup.subtree_control", enable)
        self.path.mkdir(exist_ok=True)

    def exists(self) -> bool:
        return self.path.is_dir()

    def procs_files(self) -> list[str]:
        return [str(self.path / "cgroup.procs")]

    def limit_cpu(self, cpus: float, cfs: bool) -> None:
        # v1 shares 2..262144 (1024 per cpu) map onto weights 1..10000 as systemd does.
        shares = max(MIN_CPU_SHARES, int(cpus * CPU_SHARES_PER_CPU))
        weight = min(V2_WEIGHT_MAX, max(1, 1 + ((shares - 2) * 9999) // 262142))
        _write(self.path / "cpu.weight", str(weight))
        if cfs:
            quota = max(MIN_CFS_QUOTA_US, int(cpus * CFS_PERIOD_US))
            _write(self.path / "cpu.max", f"{quota} {CFS_PERIOD_US}")

    def limit_memory(self, limit_bytes: int) -> None:
        _write(self.path / "memory.max", str(limit_bytes))
        with contextlib.suppress(OSError):  # only where swap is accounted
            _write(self.path / "memory.swap.max", "0")

    def limit_pids(self, maximum: int) -> None:
        _write(self.path / "pids.max", str(maximum))

    def pids(self) -> list[int]:
        members = set(_pids_of(self.path / "cgroup.procs"))
        with contextlib.suppress(OSError):
            for child in self.path.iterdir():  # nested cgroups a task made (delegation)
                if child.is_dir():
                    members.update(_pids_of(child / "cgroup.procs"))
        return sorted(members)

    def freeze(self, frozen: bool) -> None:
        _write(self.path / "cgroup.freeze", "1" if frozen else "0")
        if not frozen:
            return
        deadline = time.monotonic() + FREEZE_WAIT_SECONDS
        while _key_values(_read(self.path / "cgroup.events")).get("frozen") != 1:
            if time.monotonic() > deadline:
                raise OSError(errno.ETIMEDOUT, "the cgroup did not freeze in time")
            time.sleep(0.001)

    def kill(self) -> int:
        """cgroup.kill (Linux 5.14+) kills every member at once; else freeze and kill."""
        members = len(self.pids())
        try:
            _write(self.path / "cgroup.kill", "1")
        except OSError:
            return super().kill()
        return members

    def oom_kills(self) -> int:
        try:
            return _key_values(_read(self.path / "memory.events")).get("oom_kill", 0)
        except FileNotFoundError:
            return 0

    def oom_notifier(self) -> OomNotifier | None:
        """An epoll descriptor readable once memory.events changes: kernfs signals a
        change with POLLPRI, and the file itself always polls readable, hence the epoll."""
        if not (self.path / "memory.events").exists():
            return None
        events = os.open(self.path / "memory.events", os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.read(events, 4096)  # what is read now is not news
            with select.epoll() as poller:
                poller.register(events, select.EPOLLPRI)
                fd = os.dup(poller.fileno())  # the epoll set lives on in this descriptor
        except OSError:
            os.close(events)
            raise
        return OomNotifier(fd, watched=events)

    def usage(self) -> CgroupUsage:
        fields: dict[str, float | int | None] = {"processes": len(self.pids())}
        with contextlib.suppress(FileNotFoundError):
            stat = _key_values(_read(self.path / "cpu.stat"))
            fields["cpus_user_time_secs"] = stat.get("user_usec", 0) / 1e6
            fields["cpus_system_time_secs"] = stat.get("system_usec", 0) / 1e6
            fields["cpus_nr_periods"] = stat.get("nr_periods")
            fields["cpus_nr_throttled"] = stat.get("nr_throttled")
        with contextlib.suppress(FileNotFoundError):
            stat = _key_values(_read(self.path / "memory.stat"))
            fields["mem_rss_bytes"] = stat.get("anon", 0)
            limit = _read(self.path / "memory.max").strip()
            fields["mem_limit_bytes"] = UNLIMITED if limit == "max" else int(limit)
        return CgroupUsage(**fields)  # type: ignore[arg-type]

    def cpu_usage_seconds(self) -> float:
        return _key_values(_read(self.path / "cpu.stat")).get("usage_usec", 0) / 1e6

    def remove(self) -> bool:
        with contextlib.suppress(OSError):
            for child in self.path.iterdir():
                if child.is_dir():
                    _rmdir(child)
        return _rmdir(self.path)


@dataclasses.dataclass
class Hierarchies:
    """The cgroup hierarchies an agent uses, and where its containers' cgroups go.

    `version` is 1 or 2; `v1` maps each v1 subsystem to its mount; `v2` is the
    unified mount. `base` is `<cgroups_root>/<agent slot>` relative to each mount.
    New containers get cgroups for `controllers` (those of the isolators in use);
    leftovers are looked for in all `available` ones (an earlier run may have used more).
    """

    version: int
    base: Path
    v1: dict[str, Path] = dataclasses.field(default_factory=dict)
    v2: Path | None = None
    controllers: frozenset[str] = frozenset()  # used: cpu, cpuacct, memory, ...
    available: frozenset[str] = frozenset()  # writable here

    @classmethod
    def detect(
        cls, cgroups_root: str, work_dir: str, mounts_text: str | None = None
    ) -> Hierarchies | None:
        """The hierarchies to use on this machine, or None when no cgroup is writable.

        cgroup v1 is used when its cpu or memory subsystem is mounted (the v2
        mount of a hybrid machine then has no controllers); else cgroup v2.
        """
        if mounts_text is None:
            try:
                mounts_text = Path("/proc/mounts").read_text()
            except OSError:
                return None
        v1, v2 = parse_mounts(mounts_text)
        root = Path(cgroups_root.strip("/"))
        base = root / agent_slot(work_dir)
        if "cpu" in v1 or "memory" in v1:
            usable = {name for name, mount in v1.items() if _writable(mount / root)}
            if not usable:
                return None
            found = frozenset(usable)
            return cls(version=1, base=base, v1=v1, controllers=found, available=found)
        if v2 is None or not _writable(v2 / root):
            return None
        try:
            available = set(_read(v2 / "cgroup.controllers").split())
        except OSError:
            return None
        found = frozenset((available & set(V2_CONTROLLERS)) | {"freezer"})
        return cls(version=2, base=base, v2=v2, controllers=found, available=found)

    def cgroup(self, container_id: str, *, leftover: bool = False) -> ContainerCgroup:
        """A container's cgroup: in the hierarchies used, or (`leftover`) all available."""
        controllers = self.available if leftover else self.controllers
        if self.version == 2:
            assert self.v2 is not None
            delegated = sorted(controllers & set(V2_CONTROLLERS))
            return CgroupV2(container_id, self.v2 / self.base / container_id, self.v2, delegated)
        dirs = {
            name: mount / self.base / container_id
            for name, mount in self.v1.items()
            if name in controllers
        }
        return CgroupV1(container_id, dirs)

    def container_ids(self) -> list[str]:
        """The containers that have a cgroup under this agent's slot (in any hierarchy)."""
        roots = ([self.v2 / self.base] if self.v2 is not None and self.version == 2 else []) + [
            mount / self.base for name, mount in self.v1.items() if name in self.controllers
        ]
        found: set[str] = set()
        for root in roots:
            with contextlib.suppress(OSError):
                found.update(entry.name for entry in root.iterdir() if entry.is_dir())
        return sorted(found)

    def remove_slot(self) -> None:
        """Remove the agent's slot directories where no container is left in them."""
        for root in self._slot_dirs():
            with contextlib.suppress(OSError):
                _rmdir(root)

    def _slot_dirs(self) -> list[Path]:
        if self.version == 2:
            return [self.v2 / self.base] if self.v2 is not None else []
        mounts = {mount for name, mount in self.v1.items() if name in self.available}
        return [mount / self.base for mount in sorted(mounts)]

    def describe(self) -> str:
        """`v1 (cpu, cpuacct, memory, ...)` for the agent's start log."""
        return f"v{self.version} ({', '.join(sorted(self.controllers))})"


def _writable(directory: Path) -> bool:
    """Whether cgroups can be made in `directory` (the cgroups root, made here if need be)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)
