"""A freshly forked child of the fork server turning into the executor it serves.

It must end up as if the agent had exec'd `python -m <module>`: a session of its
own, cwd the sandbox, stdout/stderr appended to the sandbox's files, exactly the
environment the agent computed, fresh random seeds, no descriptor of the server
left open. Then it runs the module's `main()` -- which makes its event loop and
ZeroMQ context now, after the fork -- and exits with what it returned. It never
returns to the server's code: every path ends in `os._exit`.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import NoReturn

__all__ = ["GO", "IN_SESSION", "ChildSetup", "become"]

IN_SESSION = b"s"  # the child to the server: it leads a session of its own
GO = b"g"  # the server to the child: the agent knows its pid (see `become`)
EXIT_NOT_STARTED = 127  # as a shell reports a program it could not start


class ChildSetup:
    """The descriptors and values a child needs; opened by the server before the fork.

    Opening them in the server lets a bad sandbox fail the launch with an OSError
    the agent can report, as an exec would, instead of a child that dies at once.
    """

    __slots__ = ("argv", "environment", "go", "sandbox", "stderr", "stdout")

    def __init__(
        self,
        go: int,
        sandbox: int,
        stdout: int,
        stderr: int,
        environment: Mapping[str, str],
        argv: list[str],
    ) -> None:
        self.go = go
        self.sandbox = sandbox
        self.stdout = stdout
        self.stderr = stderr
        self.environment = environment
        self.argv = argv

    def close(self) -> None:
        """Close the descriptors (the server does, after the fork)."""
        for fd in (self.go, self.sandbox, self.stdout, self.stderr):
            os.close(fd)


def become(setup: ChildSetup, main: Callable[[], int | None]) -> NoReturn:
    """Start a session, wait for the go-ahead, set up, run `main`, exit with its status.

    `setup.go` is a socket to the server. The child says IN_SESSION once it leads
    its own session, so that by the time the agent learns the pid, killing the
    session kills the child, as after an exec. The server sends GO only after the
    agent has been told the pid; if the server dies first, the socket closes
    empty and the child exits without running anything: a launch the agent never
    heard of leaves nothing behind.
    """
    try:
        os.setsid()
        os.write(setup.go, IN_SESSION)
        if os.read(setup.go, 1) != GO:
            os._exit(EXIT_NOT_STARTED)
        os.fchdir(setup.sandbox)
        os.dup2(setup.stdout, 1)
        os.dup2(setup.stderr, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's channel, pidfds, epoll
        os.environ.clear()  # putenv/unsetenv too: the task's processes inherit exactly this
        os.environ.update(setup.environment)
        random.seed()
        sys.argv = setup.argv
    except BaseException:
        _exit_after_traceback(EXIT_NOT_STARTED)
    try:
        status = main()
    except SystemExit as done:
        status = _exit_status(done.code)
    except BaseException:
        _exit_after_traceback(1)
    _exit(status or 0)


def _exit_status(code: object) -> int:
    """What the interpreter would exit with for `SystemExit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _exit_after_traceback(status: int) -> NoReturn:
    try:
        traceback.print_exc()
    finally:
        _exit(status)


def _exit(status: int) -> NoReturn:
    """Flush what Python buffered for stdout/stderr, then leave without the server's atexit."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(status & 0xFF)
