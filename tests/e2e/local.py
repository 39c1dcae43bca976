"""`zmesos` as a user runs it: the command line as a child process, `zmesos local` kept up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.e2e.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
ZMESOS = [sys.executable, "-m", "zmesos.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
STARTUP = 60.0  # seconds `zmesos local` may take to say its cluster is up


def zmesos(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `zmesos ARGUMENTS` to its end; its output as text."""
    return subprocess.run(
        [*ZMESOS, *arguments], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=ENV
    )


def zmesos_in_background(*arguments: str) -> subprocess.Popen[str]:
    """Start `zmesos ARGUMENTS` in a session of its own (stop it with `interrupt`)."""
    return subprocess.Popen(
        [*ZMESOS, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=ENV,
        start_new_session=True,
    )


def interrupt(process: subprocess.Popen[Any], timeout: float = 30) -> int:
    """Ctrl-C to the process's session; its exit status."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    return process.wait(timeout=timeout)


class LocalProcess:
    """A running `zmesos local`: its master's address and what it printed so far."""

    def __init__(self, process: subprocess.Popen[str], master: str) -> None:
        self.process = process
        self.master = master
        self.url = f"http://{master}/"
        self.lines: list[str] = []

    def read_until(self, prefix: str, timeout: float = STARTUP) -> str:
        """Read its output up to a line starting with `prefix`; that line."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith(prefix) or time.monotonic() > deadline:
                break
        assert self.lines and self.lines[-1].startswith(prefix), self.lines
        return self.lines[-1]


@contextlib.contextmanager
def zmesos_local(work_dir: Path, *arguments: str) -> Iterator[LocalProcess]:
    """`zmesos local --work-dir WORK_DIR ARGUMENTS` on a free port, until Ctrl-C.

    Yields once it printed "cluster up"; on leaving, Ctrl-C must stop it with status 0.
    """
    port = free_port()
    process = zmesos_in_background(
        "local", "--port", str(port), "--work-dir", str(work_dir), *arguments
    )
    try:
        local = LocalProcess(process, f"127.0.0.1:{port}")
        local.read_until("cluster up")
        yield local
    finally:
        assert interrupt(process) == 0
