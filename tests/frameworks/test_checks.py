"""The checker on the paused clock with scripted probes (reports on change only, a check
that cannot be performed yields the empty status); the real probes (command, HTTP, TCP)
against real processes and a real listener on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterable

import pytest
import structlog
from aiohttp import web

from frameworks.checks import Checker, CheckFailed, probe_for
from libprocess import Node, clock
from tests.frameworks.test_health_checks import Host, advance, settled
from zmesos.protocol import (
    CheckHTTPInfo,
    CheckInfo,
    CheckStatusInfo,
    CheckType,
    CommandCheckStatus,
    CommandInfo,
    HTTPCheckStatus,
    TCPCheckInfo,
    TCPCheckStatus,
)

EMPTY = CheckStatusInfo.empty(CheckType.COMMAND)


def exit_code(code: int) -> CheckStatusInfo:
    return CheckStatusInfo(type=CheckType.COMMAND, command=CommandCheckStatus(exit_code=code))


class Script:
    """A probe answering from a script: a status, "fail" (not performed), or "hang"."""

    def __init__(self, outcomes: Iterable[CheckStatusInfo | str]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.cancelled = 0

    async def __call__(self) -> CheckStatusInfo:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else exit_code(0)
        if outcome == "hang":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if outcome == "fail":
            raise CheckFailed("no answer")
        assert isinstance(outcome, CheckStatusInfo)
        return outcome


def command_check(**fields: object) -> CheckInfo:
    timing: dict[str, object] = {
        "delay_seconds": 5.0,
        "interval_seconds": 10.0,
        "timeout_seconds": 3.0,
    }
    return CheckInfo(
        type=CheckType.COMMAND,
        command=CommandInfo(value="true"),
        **{**timing, **fields},  # type: ignore[arg-type]
    )


async def run(
    node: Node, check: CheckInfo, script: Script
) -> tuple[Checker, list[CheckStatusInfo]]:
    host = Host()
    node.spawn(host)
    reports: list[CheckStatusInfo] = []
    checker = Checker(
        check,
        script,
        delay=host.delay,
        defer=host.defer,
        on_check=reports.append,
        log=structlog.get_logger(),
    )
    checker.start()
    await settled()
    return checker, reports


async def test_checker_reports_each_change_and_nothing_else():
    clock.pause()
    async with Node() as node:
        outcomes = [exit_code(0), exit_code(0), exit_code(1), exit_code(1), exit_code(0)]
        checker, reports = await run(node, command_check(), Script(outcomes))
        assert checker.status == EMPTY and reports == []
        await advance(4.9)
        assert checker.checks == 0  # delay_seconds before the first check
        await advance(0.2)
        assert reports == [exit_code(0)]
        await advance(40)
        assert checker.checks == 5  # one every interval_seconds
        assert reports == [exit_code(0), exit_code(1), exit_code(0)]


async def test_checker_a_check_not_performed_reports_the_empty_status_once():
    clock.pause()
    async with Node() as node:
        script = Script(["fail", exit_code(3), "fail", "fail", "hang", exit_code(3)])
        _, reports = await run(node, command_check(delay_seconds=0.0), script)
        await advance(30.1)
        # The first failure changes nothing (the status starts empty); later ones empty it.
        assert reports == [exit_code(3), EMPTY]
        await advance(13.1)  # the hanging check times out after 3 s: still empty, no report
        assert script.cancelled == 1 and reports == [exit_code(3), EMPTY]
        await advance(10)
        assert reports == [exit_code(3), EMPTY, exit_code(3)]


async def test_checker_stop_ends_checks_and_reports():
    clock.pause()
    async with Node() as node:
        script = Script(["hang"])
        checker, reports = await run(node, command_check(delay_seconds=0.0), script)
        await advance(0.01)
        checker.stop()
        await advance(100)
        assert script.cancelled == 1 and script.calls == 1 and reports == []


# -- the real probes ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def listening() -> AsyncIterator[int]:
    """An HTTP server on 127.0.0.1: /status?code=N answers N, /moved redirects to it."""

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.query.get("code", "200")))

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/status?code=202")

    app = web.Application()
    app.router.add_get("/status", status)
    app.router.add_get("/moved", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_check_probe_command_reports_the_exit_code(tmp_path):
    async def probe(command: CommandInfo) -> CheckStatusInfo:
        check = CheckInfo(type=CheckType.COMMAND, command=command)
        return await probe_for(check, cwd=str(tmp_path), environment={"X": "1"})()

    assert await probe(CommandInfo(value='test "$X" = 1 && test -d .')) == exit_code(0)
    assert await probe(CommandInfo(value="exit 7")) == exit_code(7)
    with pytest.raises(CheckFailed, match="signal 9"):
        await probe(CommandInfo(value="kill -9 $$"))
    with pytest.raises(CheckFailed, match="could not start"):
        await probe(CommandInfo(value="/nonexistent/program", shell=False))


async def test_check_probe_http_reports_the_status_code_following_redirects():
    async with listening() as listener:
        await _http_probes(listener)


async def _http_probes(listener: int) -> None:
    async def probe(path: str, port: int = listener) -> CheckStatusInfo:
        check = CheckInfo(type=CheckType.HTTP, http=CheckHTTPInfo(port=port, path=path))
        return await probe_for(check, cwd=None, environment={})()

    def status_code(code: int) -> CheckStatusInfo:
        return CheckStatusInfo(type=CheckType.HTTP, http=HTTPCheckStatus(status_code=code))

    assert await probe("/status") == status_code(200)
    assert await probe("/status?code=503") == status_code(503)
    assert await probe("/moved") == status_code(202)
    assert await probe("") == status_code(404)  # no path: GET /
    with pytest.raises(CheckFailed, match="failed"):
        await probe("/status", port=_free_port())


async def test_check_probe_tcp_reports_whether_a_connection_opened():
    async def probe(port: int) -> CheckStatusInfo:
        check = CheckInfo(type=CheckType.TCP, tcp=TCPCheckInfo(port=port))
        return await probe_for(check, cwd=None, environment={})()

    async with listening() as listener:
        opened = await probe(listener)
    assert opened == CheckStatusInfo(type=CheckType.TCP, tcp=TCPCheckStatus(succeeded=True))
    assert await probe(_free_port()) == CheckStatusInfo(
        type=CheckType.TCP, tcp=TCPCheckStatus(succeeded=False)
    )


def test_check_probe_for_refuses_an_invalid_check():
    with pytest.raises(ValueError, match="Expecting 'tcp' to be set"):
        probe_for(CheckInfo(type=CheckType.TCP), cwd=None, environment={})
