"""What health checks and checks share: their schedule, and the probes that look at a task.

`ProbeSchedule` runs a probe `delay_seconds` after `start()`, then
`interval_seconds` after each result, each run bounded by `timeout_seconds`
(Mesos's checker process). A run ends in exactly one of `on_result(value)` (the
probe's return value) or `on_error(reason)` (it raised, was cancelled or timed
out; a probe that times out is cancelled, and cleans up after itself); a result
that comes back after its timeout or after `stop()` is ignored. The next run is
scheduled after the callback returns, unless the callback stopped the schedule.

Timers and the probe run through the owner's actor context (`delay`, `defer` of
the executor driver), so the schedule runs on libprocess's clock and a test can
pause it.

The probes report what they saw and interpret nothing, so that a health check
(frameworks.health_checks) and a check (frameworks.checks) read the same
observation their own way: `run_command` returns the exit status of a command
run in the sandbox (its process group killed when cancelled), `http_get_status`
the status code of a GET to 127.0.0.1 (certificates not verified, as Mesos's
curl -k), `tcp_connect` returns when a connection to 127.0.0.1 opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from libprocess import Timer

__all__ = ["CHECK_HOST", "ProbeSchedule", "http_get_status", "run_command", "tcp_connect"]

CHECK_HOST = "127.0.0.1"  # Mesos checks the task on the loopback of its network namespace

Defer = Callable[[Awaitable[Any], Callable[[asyncio.Future[Any]], None]], Any]


class ProbeSchedule:
    """Runs `probe` on a schedule and reports each run's outcome; see the module doc."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[Any]],
        *,
        delay_seconds: float,
        interval_seconds: float,
        timeout_seconds: float,
        delay: Callable[..., Timer],
        defer: Defer,
        on_result: Callable[[Any], None],
        on_error: Callable[[str], None],
    ) -> None:
        self.probe = probe
        self.delay_seconds = delay_seconds
        self.interval_seconds = interval_seconds
        self.timeout_seconds = timeout_seconds
        self._delay = delay
        self._defer = defer
        self.on_result = on_result
        self.on_error = on_error
        self.runs = 0
        self._stopped = True
        self._attempt = 0  # the run in flight; a stale result is ignored
        self._timer: Timer | None = None
        self._timeout: Timer | None = None
        self._pending: asyncio.Future[Any] | None = None

    def start(self) -> None:
        self._stopped = False
        self._schedule(self.delay_seconds)

    def stop(self) -> None:
        """No more runs or reports; a run in flight is cancelled."""
        self._stopped = True
        self._attempt += 1
        for timer in (self._timer, self._timeout):
            if timer is not None:
                timer.cancel()
        self._timer = self._timeout = None
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _schedule(self, seconds: float) -> None:
        if not self._stopped:
            self._timer = self._delay(seconds, self._run)

    def _run(self) -> None:
        self._timer = None
        if self._stopped:
            return
        self._attempt += 1
        self.runs += 1
        attempt = self._attempt
        self._timeout = self._delay(self.timeout_seconds, self._timed_out, attempt)
        self._pending = self._defer(self.probe(), lambda done: self._probed(attempt, done))

    def _probed(self, attempt: int, done: asyncio.Future[Any]) -> None:
        if attempt != self._attempt or self._stopped:
            return  # timed out or stopped meanwhile
        self._attempt += 1
        self._pending = None
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None
        if done.cancelled():
            self.on_error("the check was cancelled")
        elif (error := done.exception()) is not None:
            self.on_error(f"{type(error).__name__}: {error}")
        else:
            self.on_result(done.result())
        self._schedule(self.interval_seconds)

    def _timed_out(self, attempt: int) -> None:
        if attempt != self._attempt or self._stopped:
            return
        self._attempt += 1
        self._timeout = None
        if self._pending is not None:
            self._pending.cancel()  # the probe cleans up after itself (kills its command)
            self._pending = None
        self.on_error(f"the check timed out after {self.timeout_seconds:g}s")
        self._schedule(self.interval_seconds)


# -- the probes ------------------------------------------------------------------------


async def run_command(argv: list[str], cwd: str | None, env: Mapping[str, str]) -> int:
    """The command's exit status (negative: the signal that ended it). OSError when it
    cannot start."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # its own group: a timeout kills all it started
    )
    try:
        return await process.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.shield(process.wait())
        raise


async def http_get_status(url: str, *, follow_redirects: bool) -> int:
    """The status code of `GET url`. aiohttp.ClientError or OSError when there is none."""
    import aiohttp  # only executors with HTTP checks pay for the import

    async with (
        aiohttp.ClientSession() as session,
        session.get(url, ssl=False, allow_redirects=follow_redirects) as response,
    ):
        return response.status


async def tcp_connect(port: int) -> None:
    """Returns once a connection to CHECK_HOST:port opened (and closes it); OSError else."""
    _, writer = await asyncio.open_connection(CHECK_HOST, port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
