"""A task's check, run as Mesos's checker runs it (src/checks/checker.cpp).

A check looks at a task and reports what it saw, uninterpreted: the exit code
of a command, the status code of an HTTP GET, whether a TCP connection opened.
It has no failures to count and never kills its task (that is a health check:
frameworks.health_checks).

`Checker` runs the probe on frameworks.probing's schedule (the first check
`delay_seconds` after `start()`, then one every `interval_seconds`, each bounded
by `timeout_seconds`). Its `status` starts as the empty CheckStatusInfo of the
check's type; a check that could not be performed (it timed out, its command
could not start or was killed by a signal, the HTTP request got no answer)
yields that empty status again. The owner hears, through `on_check`, every
status that differs from the last one it heard, and nothing else.

`probe_for` makes the real probes from frameworks.probing's; an HTTP check
follows redirects, as Mesos's built-in executors do.
"""

from __future__ import annotations

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
from libprocess import Timer
from zmesos.protocol import (
    CheckInfo,
    CheckStatusInfo,
    CheckType,
    CommandCheckStatus,
    CommandInfo,
    HTTPCheckStatus,
    TCPCheckStatus,
    check_info_error,
)
from zmesos.protocol.commands import command_argv

__all__ = ["CheckFailed", "CheckProbe", "Checker", "probe_for"]

CheckProbe = Callable[[], Awaitable[CheckStatusInfo]]


class CheckFailed(Exception):
    """The check could not be performed; its result is unknown."""


class Checker:
    """Runs `probe` on `check`'s schedule; reports changes to `on_check` (see the module doc)."""

    def __init__(
        self,
        check: CheckInfo,
        probe: CheckProbe,
        *,
        delay: Callable[..., Timer],
        defer: Defer,
        on_check: Callable[[CheckStatusInfo], None],
        log: Any,
    ) -> None:
        assert check.type is not None  # a valid check (check_info_error), as probe_for asks
        self.check = check
        self.on_check = on_check
        self.log = log
        self.empty = CheckStatusInfo.empty(check.type)
        self.status = self.empty
        self._schedule = ProbeSchedule(
            probe,
            delay_seconds=check.delay_seconds,
            interval_seconds=check.interval_seconds,
            timeout_seconds=check.timeout_seconds,
            delay=delay,
            defer=defer,
            on_result=self._performed,
            on_error=self._not_performed,
        )

    @property
    def checks(self) -> int:
        """How many checks have started."""
        return self._schedule.runs

    def start(self) -> None:
        """The task has started: the first check runs after `delay_seconds`."""
        self.log.info(
            "check_starting",
            type=str(self.check.type),
            delay=self.check.delay_seconds,
            interval=self.check.interval_seconds,
        )
        self._schedule.start()

    def stop(self) -> None:
        """No more checks or reports (the task is being killed or has ended)."""
        self._schedule.stop()

    def _not_performed(self, reason: str) -> None:
        self.log.warning("check_failed", type=str(self.check.type), reason=reason)
        self._performed(self.empty)

    def _performed(self, status: CheckStatusInfo) -> None:
        if status == self.status:
            return
        self.log.info("check_status_changed", type=str(self.check.type), status=str(status))
        self.status = status
        self.on_check(status)


# -- the real probes -------------------------------------------------------------


def probe_for(check: CheckInfo, *, cwd: str | None, environment: Mapping[str, str]) -> CheckProbe:
    """The probe a check's type asks for. ValueError for a check that cannot be run."""
    error = check_info_error(check)
    if error is not None:
        raise ValueError(error)
    if check.type is CheckType.COMMAND:
        command = check.command or CommandInfo()
        argv = command_argv(command)
        env = {**environment, **command.environment}
        return lambda: _command_probe(argv, cwd, env)
    if check.type is CheckType.HTTP:
        assert check.http is not None
        url = f"http://{CHECK_HOST}:{check.http.port}{check.http.path or '/'}"
        return lambda: _http_probe(url)
    assert check.tcp is not None
    port = check.tcp.port
    return lambda: _tcp_probe(port)


async def _command_probe(
    argv: list[str], cwd: str | None, env: Mapping[str, str]
) -> CheckStatusInfo:
    try:
        returncode = await run_command(argv, cwd, env)
    except OSError as error:
        raise CheckFailed(f"the check command could not start: {error}") from None
    if returncode < 0:
        raise CheckFailed(f"the check command was terminated by signal {-returncode}")
    return CheckStatusInfo(type=CheckType.COMMAND, command=CommandCheckStatus(exit_code=returncode))


async def _http_probe(url: str) -> CheckStatusInfo:
    import aiohttp  # only executors with HTTP checks pay for the import

    try:
        status = await http_get_status(url, follow_redirects=True)
    except (aiohttp.ClientError, OSError) as error:
        raise CheckFailed(f"GET {url} failed: {error or type(error).__name__}") from None
    return CheckStatusInfo(type=CheckType.HTTP, http=HTTPCheckStatus(status_code=status))


async def _tcp_probe(port: int) -> CheckStatusInfo:
    try:
        await tcp_connect(port)
    except OSError:
        succeeded = False
    else:
        succeeded = True
    return CheckStatusInfo(type=CheckType.TCP, tcp=TCPCheckStatus(succeeded=succeeded))
