"""The agent's side of the fork server: start it, launch through it, learn exits.

`ForkServer(module)` runs `python -m agent.launcher.zygote` as the agent's child
and talks to it over a SOCK_SEQPACKET pair (agent.launcher.messages). `launch`
returns a `ForkedProcess` with the same surface the containerizer uses on an
asyncio subprocess: `pid`, `returncode`, `send_signal`, `wait`.

The server is *lost* when its channel closes or misbehaves, or on `close()`.
Then pending launches fail with ForkServerError (none of them runs: a child
only starts once the agent holds its pid, see agent.launcher.child), and the
children already running are watched through their pidfds: their `wait`
raises ForkServerError once they exit, since their status went with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.errors import AgentError
from agent.launcher.messages import (
    MAX_MESSAGE_BYTES,
    Exited,
    Launch,
    Launched,
    LaunchFailed,
    Ready,
    decode,
    encode,
)

__all__ = ["SUPPORTED", "ForkServer", "ForkServerError", "ForkedProcess"]

SUPPORTED = sys.platform == "linux" and hasattr(os, "pidfd_open")  # prctl, pidfds

ZYGOTE_MODULE = "agent.launcher.zygote"
START_TIMEOUT = 10.0  # imports take ~0.2 s; launches wait for a start at most this long
# The directory that holds the agent package: the server imports from it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ForkServerError(AgentError):
    """The fork server could not start, or was lost; the message says why."""


class ForkedProcess:
    """A child of the fork server, as the agent sees it (an asyncio Process look-alike)."""

    def __init__(self, pid: int, pidfd: int, loop: asyncio.AbstractEventLoop) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._pidfd = pidfd
        self._loop = loop
        self._exit: asyncio.Future[int] = loop.create_future()
        self._exit.add_done_callback(_retrieve)

    async def wait(self) -> int:
        """Its exit status (>= 0) or minus the signal that ended it.

        ForkServerError if the server was lost before it could report the exit.
        """
        return await asyncio.shield(self._exit)

    def send_signal(self, sig: int) -> None:
        """Signal this very process (through its pidfd: never a recycled pid)."""
        if self._pidfd < 0:
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, sig)

    def _exited(self, returncode: int) -> None:
        self.returncode = returncode
        self._close()
        if not self._exit.done():
            self._exit.set_result(returncode)

    def _orphaned(self, reason: str) -> None:
        """The server is gone: learn the exit from the pidfd (readable once it has exited)."""
        if self._loop.is_closed():
            self._gone(reason)  # nothing can watch it any more
        elif self._pidfd >= 0:
            self._loop.add_reader(self._pidfd, self._gone, reason)

    def _gone(self, reason: str) -> None:
        self._close()
        if not self._exit.done():
            self._exit.set_exception(ForkServerError(f"exit status unknown: {reason}"))

    def _close(self) -> None:
        if self._pidfd >= 0:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1


class ForkServer:
    """One fork server process serving `module`'s `main()`; see the module docstring.

    `on_lost(reason)` is called once if the server is lost other than by `close()`.
    """

    def __init__(
        self,
        module: str,
        *,
        python: str = sys.executable,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.module = module
        self.python = python
        self.on_lost = on_lost
        self.pid: int | None = None  # the server's OS pid
        self.lost_reason = ""
        self._process: asyncio.subprocess.Process | None = None
        self._channel: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Future[None] | None = None
        self._requests = itertools.count(1)
        self._pending: dict[int, asyncio.Future[ForkedProcess]] = {}
        # One send at a time: once the channel's buffer is full (~50 launches, each
        # carrying an environment), concurrent sock_sendall calls on one socket
        # wait for writability together and all but one were never woken (seen
        # with 100 launches at once: the other 50 hung).
        self._sending = asyncio.Lock()
        self._children: dict[int, ForkedProcess] = {}

    @property
    def ready(self) -> bool:
        """Started, and neither lost nor closed."""
        return self._ready is not None and self._ready.done() and not self.lost

    @property
    def lost(self) -> bool:
        return bool(self.lost_reason)

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server and wait until it serves; ForkServerError (and lost) if not."""
        loop = self._loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._ready.add_done_callback(_retrieve)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        environment = dict(os.environ)
        python_path = environment.get("PYTHONPATH")
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), python_path]))
        try:
            with theirs:
                self._process = await asyncio.create_subprocess_exec(
                    self.python,
                    "-m",
                    ZYGOTE_MODULE,
                    str(theirs.fileno()),
                    self.module,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,  # the terminal's Ctrl-C is the agent's to handle
                    cwd=PROJECT_ROOT,
                    env=environment,
                )
        except OSError as error:
            ours.close()
            self._lose(f"cannot start: {error}", notify=False)
            raise ForkServerError(self.lost_reason) from None
        self.pid = self._process.pid
        if self.lost:  # closed while it was starting: it exits, seeing the channel closed
            ours.close()
            raise ForkServerError(self.lost_reason)
        ours.setblocking(False)
        self._channel = ours
        loop.add_reader(ours.fileno(), self._on_readable)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            self._lose(f"not ready within {timeout}s", notify=False)
        except ForkServerError:
            pass
        if self.lost:
            raise ForkServerError(self.lost_reason)

    async def launch(
        self, sandbox: Path, environment: Mapping[str, str], cgroups: Sequence[str] = ()
    ) -> ForkedProcess:
        """Fork a child running the module in `sandbox` with exactly `environment`, in
        the cgroups whose `cgroup.procs` files are `cgroups` before it runs anything.

        OSError when the sandbox or its stdout/stderr files cannot be opened or the
        cgroups joined (as an exec would raise); ForkServerError when the server is
        not ready or is lost before answering (the child then never runs).
        """
        if not self.ready or self._channel is None or self._loop is None:
            raise ForkServerError(self.lost_reason or "the fork server is not ready")
        request = next(self._requests)
        launched = self._pending[request] = self._loop.create_future()
        data = encode(Launch(request, str(sandbox), dict(environment), tuple(cgroups)))
        try:
            async with self._sending:
                if self._channel is None:  # lost while this launch waited its turn
                    raise ConnectionResetError(self.lost_reason)
                await self._loop.sock_sendall(self._channel, data)
        except OSError as error:
            self._pending.pop(request, None)
            if isinstance(error, (BrokenPipeError, ConnectionResetError)):
                self._lose(f"its channel broke: {error}")
            raise ForkServerError(f"cannot send the launch: {error}") from None
        return await launched

    def close(self, *, abandon_children: bool = False) -> None:
        """Close the channel: the server exits (after reaping what just died).

        Running children go on, watched through their pidfds -- unless
        `abandon_children` (the agent is stopping): then their `wait` raises now.
        """
        self._lose("closed", notify=False, kill=False, abandon=abandon_children)

    # -- the channel ---------------------------------------------------------

    def _on_readable(self) -> None:
        while self._channel is not None:
            try:
                data, fds, _, _ = socket.recv_fds(self._channel, MAX_MESSAGE_BYTES, 1)
            except BlockingIOError:
                return
            except OSError as error:
                self._lose(f"its channel broke: {error}")
                return
            if not data and not fds:
                self._lose("it exited")
                return
            try:
                self._take(decode(data), fds)
            except (ValueError, KeyError) as error:
                for fd in fds:
                    os.close(fd)
                self._lose(f"it sent a bad message: {error}")
                return

    def _take(self, message: object, fds: list[int]) -> None:
        assert self._loop is not None and self._ready is not None
        if isinstance(message, Launched) and len(fds) == 1:
            child = ForkedProcess(message.pid, fds[0], self._loop)
            self._children[child.pid] = child
            launched = self._pending.pop(message.request)
            if launched.done():  # its launch was cancelled: nobody will watch it
                child.send_signal(signal.SIGKILL)
            else:
                launched.set_result(child)
        elif isinstance(message, Exited):
            self._children.pop(message.pid)._exited(message.returncode)
        elif isinstance(message, LaunchFailed):
            launched = self._pending.pop(message.request)
            if not launched.done():
                error = OSError(message.errno, message.message, message.filename or None)
                launched.set_exception(error)
        elif isinstance(message, Ready) and not self._ready.done():
            self._ready.set_result(None)
        else:
            raise ValueError(f"unexpected {type(message).__name__}")

    def _lose(
        self, reason: str, *, notify: bool = True, kill: bool = True, abandon: bool = False
    ) -> None:
        """Stop using the server: fail pending launches, watch children by pidfd, end it."""
        if self.lost:
            return
        self.lost_reason = reason
        if self._channel is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._channel.fileno())
            self._channel.close()
            self._channel = None
        failure = ForkServerError(f"the fork server is lost: {reason}")
        for launched in [*self._pending.values(), self._ready]:
            if launched is not None and not launched.done():
                launched.set_exception(failure)
        self._pending.clear()
        for child in self._children.values():
            if abandon:
                child._gone("the agent no longer watches it")
            else:
                child._orphaned(reason)
        self._children.clear()
        if kill and self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()  # e.g. a bad message: it must not serve anyone else
        if notify and self.on_lost is not None:
            self.on_lost(reason)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen: not every outcome has someone awaiting it."""
    if not future.cancelled():
        future.exception()
