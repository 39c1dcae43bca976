"""Containers as plain OS processes: launch an executor in its sandbox, wait, destroy.

Each container is a new session (`setsid`): its leader's pid is the session and
process-group id, and every descendant stays in that session unless it makes a
session of its own (the command executor puts its task in a process group of its
own, so a kill of the task spares the executor). With a cgroups isolator
(agent.isolation) each container also has a cgroup (agent.cgroups), joined by
the leader before it runs the executor -- the fork server writes the child's pid
into it before letting it go, an exec'd leader joins between fork and exec -- so
every descendant is in it however it forked or `setsid`-ed; the cgroup limits
the container (cpu, memory, processes), measures it, and is what a kill goes
through. Destroying a container freezes and SIGKILLs its cgroup and signals its
session (found by scanning /proc): without cgroups, a process that left the
session escapes. After the leader is reaped, `cleanup` kills what is left and
removes the cgroup once it is empty.

The command executor is started through a fork server (agent.launcher) when
one is enabled: forking a process that has already imported everything saves
the ~100-150 ms of CPU each fresh interpreter spends importing before it can
register. The child it forks is set up exactly as an exec'd one would be (own
session, sandbox cwd and files, the same environment). Custom executors are
always exec'd. If the fork server cannot start or is lost, launches are exec'd
for a while (agent.launcher.keeper).

After an agent restart, `recover` reattaches to a container whose leader is
still alive (it leads its own session, so the agent's death did not take it):
its exit is watched through a pidfd, but its status is unknown (it is not the
new agent's child), so its `wait` raises ExitStatusUnknown.

`launch`, `wait` and `watch` are coroutines the agent runs through `defer`; `destroy`,
`recover`, `signal`, `update`, `usage` and `limitation` are plain calls safe to make
from a handler. After the leader has been
reaped its pid may be reused, so a reaped container is signalled only once more,
by `cleanup` right at reaping, and never after.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog

from agent.cgroups import ContainerCgroup, Hierarchies, join_cgroups
from agent.errors import ExitStatusUnknown, FlagsError
from agent.flags import AgentFlags
from agent.isolation import Isolation, Limits, parse_isolation
from agent.launcher import SUPPORTED as FORK_SERVER_SUPPORTED
from agent.launcher import ForkServerError, ForkServerKeeper
from agent.usage import ResourceStatistics, SessionUsage, usage_by_session
from zmesos.protocol import Reason

__all__ = [
    "COMMAND_EXECUTOR_MODULE",
    "DEFAULT_EXECUTOR_MODULE",
    "Container",
    "Containerizer",
    "Limitation",
    "describe_exit",
    "kill_session",
    "leads_live_session",
]

RECOVERED_POLL_SECONDS = 1.0  # where pidfds are missing, how often a recovered leader is checked
# After a kill, members take a moment to exit; the cgroup is removed once they have.
CGROUP_REMOVE_RETRY_SECONDS = 0.05
CGROUP_REMOVE_ATTEMPTS = 200
CLOSE_WAIT_SECONDS = 1.0  # on close, how long killed containers' last members are awaited
_MB = 1024 * 1024

log = structlog.get_logger()

STDOUT = "stdout"
STDERR = "stderr"
COMMAND_EXECUTOR_MODULE = "frameworks.command_executor"  # run for command tasks; forked if it can
DEFAULT_EXECUTOR_MODULE = "frameworks.default_executor"  # run for DEFAULT executors (task groups)


class Leader(Protocol):
    """A container's first process: an asyncio subprocess or a fork server's child."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def send_signal(self, sig: int) -> None: ...


@dataclasses.dataclass(frozen=True)
class Limitation:
    """A container went over one of its limits: what its tasks are told."""

    reason: Reason
    message: str


@dataclasses.dataclass
class Container:
    """One running executor: its id, sandbox, the OS process that leads it, its cgroup."""

    container_id: str
    sandbox: Path
    process: Leader
    reaped: bool = False
    cgroup: ContainerCgroup | None = None
    limits: Limits = dataclasses.field(default_factory=Limits)
    limitation: Limitation | None = None  # the first limit it went over
    disk_used_bytes: int | None = None  # the last disk/du measure
    ended: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)  # reaped

    @property
    def pid(self) -> int:
        return self.process.pid


def describe_exit(returncode: int | None) -> str:
    """`exited with status 3`, `terminated by signal SIGKILL`: for task messages."""
    if returncode is None:
        return "exit status unknown"
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = str(-returncode)
    return f"terminated by signal {name}"


def kill_session(session_id: int, sig: int) -> int:
    """Send `sig` to every process of a session; returns how many were signalled.

    The session's process group is signalled first (it is all there is unless
    someone made a group of its own); /proc, where present, finds the rest.
    """
    signalled = 0
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(session_id, sig)
        signalled += 1
    try:
        entries = os.listdir("/proc")
    except OSError:
        return signalled
    own = os.getpid()
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == own:
            continue
        try:
            if os.getsid(pid) == session_id and os.getpgid(pid) != session_id:
                os.kill(pid, sig)
                signalled += 1
        except OSError:
            continue
    return signalled


def leads_live_session(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) process leading its own session, as a container's
    leader does: a pid reused by some other process almost never is."""
    try:
        if os.getsid(pid) != pid:
            return False
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return sys.platform != "linux"
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


class RecoveredProcess:
    """A container leader found alive after an agent restart; not this agent's child."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None  # never known: the status went to its old parent
        self._loop = asyncio.get_running_loop()
        self._exit: asyncio.Future[None] = self._loop.create_future()
        self._pidfd = -1
        self._poller: asyncio.TimerHandle | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._poll()
        else:
            self._loop.add_reader(self._pidfd, self._exited)

    async def wait(self) -> int:
        """Returns only by raising ExitStatusUnknown, once the leader has exited."""
        await asyncio.shield(self._exit)
        raise ExitStatusUnknown(f"process {self.pid} was started before the agent restarted")

    def send_signal(self, sig: int) -> None:
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)
        elif not self._exit.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def _poll(self) -> None:
        if not leads_live_session(self.pid):
            self._exited()
        else:
            self._poller = self._loop.call_later(RECOVERED_POLL_SECONDS, self._poll)

    def _exited(self) -> None:
        if self._pidfd >= 0:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        if not self._exit.done():
            self._exit.set_result(None)


class Containerizer:
    """Launches executors as OS processes in their own session (and cgroup) and destroys them.

    With `fork_server` (default on; Linux only), `[sys.executable, "-m", fork_module]`
    is forked by a fork server rather than exec'd; `close()` ends the server.
    `isolation` (agent.isolation) says which isolators are used; the default is none
    (posix: usage from /proc, no cgroup, no limit).
    """

    def __init__(
        self,
        *,
        fork_server: bool = True,
        fork_module: str = COMMAND_EXECUTOR_MODULE,
        isolation: Isolation | None = None,
    ) -> None:
        self.fork_module = fork_module
        use = fork_server and FORK_SERVER_SUPPORTED
        self.fork_servers = ForkServerKeeper(fork_module) if use else None
        self.isolation = isolation or Isolation(isolators=("posix/cpu", "posix/mem"))
        self._cgroups: dict[str, ContainerCgroup] = {}  # made or recovered, not yet removed
        self._doomed: set[str] = set()  # of those, the ones killed: removed once empty

    @classmethod
    def from_flags(cls, flags: AgentFlags) -> Containerizer:
        """The agent's containerizer; FlagsError when `--isolation` cannot work here."""
        asked = parse_isolation(flags.isolation)
        hierarchies = Hierarchies.detect(flags.cgroups_root, flags.work_dir)
        if hierarchies is None and any(name.startswith("cgroups/") for name in asked):
            raise FlagsError("--isolation: no cgroup hierarchy is mounted and writable here")
        isolation = Isolation.choose(
            asked, hierarchies, cfs=flags.cgroups_enable_cfs, max_pids=flags.cgroups_max_pids
        )
        return cls(fork_server=flags.executor_fork_server, isolation=isolation)

    async def launch(
        self,
        container_id: str,
        sandbox: Path,
        argv: Sequence[str],
        environment: Mapping[str, str],
        limits: Limits | None = None,
    ) -> Container:
        """Start `argv` with cwd `sandbox`, stdout/stderr appended to files there, in
        the container's cgroup (made here, with `limits`) when cgroups isolate.

        Raises OSError (e.g. FileNotFoundError) when the program cannot start or the
        cgroup cannot be made; nothing of the container is left then.
        """
        limits = limits or Limits()
        cgroup = self._create_cgroup(container_id, limits)
        try:
            process = await self._start(sandbox, argv, environment, cgroup)
        except BaseException:
            if cgroup is not None:
                self._remove_cgroup(cgroup)
            raise
        return Container(
            container_id=container_id,
            sandbox=sandbox,
            process=process,
            cgroup=cgroup,
            limits=limits,
        )

    async def _start(
        self,
        sandbox: Path,
        argv: Sequence[str],
        environment: Mapping[str, str],
        cgroup: ContainerCgroup | None,
    ) -> Leader:
        join = cgroup.procs_files() if cgroup is not None else []
        if self.fork_servers is not None and list(argv) == [sys.executable, "-m", self.fork_module]:
            server = await self.fork_servers.get()
            if server is not None:
                try:
                    return await server.launch(sandbox, environment, join)
                except ForkServerError as error:  # it never ran: exec it instead
                    self.fork_servers.drop(server, str(error))
        with open(sandbox / STDOUT, "ab") as stdout, open(sandbox / STDERR, "ab") as stderr:
            try:
                return await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=sandbox,
                    env=dict(environment),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                    preexec_fn=(lambda: join_cgroups(os.getpid(), join)) if join else None,
                )
            except subprocess.SubprocessError as error:  # join_cgroups failed in the child
                raise OSError(f"cannot join the container's cgroup: {error}") from None

    def _create_cgroup(self, container_id: str, limits: Limits) -> ContainerCgroup | None:
        hierarchies = self.isolation.hierarchies
        if hierarchies is None:
            return None
        cgroup = hierarchies.cgroup(container_id)
        self._cgroups[container_id] = cgroup
        try:
            cgroup.create()
            self._apply_limits(cgroup, limits)
        except OSError:
            self._remove_cgroup(cgroup)
            raise
        return cgroup

    def _apply_limits(self, cgroup: ContainerCgroup, limits: Limits) -> None:
        isolation = self.isolation
        if isolation.uses("cgroups/cpu") and limits.cpus > 0:
            cgroup.limit_cpu(limits.cpus, isolation.cfs)
        if isolation.uses("cgroups/mem") and limits.mem_mb > 0:
            cgroup.limit_memory(limits.mem_bytes)
        if isolation.uses("cgroups/pids") and isolation.max_pids > 0:
            cgroup.limit_pids(isolation.max_pids)

    def update(self, container: Container, limits: Limits) -> None:
        """The container's share changed (a task joined its executor): new limits.

        OSError when cgroupfs refuses (a memory limit below what is used, say)."""
        container.limits = limits
        if container.cgroup is not None and not container.reaped:
            self._apply_limits(container.cgroup, limits)

    def recover(self, container_id: str, sandbox: Path, pid: int) -> Container | None:
        """Reattach to a container that outlived the agent (and to its cgroup, if it
        has one); None when its leader is gone."""
        if not leads_live_session(pid):
            return None
        cgroup = None
        if self.isolation.hierarchies is not None:
            found = self.isolation.hierarchies.cgroup(container_id, leftover=True)
            if found.exists():
                cgroup = self._cgroups[container_id] = found
        return Container(
            container_id=container_id,
            sandbox=sandbox,
            process=RecoveredProcess(pid),
            cgroup=cgroup,
        )

    def destroy_orphans(self, known: set[str]) -> list[str]:
        """Kill and remove the cgroups of this agent's slot whose container is not in
        `known` (after a restart: containers that died or were never checkpointed)."""
        hierarchies = self.isolation.hierarchies
        if hierarchies is None:
            return []
        orphans = [name for name in hierarchies.container_ids() if name not in known]
        for name in orphans:
            cgroup = hierarchies.cgroup(name, leftover=True)
            killed = cgroup.kill()
            log.info("orphan_container_destroyed", container_id=name, processes_killed=killed)
            self._remove_cgroup(cgroup)
        return orphans

    async def wait(self, container: Container) -> int:
        """The leader's exit: its status (>= 0) or minus the signal that ended it.

        ForkServerError when a fork server that was lost took the status with it.
        """
        return await container.process.wait()

    def signal(self, container: Container, sig: int) -> None:
        """Signal the leader only (e.g. SIGTERM to ask it to stop); no-op once reaped."""
        if container.reaped or container.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            container.process.send_signal(sig)

    def destroy(self, container: Container) -> None:
        """SIGKILL every process of the container; no-op once reaped (see `cleanup`)."""
        if container.reaped or container.process.returncode is not None:
            return
        if container.cgroup is not None:
            self._doomed.add(container.cgroup.name)
            container.cgroup.kill()
        kill_session(container.pid, signal.SIGKILL)

    def cleanup(self, container: Container) -> None:
        """Right after the leader was reaped: SIGKILL whatever it left behind, once, and
        remove its cgroup (as soon as the last member has exited)."""
        if container.reaped:
            return
        container.reaped = True
        container.ended.set()
        kill_session(container.pid, signal.SIGKILL)
        if container.cgroup is not None:
            self._remove_cgroup(container.cgroup)

    def _remove_cgroup(self, cgroup: ContainerCgroup, attempt: int = 0) -> None:
        """Kill what is in the cgroup and remove it; retried until its members are gone."""
        if self._cgroups.get(cgroup.name, cgroup) is not cgroup:
            return  # another container's by now (ids are unique: never, but be sure)
        self._doomed.add(cgroup.name)
        self._cgroups[cgroup.name] = cgroup
        try:
            cgroup.kill()
            removed = cgroup.remove()
        except OSError as error:
            log.warning("cgroup_remove_failed", container_id=cgroup.name, error=str(error))
            removed = True  # nothing more to try
        if removed or attempt >= CGROUP_REMOVE_ATTEMPTS:
            if not removed:
                log.warning("cgroup_remove_failed", container_id=cgroup.name, error="still busy")
            self._cgroups.pop(cgroup.name, None)
            self._doomed.discard(cgroup.name)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop to retry on: `close` tries once more
        loop.call_later(CGROUP_REMOVE_RETRY_SECONDS, self._remove_cgroup, cgroup, attempt + 1)

    async def watch(self, container: Container) -> Limitation | None:
        """Until the container goes over its memory limit (the Limitation) or ends (None).

        Event-driven (cgroup v1's OOM eventfd, v2's memory.events); without
        cgroups/mem it only waits for the end.
        """
        notifier = None
        if container.cgroup is not None and self.isolation.uses("cgroups/mem"):
            try:
                notifier = container.cgroup.oom_notifier()
            except OSError as error:
                log.warning(
                    "oom_watch_failed", container_id=container.container_id, error=str(error)
                )
        ended = asyncio.ensure_future(container.ended.wait())
        if notifier is None:
            await ended
            return None
        loop = asyncio.get_running_loop()
        try:
            while not container.reaped:
                news: asyncio.Future[None] = loop.create_future()
                loop.add_reader(notifier.fd, _settle, news)
                try:
                    waiting: set[asyncio.Future[Any]] = {ended, news}
                    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    loop.remove_reader(notifier.fd)
                if not news.done():
                    return None
                notifier.rearm()
                limitation = self.limitation(container)
                if limitation is not None:
                    return limitation
            return None
        finally:
            ended.cancel()
            notifier.close()

    def limitation(self, container: Container) -> Limitation | None:
        """The limit the container went over, if any (its OOM kills are read now)."""
        if container.limitation is not None:
            return container.limitation
        cgroup = container.cgroup
        if cgroup is None or not self.isolation.uses("cgroups/mem") or container.reaped:
            return None
        try:
            kills = cgroup.oom_kills()
        except OSError:
            return None
        if kills:
            limit = container.limits.mem_mb
            container.limitation = Limitation(
                reason=Reason.CONTAINER_LIMITATION_MEMORY,
                message=(
                    f"Memory limit exceeded: the container is limited to {limit:g} MB and "
                    f"the kernel killed {kills} of its processes for going over it"
                ),
            )
        return container.limitation

    @property
    def reads_proc(self) -> bool:
        """Whether `usage` needs /proc: some of cpu and memory is measured by no cgroup."""
        uses = self.isolation.uses
        return not (uses("cgroups/cpu") and uses("cgroups/mem"))

    def usage(
        self, container: Container, sessions: Mapping[int, SessionUsage] | None = None
    ) -> ResourceStatistics:
        """What the container uses now: from its cgroup's accounting, else from its
        session in /proc (`sessions`: agent.usage.usage_by_session, read here if None).
        Reads files only: safe from a worker thread."""
        limits = container.limits
        statistics = ResourceStatistics(
            timestamp=time.time(),
            cpus_limit=limits.cpus or None,
            mem_limit_bytes=limits.mem_bytes or None,
            disk_limit_bytes=limits.disk_bytes or None,
            disk_used_bytes=container.disk_used_bytes,
        )
        cgroup, uses = container.cgroup, self.isolation.uses
        measured = None
        if cgroup is not None and not container.reaped:
            with contextlib.suppress(OSError):
                measured = cgroup.usage()
        if measured is not None:
            statistics.processes = measured.processes
            if uses("cgroups/cpu"):
                statistics.cpus_user_time_secs = measured.cpus_user_time_secs
                statistics.cpus_system_time_secs = measured.cpus_system_time_secs
                statistics.cpus_nr_periods = measured.cpus_nr_periods
                statistics.cpus_nr_throttled = measured.cpus_nr_throttled
            if uses("cgroups/mem"):
                statistics.mem_rss_bytes = measured.mem_rss_bytes
                statistics.mem_limit_bytes = measured.mem_limit_bytes
        if statistics.cpus_user_time_secs is None or statistics.mem_rss_bytes is None:
            if sessions is None:
                sessions = usage_by_session()
            session = sessions.get(container.pid, SessionUsage())
            if statistics.cpus_user_time_secs is None:
                statistics.cpus_user_time_secs = round(session.cpus_user_time_secs, 3)
                statistics.cpus_system_time_secs = round(session.cpus_system_time_secs, 3)
            if statistics.mem_rss_bytes is None:
                statistics.mem_rss_bytes = session.mem_rss_bytes
            if statistics.processes is None:
                statistics.processes = session.processes
        return statistics

    def close(self) -> None:
        """The agent is stopping: end the fork server (running executors carry on) and
        remove the cgroups still waiting for their last members."""
        if self.fork_servers is not None:
            self.fork_servers.close()
        deadline = time.monotonic() + CLOSE_WAIT_SECONDS
        for name, cgroup in list(self._cgroups.items()):
            doomed = name in self._doomed
            with contextlib.suppress(OSError):
                if doomed:
                    cgroup.kill()
                while not cgroup.remove() and doomed and time.monotonic() < deadline:
                    time.sleep(CGROUP_REMOVE_RETRY_SECONDS / 5)
        self._cgroups.clear()
        self._doomed.clear()
        if self.isolation.hierarchies is not None:
            self.isolation.hierarchies.remove_slot()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
