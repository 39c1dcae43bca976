"""The health checker's schedule and counting on the paused clock, with scripted probes;
the real probes (command, HTTP, TCP) against real processes and sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import msgspec
import pytest
import structlog
from aiohttp import web

from frameworks.health_checks import HealthChecker, HealthStatus, probe_for
from libprocess import Node, Process, clock
from libprocess.testing import settle
from zmesos.protocol import (
    CommandInfo,
    HealthCheck,
    HealthCheckType,
    HTTPCheckInfo,
    KillTask,
    TaskInfo,
    TCPCheckInfo,
)

TCP = TCPCheckInfo(port=1)


class Host(Process):
    """The actor whose clock and context the checker runs in (the executor driver in life)."""

    def __init__(self) -> None:
        super().__init__("host")


class Script:
    """A probe that answers from a script: None healthy, a string a failure, "hang" never."""

    def __init__(self, outcomes: Iterable[str | None]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.cancelled = 0

    async def __call__(self) -> str | None:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome == "hang":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return outcome


async def settled() -> None:
    for _ in range(3):  # a probe's result comes back through a few loop turns
        await settle()


def check(**fields: object) -> HealthCheck:
    defaults: dict[str, object] = {
        "type": HealthCheckType.TCP,
        "tcp": TCP,
        "delay_seconds": 5.0,
        "interval_seconds": 10.0,
        "timeout_seconds": 3.0,
        "consecutive_failures": 3,
        "grace_period_seconds": 0.0,
    }
    return HealthCheck(**{**defaults, **fields})  # type: ignore[arg-type]


async def run(
    node: Node, health_check: HealthCheck, script: Script
) -> tuple[HealthChecker, list[HealthStatus]]:
    host = Host()
    node.spawn(host)
    reports: list[HealthStatus] = []
    checker = HealthChecker(
        health_check,
        script,
        delay=host.delay,
        defer=host.defer,
        on_health=reports.append,
        log=structlog.get_logger(),
    )
    checker.start()
    await settled()
    return checker, reports


async def advance(seconds: float, step: float = 0.01) -> None:
    """Move the clock in steps: a probe's result (and so the next check's timer) comes
    back through the event loop after `clock.advance` returned, so each check starts up
    to a step later than its interval (Mesos too counts the interval from the result)."""
    target = clock.now() + seconds
    while clock.now() < target - 1e-9:
        clock.advance(min(step, target - clock.now()))
        await settled()


async def test_health_checker_passing_reports_healthy_once_after_the_delay():
    clock.pause()
    async with Node() as node:
        script = Script([None, None, None])
        _, reports = await run(node, check(), script)
        await advance(4.9)
        assert script.calls == 0  # delay_seconds before the first check
        await advance(0.1)
        assert reports == [HealthStatus(healthy=True)]
        await advance(20.1)
        assert script.calls == 3  # one every interval_seconds
        assert reports == [HealthStatus(healthy=True)]  # no news, no report


async def test_health_checker_failing_kills_after_consecutive_failures():
    clock.pause()
    async with Node() as node:
        script = Script(["down", "down", "down", "down"])
        _, reports = await run(node, check(delay_seconds=0.0), script)
        await advance(20.1)
        assert [(r.healthy, r.consecutive_failures, r.kill_task) for r in reports] == [
            (False, 1, False),
            (False, 2, False),
            (False, 3, True),
        ]
        assert reports[-1].reason == "down"


async def test_health_checker_ignores_failures_within_the_grace_period():
    clock.pause()
    async with Node() as node:
        script = Script(["down"] * 10)
        _, reports = await run(
            node, check(delay_seconds=0.0, interval_seconds=1.0, grace_period_seconds=4.5), script
        )
        await advance(4.1)
        assert script.calls == 5 and reports == []  # checks at 0..4 s, inside the grace
        await advance(1)
        assert [r.consecutive_failures for r in reports] == [1]


async def test_health_checker_grace_ends_at_the_first_success():
    clock.pause()
    async with Node() as node:
        script = Script([None, "down"])
        _, reports = await run(
            node, check(delay_seconds=0.0, interval_seconds=1.0, grace_period_seconds=60.0), script
        )
        await advance(1.1)
        assert [r.healthy for r in reports] == [True, False]  # counted despite the grace


async def test_health_checker_flapping_reports_each_change():
    clock.pause()
    async with Node() as node:
        script = Script([None, "down", None, None, "down", "down", None])
        _, reports = await run(node, check(delay_seconds=0.0, interval_seconds=1.0), script)
        await advance(6.1)
        assert [(r.healthy, r.consecutive_failures) for r in reports] == [
            (True, 0),
            (False, 1),
            (True, 0),
            (False, 1),
            (False, 2),
            (True, 0),
        ]
        assert not any(r.kill_task for r in reports)  # never three in a row


async def test_health_checker_a_check_that_hangs_times_out_and_is_cancelled():
    clock.pause()
    async with Node() as node:
        script = Script(["hang", None])
        _, reports = await run(
            node, check(delay_seconds=0.0, timeout_seconds=3.0, interval_seconds=10.0), script
        )
        await advance(2.9)
        assert script.calls == 1 and reports == []
        await advance(0.2)
        assert script.cancelled == 1
        assert reports[0].healthy is False and "timed out after 3s" in reports[0].reason
        await advance(10)
        assert reports[-1] == HealthStatus(healthy=True)


async def test_health_checker_stop_ends_checks_and_reports():
    clock.pause()
    async with Node() as node:
        script = Script(["hang"])
        checker, reports = await run(node, check(delay_seconds=0.0), script)
        await advance(0.01)
        checker.stop()
        await advance(100)
        assert script.cancelled == 1 and script.calls == 1 and reports == []


# -- the real probes ---------------------------------------------------------------


async def test_health_check_probes_command_http_and_tcp(tmp_path):
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=int(request.query.get("status", "200")))

    app = web.Application()
    app.router.add_get("/health", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:

        async def probe(health_check: HealthCheck) -> str | None:
            return await probe_for(health_check, cwd=str(tmp_path), environment={"X": "1"})()

        command = HealthCheck(
            type=HealthCheckType.COMMAND, command=CommandInfo(value='test "$X" = 1 && test -d .')
        )
        assert await probe(command) is None
        failing = HealthCheck(type=HealthCheckType.COMMAND, command=CommandInfo(value="exit 4"))
        assert await probe(failing) == "the check command exited with status 4"

        def http(path: str, statuses: tuple[int, ...] = ()) -> HealthCheck:
            info = HTTPCheckInfo(port=port, path=path, statuses=statuses)
            return HealthCheck(type=HealthCheckType.HTTP, http=info)

        assert await probe(http("/health")) is None
        assert await probe(http("/health?status=503")) == (
            f"GET http://127.0.0.1:{port}/health?status=503 answered 503"
        )
        assert await probe(http("/health?status=204", statuses=(200,))) is not None
        assert "answered 404" in (await probe(http("/missing")) or "")

        assert (
            await probe(HealthCheck(type=HealthCheckType.TCP, tcp=TCPCheckInfo(port=port))) is None
        )
    finally:
        await runner.cleanup()
    closed = HealthCheck(type=HealthCheckType.TCP, tcp=TCPCheckInfo(port=port))
    assert "failed" in (await probe(closed) or "")


# -- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "TCP"},  # no tcp
        {"type": "HTTP"},  # no http
        {"type": "COMMAND", "command": {}},  # no command value
        {"type": "GRPC", "tcp": {"port": 1}},
        {"type": "TCP", "tcp": {"port": 0}},
        {"type": "TCP", "tcp": {"port": 65536}},
        {"type": "TCP", "tcp": {"port": 1}, "interval_seconds": -1},
        {"type": "TCP", "tcp": {"port": 1}, "interval_seconds": 0},
        {"type": "TCP", "tcp": {"port": 1}, "timeout_seconds": 0},
        {"type": "TCP", "tcp": {"port": 1}, "delay_seconds": -0.5},
        {"type": "TCP", "tcp": {"port": 1}, "grace_period_seconds": -1},
        {"type": "TCP", "tcp": {"port": 1}, "delay_seconds": float("nan")},
        {"type": "TCP", "tcp": {"port": 1}, "interval_seconds": float("inf")},
        {"type": "TCP", "tcp": {"port": 1}, "consecutive_failures": 0},
        {"type": "HTTP", "http": {"port": 80, "path": "health"}},
        {"type": "HTTP", "http": {"port": 80, "scheme": "ftp"}},
        {"type": "HTTP", "http": {"port": 80, "statuses": [99]}},
    ],
)
def test_health_check_bad_fields_are_refused_at_decode(fields):
    task = {
        "name": "t",
        "task_id": "t",
        "agent_id": "a",
        "command": {"value": "true"},
        "health_check": fields,
    }
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(msgspec.msgpack.encode(task), type=TaskInfo)


@pytest.mark.parametrize("grace", [-1.0, float("nan"), 1e12])
def test_kill_grace_periods_out_of_range_are_refused_at_decode(grace):
    kill = {"framework_id": "f", "task_id": "t", "grace_period_seconds": grace}
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(msgspec.msgpack.encode(kill), type=KillTask)
    task = {
        "name": "t",
        "task_id": "t",
        "agent_id": "a",
        "kill_policy": {"grace_period_seconds": grace},
    }
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(msgspec.msgpack.encode(task), type=TaskInfo)
