"""The fork server ("zygote"): `python -m agent.launcher.zygote CHANNEL_FD MODULE`.

Starting a Python executor costs ~100-150 ms of CPU in imports (asyncio, uvloop,
pyzmq, msgspec, structlog, libprocess, zmesos.protocol) before it can register;
on a small machine that caps how fast an agent launches command tasks. This
process pays for the imports once: it imports MODULE, then forks a child per
`Launch` from the agent, and that child runs `MODULE.main()` (agent.launcher.child).
On 2 cores, `benchmarks.cluster --quick --only real` went from ~10 to ~70 tasks/s.

It stays single-threaded and never creates an event loop or a ZeroMQ context:
it forks, so whatever it held would be half-copied into every child. It is the
children's parent, so it reaps them and reports each exit to the agent. It exits
when the agent closes the channel (or dies: PR_SET_PDEATHSIG), after reaping the
children that die within `EXIT_LINGER_SECONDS` -- the agent kills the executors
of frameworks that do not checkpoint just before it goes.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import ModuleType

from agent.cgroups import join_cgroups
from agent.launcher import child
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

__all__ = ["Zygote", "main"]

EXIT_LINGER_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class Zygote:
    """Serves launches on `channel` until it closes; see the module docstring."""

    def __init__(self, channel: socket.socket, module: ModuleType) -> None:
        self.channel = channel
        self.main: Callable[[], int | None] = module.main
        self.argv = [module.__file__ or module.__name__]  # sys.argv as `python -m` sets it
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, int] = {}  # pid -> pidfd

    def serve(self) -> None:
        """Launch and reap until the agent closes the channel, then linger briefly."""
        self.selector.register(self.channel, selectors.EVENT_READ)
        self._send(Ready(pid=os.getpid()))
        while self._step(None):
            pass
        self.selector.unregister(self.channel)
        deadline = time.monotonic() + EXIT_LINGER_SECONDS
        while self.children and (left := deadline - time.monotonic()) > 0:
            self._step(left)

    def _step(self, timeout: float | None) -> bool:
        """Handle what is ready; False once the channel has closed."""
        for key, _ in self.selector.select(timeout):
            if key.fileobj is self.channel:
                data = self.channel.recv(MAX_MESSAGE_BYTES)
                if not data:
                    return False
                self._handle(data)
            else:
                self._reap(key.data)
        return True

    def _handle(self, data: bytes) -> None:
        message = decode(data)  # only the agent writes here: a bad message is our bug
        if not isinstance(message, Launch):
            raise TypeError(f"the fork server takes Launch, not {type(message).__name__}")
        try:
            setup, go = self._open(message)
        except OSError as error:
            self._send(_failure(message.request, error))
            return
        self._fork(message.request, setup, go, message.cgroups)

    def _open(self, message: Launch) -> tuple[child.ChildSetup, int]:
        """The child's descriptors and the server's end of its go-ahead socket, opened
        here so that a bad sandbox fails the launch with an OSError, as an exec would."""
        opened: list[int] = []
        try:
            opened.append(os.open(message.sandbox, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
            for name in ("stdout", "stderr"):
                opened.append(os.open(os.path.join(message.sandbox, name), _OPEN_FLAGS, 0o666))
            opened.extend(end.detach() for end in socket.socketpair())
        except OSError:
            for fd in opened:
                os.close(fd)
            raise
        sandbox, stdout, stderr, go_child, go_server = opened
        setup = child.ChildSetup(go_child, sandbox, stdout, stderr, message.environment, self.argv)
        return setup, go_server

    def _fork(
        self, request: int, setup: child.ChildSetup, go: int, cgroups: tuple[str, ...]
    ) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as error:
            setup.close()
            os.close(go)
            self._send(_failure(request, error))
            return
        if pid == 0:
            os.close(go)  # else the child would hold its own socket open and never see EOF
            child.become(setup, self.main)
        setup.close()
        try:
            # The child waits for GO before it runs anything: it is in its cgroups
            # before it can fork, so everything it starts is born in them.
            join_cgroups(pid, cgroups)
            pidfd = os.pidfd_open(pid)
        except OSError as error:  # e.g. out of descriptors: this one must not run
            os.close(go)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self._send(_failure(request, error))
            return
        self.children[pid] = pidfd
        self.selector.register(pidfd, selectors.EVENT_READ, pid)
        try:
            os.read(go, 1)  # IN_SESSION (or EOF if it died): a session kill now reaches it
            self._send(Launched(request, pid), pidfd)
            with contextlib.suppress(OSError):  # it died: its exit is reported as any other
                os.write(go, child.GO)  # only now: the agent knows the pid
        finally:
            os.close(go)  # without GO the child exits unstarted

    def _reap(self, pid: int) -> None:
        _, status = os.waitpid(pid, 0)
        pidfd = self.children.pop(pid)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        self._send(Exited(pid, os.waitstatus_to_exitcode(status)))

    def _send(self, message: Ready | Launched | LaunchFailed | Exited, fd: int = -1) -> None:
        data = encode(message)
        try:
            if fd >= 0:
                socket.send_fds(self.channel, [data], [fd])
            else:
                self.channel.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the agent is gone; the next read sees the channel closed


def _failure(request: int, error: OSError) -> LaunchFailed:
    return LaunchFailed(
        request, error.errno or 0, error.strerror or str(error), str(error.filename or "")
    )


def _die_with_parent() -> None:
    """SIGKILL this process when the agent dies, even if its end of the channel leaked."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _single_threaded() -> bool:
    """Whether exactly one thread runs here, Python's or a C library's."""
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = 1
    return threads == 1 and threading.active_count() == 1


def main(argv: list[str]) -> int:
    """Serve launches of `MODULE.main()` over the unix socket CHANNEL_FD; 2 on bad use."""
    if len(argv) != 2 or not argv[0].isdigit():
        print("usage: python -m agent.launcher.zygote CHANNEL_FD MODULE", file=sys.stderr)
        return 2
    channel = socket.socket(fileno=int(argv[0]))
    _die_with_parent()
    os.close(os.pidfd_open(os.getpid()))  # Linux 5.3+: without pidfds, fail now, not per launch
    module = importlib.import_module(argv[1])
    if not _single_threaded():
        print("fork server: importing the module started threads; not forking", file=sys.stderr)
        return 1
    gc.freeze()  # children share the imported objects' pages instead of copying them on GC
    Zygote(channel, module).serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
