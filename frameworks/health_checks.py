"""A task's health check, run as Mesos's health checker runs it (src/checks/health_checker.cpp).

`HealthChecker` is the counting on top of frameworks.probing's schedule: the
first check `delay_seconds` after `start()`, then one every `interval_seconds`,
each failed when it takes longer than `timeout_seconds`. Failures within
`grace_period_seconds` of the start are ignored until the first success. The
owner hears, through `on_health`: healthy on the first success and on the first
success after failures; unhealthy on every counted failure, with `kill_task` set
once `consecutive_failures` have come in a row. It keeps checking until
`stop()`: killing the task is the owner's business.

The probe is a coroutine function returning None when healthy and the reason
otherwise; `probe_for` makes the real ones from frameworks.probing's: a command
(`/bin/sh -c` or an argv, in the sandbox) healthy when it exits 0, an HTTP GET
to 127.0.0.1 healthy on one of the check's statuses (200-399 when it names
none), a TCP connect to 127.0.0.1 healthy when it opens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from frameworks.probing import (
    CHECK_HOST,
    Defer,
    ProbeSchedule,
    http_get_status,
    run_command,
    tcp_connect,
)
from libprocess import Timer, clock
from zmesos.protocol import CommandInfo, HealthCheck, HealthCheckType
from zmesos.protocol.commands import command_argv

__all__ = ["HealthChecker", "HealthStatus", "Probe", "probe_for"]

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
        defer: Defer,
        on_health: Callable[[HealthStatus], None],
        log: Any,
    ) -> None:
        self.check = check
        self.on_health = on_health
        self.log = log
        self.consecutive_failures = 0
        self.initializing = True  # no success yet: the grace period applies
        self._started_at = 0.0
        self._schedule = ProbeSchedule(
            probe,
            delay_seconds=check.delay_seconds,
            interval_seconds=check.interval_seconds,
            timeout_seconds=check.timeout_seconds,
            delay=delay,
            defer=defer,
            on_result=self._probed,
            on_error=self._failed,
        )

    @property
    def checks(self) -> int:
        """How many checks have started."""
        return self._schedule.runs

    def start(self) -> None:
        """The task has started: the first check runs after `delay_seconds`."""
        self._started_at = clock.now()
        self.log.info(
            "health_check_starting",
            type=self.check.type.value,
            delay=self.check.delay_seconds,
            interval=self.check.interval_seconds,
            grace_period=self.check.grace_period_seconds,
        )
        self._schedule.start()

    def stop(self) -> None:
        """No more checks or reports (the task is being killed or has ended)."""
        self._schedule.stop()

    def _probed(self, reason: str | None) -> None:
        if reason is None:
            self._succeeded()
        else:
            self._failed(reason)

    def _failed(self, reason: str) -> None:
        grace = self.check.grace_period_seconds
        if self.initializing and grace > 0 and clock.now() - self._started_at <= grace:
            self.log.info("health_check_failure_ignored", reason=reason, within_grace_period=grace)
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

    def _succeeded(self) -> None:
        if self.initializing or self.consecutive_failures > 0:
            self.log.info("health_check_passed", after_failures=self.consecutive_failures)
            self.initializing = False
            self.consecutive_failures = 0
            self.on_health(HealthStatus(healthy=True))


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
        returncode = await run_command(argv, cwd, env)
    except OSError as error:
        return f"the check command could not start: {error}"
    if returncode == 0:
        return None
    if returncode < 0:
        return f"the check command was terminated by signal {-returncode}"
    return f"the check command exited with status {returncode}"


async def _http_probe(url: str, statuses: tuple[int, ...]) -> str | None:
    import aiohttp  # only executors with HTTP checks pay for the import

    try:
        status = await http_get_status(url, follow_redirects=False)
    except (aiohttp.ClientError, OSError) as error:
        return f"GET {url} failed: {error or type(error).__name__}"
    healthy = status in statuses if statuses else 200 <= status < 400
    return None if healthy else f"GET {url} answered {status}"


async def _tcp_probe(port: int) -> str | None:
    try:
        await tcp_connect(port)
    except OSError as error:
        return f"connecting to {CHECK_HOST}:{port} failed: {error.strerror or error}"
    return None
