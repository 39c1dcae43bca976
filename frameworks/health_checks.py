"""A task's health check, run as Mesos's health checker runs it (src/checks/health_checker.cpp).

`HealthChecker` is the timing and counting: the first check `delay_seconds`
after `start()`, then one every `interval_seconds`, each failed when it takes
longer than `timeout_seconds`. Failures within `grace_period_seconds` of the
start are ignored until the first success. The owner hears, through
`on_health`: healthy on the first success and on the first success after
failures; unhealthy on every counted failure, with `kill_task` set once
`consecutive_failures` have come in a row. It keeps checking until `stop()`:
killing the task is the owner's business.

Timers and the probe run through the owner's actor context (`delay`, `defer`
of the executor driver), so the whole schedule runs on libprocess's clock and
a test can pause it. The probe is a coroutine function returning None when
healthy and the reason otherwise; `probe_for` makes the real ones: a command
(`/bin/sh -c` or an argv, in the sandbox, its process group killed when it
times out), an HTTP GET to 127.0.0.1 (certificates not verified, as Mesos's
curl -k), a TCP connect to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from libprocess import Timer, clock
from zmesos.protocol import CommandInfo, HealthCheck, HealthCheckType
from zmesos.protocol.commands import command_argv

__all__ = ["HealthChecker", "HealthStatus", "Probe", "probe_for"]

CHECK_HOST = "127.0.0.1"  # Mesos checks the task on the loopback of its network namespace

Probe = Callable[[], Awaitable[str | None]]


@dataclasses.dataclass(frozen=True)
class HealthStatus:
    """One health change the checker reports (Mesos's TaskHealthStatus)."""

    healthy: bool
    consecutive_failures: int = 0
    kill_task: bool = False
    reason: str = ""  # why the last check failed


class HealthChecker:
    """Runs `probe` on `check`'s schedule; reports to `on_health` (see the module doc)."""

    def __init__(
        self,
        check: HealthCheck,
        probe: Probe,
        *,
        delay: Callable[..., Timer],
        defer: Callable[[Awaitable[Any], Callable[[asyncio.Future[Any]], None]], Any],
        on_health: Callable[[HealthStatus], None],
        log: Any,
    ) -> None:
        self.check = check
        self.probe = probe
        self._delay = delay
        self._defer = defer
        self.on_health = on_health
        self.log = log
        self.consecutive_failures = 0
        self.initializing = True  # no success yet: the grace period applies
        self.checks = 0
        self._started_at = 0.0
        self._stopped = True
        self._attempt = 0  # the check in flight; a stale result is ignored
        self._timer: Timer | None = None
        self._timeout: Timer | None = None
        self._pending: asyncio.Future[Any] | None = None

    def start(self) -> None:
        """The task has started: the first check runs after `delay_seconds`."""
        self._started_at = clock.now()
        self._stopped = False
        self.log.info(
            "health_check_starting",
            type=self.check.type.value,
            delay=self.check.delay_seconds,
            interval=self.check.interval_seconds,
            grace_period=self.check.grace_period_seconds,
        )
        self._schedule(self.check.delay_seconds)

    def stop(self) -> None:
        """No more checks or reports (the task is being killed or has ended)."""
        self._stopped = True
        self._attempt += 1
        for timer in (self._timer, self._timeout):
            if timer is not None:
                timer.cancel()
        self._timer = self._timeout = None
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    # -- one check -------------------------------------------------------------

    def _schedule(self, seconds: float) -> None:
        if not self._stopped:
            self._timer = self._delay(seconds, self._run)

    def _run(self) -> None:
        self._timer = None
        if self._stopped:
            return
        self._attempt += 1
        self.checks += 1
        attempt = self._attempt
        self._timeout = self._delay(self.check.timeout_seconds, self._timed_out, attempt)
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
            self._failed("the check was cancelled")
            return
        error = done.exception()
        if error is not None:
            self._failed(f"{type(error).__name__}: {error}")
            return
        reason = done.result()
        if reason is None:
            self._succeeded()
        else:
            self._failed(reason)

    def _timed_out(self, attempt: int) -> None:
        if attempt != self._attempt or self._stopped:
            return
        self._attempt += 1
        self._timeout = None
        if self._pending is not None:
            self._pending.cancel()  # the probe cleans up after itself (kills its command)
            self._pending = None
        self._failed(f"the check timed out after {self.check.timeout_seconds:g}s")

    # -- outcomes --------------------------------------------------------------

    def _failed(self, reason: str) -> None:
        grace = self.check.grace_period_seconds
        if self.initializing and grace > 0 and clock.now() - self._started_at <= grace:
            self.log.info("health_check_failure_ignored", reason=reason, within_grace_period=grace)
            self._schedule(self.check.interval_seconds)
            return
        self.consecutive_failures += 1
        kill = self.consecutive_failures >= self.check.consecutive_failures
        self.log.warning(
            "health_check_failed",
            type=self.check.type.value,
            consecutive_failures=self.consecutive_failures,
            reason=reason,
            kill_task=kill,
        )
        self.on_health(
            HealthStatus(
                healthy=False,
                consecutive_failures=self.consecutive_failures,
                kill_task=kill,
                reason=reason,
            )
        )
        self._schedule(self.check.interval_seconds)

    def _succeeded(self) -> None:
        if self.initializing or self.consecutive_failures > 0:
            self.log.info("health_check_passed", after_failures=self.consecutive_failures)
            self.initializing = False
            self.consecutive_failures = 0
            self.on_health(HealthStatus(healthy=True))
        self._schedule(self.check.interval_seconds)


# -- the real probes -------------------------------------------------------------


def probe_for(check: HealthCheck, *, cwd: str | None, environment: Mapping[str, str]) -> Probe:
    """The probe a check's type asks for. ValueError for a command that cannot be run."""
    if check.type is HealthCheckType.COMMAND:
        command = check.command or CommandInfo()
        argv = command_argv(command)
        env = {**environment, **command.environment}
        return lambda: _command_probe(argv, cwd, env)
    if check.type is HealthCheckType.HTTP:
        assert check.http is not None
        http = check.http
        url = f"{http.scheme}://{CHECK_HOST}:{http.port}{http.path or '/'}"
        return lambda: _http_probe(url, http.statuses)
    assert check.tcp is not None
    port = check.tcp.port
    return lambda: _tcp_probe(port)


async def _command_probe(argv: list[str], cwd: str | None, env: Mapping[str, str]) -> str | None:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # its own group: a timeout kills all it started
        )
    except OSError as error:
        return f"the check command could not start: {error}"
    try:
        returncode = await process.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.shield(process.wait())
        raise
    if returncode == 0:
        return None
    if returncode < 0:
        return f"the check command was terminated by signal {-returncode}"
    return f"the check command exited with status {returncode}"


async def _http_probe(url: str, statuses: tuple[int, ...]) -> str | None:
    import aiohttp  # only executors with HTTP checks pay for the import

    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, ssl=False, allow_redirects=False) as response,
        ):
            status = response.status
    except (aiohttp.ClientError, OSError) as error:
        return f"GET {url} failed: {error or type(error).__name__}"
    healthy = status in statuses if statuses else 200 <= status < 400
    return None if healthy else f"GET {url} answered {status}"


async def _tcp_probe(port: int) -> str | None:
    try:
        _, writer = await asyncio.open_connection(CHECK_HOST, port)
    except OSError as error:
        return f"connecting to {CHECK_HOST}:{port} failed: {error.strerror or error}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None
