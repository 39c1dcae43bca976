"""Containers as plain OS processes: launch an executor in its sandbox, wait, destroy.

Each container is a new session (`setsid`): its leader's pid is the session and
process-group id, and every descendant stays in that session even when it makes
its own process group (the command executor puts its task in one, so a kill of
the task spares the executor). Destroying a container signals the whole
session, found by scanning /proc, so a task's children die with it. Isolation
(cgroups) slots in here later; the agent only calls `launch`, `wait`, `destroy`.

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

`launch` and `wait` are coroutines the agent runs through `defer`; `destroy`,
`recover` and `signal` are plain calls safe to make from a handler. After the leader has been
reaped its pid may be reused, so a reaped container is signalled only once more,
by `cleanup` right at reaping, and never after.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from agent.errors import ExitStatusUnknown
from agent.launcher import SUPPORTED as FORK_SERVER_SUPPORTED
from agent.launcher import ForkServerError, ForkServerKeeper

__all__ = [
    "COMMAND_EXECUTOR_MODULE",
    "Container",
    "Containerizer",
    "describe_exit",
    "kill_session",
    "leads_live_session",
]

RECOVERED_POLL_SECONDS = 1.0  # where pidfds are missing, how often a recovered leader is checked

STDOUT = "stdout"
STDERR = "stderr"
COMMAND_EXECUTOR_MODULE = "frameworks.command_executor"  # run for command tasks; forked if it can


class Leader(Protocol):
    """A container's first process: an asyncio subprocess or a fork server's child."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def send_signal(self, sig: int) -> None: ...


@dataclasses.dataclass
class Container:
    """One running executor: its id, sandbox and the OS process that leads it."""

    container_id: str
    sandbox: Path
    process: Leader
    reaped: bool = False

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
    """Launches executors as OS processes in their own session and destroys them.

    With `fork_server` (default on; Linux only), `[sys.executable, "-m", fork_module]`
    is forked by a fork server rather than exec'd; `close()` ends the server.
    """

    def __init__(
        self, *, fork_server: bool = True, fork_module: str = COMMAND_EXECUTOR_MODULE
    ) -> None:
        self.fork_module = fork_module
        use = fork_server and FORK_SERVER_SUPPORTED
        self.fork_servers = ForkServerKeeper(fork_module) if use else None

    async def launch(
        self,
        container_id: str,
        sandbox: Path,
        argv: Sequence[str],
        environment: Mapping[str, str],
    ) -> Container:
        """Start `argv` with cwd `sandbox`, stdout/stderr appended to files there.

        Raises OSError (e.g. FileNotFoundError) when the program cannot start.
        """
        if self.fork_servers is not None and list(argv) == [sys.executable, "-m", self.fork_module]:
            server = await self.fork_servers.get()
            if server is not None:
                try:
                    forked = await server.launch(sandbox, environment)
                except ForkServerError as error:  # it never ran: exec it instead
                    self.fork_servers.drop(server, str(error))
                else:
                    return Container(container_id=container_id, sandbox=sandbox, process=forked)
        with open(sandbox / STDOUT, "ab") as stdout, open(sandbox / STDERR, "ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=sandbox,
                env=dict(environment),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        return Container(container_id=container_id, sandbox=sandbox, process=process)

    def recover(self, container_id: str, sandbox: Path, pid: int) -> Container | None:
        """Reattach to a container that outlived the agent; None when its leader is gone."""
        if not leads_live_session(pid):
            return None
        return Container(container_id=container_id, sandbox=sandbox, process=RecoveredProcess(pid))

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
        kill_session(container.pid, signal.SIGKILL)

    def cleanup(self, container: Container) -> None:
        """Right after the leader was reaped: SIGKILL whatever it left behind, once."""
        if container.reaped:
            return
        container.reaped = True
        kill_session(container.pid, signal.SIGKILL)

    def close(self) -> None:
        """The agent is stopping: end the fork server (running executors carry on)."""
        if self.fork_servers is not None:
            self.fork_servers.close()
