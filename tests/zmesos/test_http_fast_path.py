"""The HTTP server's fast path: answered on the connection, or handed to aiohttp, alike.

A toy route stands for the v1 scheduler's: `{}` is answered 202, `slow` is left to
aiohttp (as a SUBSCRIBE is), anything else is refused 400. The aiohttp handler of
the same path answers the same way, so a request answers the same whichever side
takes it; the last test checks that for arbitrary bytes against a server without
the fast path. Deadlines run on real time, as the guard's do (a fraction of a second).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from collections.abc import AsyncIterator

import pytest
import uvloop
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.zmesos.test_http_guard import _self_signed
from zmesos.http import HttpServer, http_principal, serve_app
from zmesos.http import guard as guard_module
from zmesos.http.fast_path import MAX_BODY_BYTES, FastAnswer, FastRequest, FastRoute
from zmesos.http.guard import HttpSecurity, ssl_context
from zmesos.http.server import FAST_ROUTES

FAST = b"{}"
SLOW = b"slow"


def _decide(body: bytes) -> FastAnswer | None:
    if body == b"bug":
        raise KeyError("a bug")
    if body == FAST:
        return FastAnswer(status=202)
    if body == SLOW:
        return None
    return FastAnswer(status=400, text="bad body")


def _app(*, fast: bool = True, seen: list[FastRequest] | None = None) -> web.Application:
    async def call(request: web.Request) -> web.Response:
        body = await request.read()
        answer = _decide(body)
        if answer is None:
            return web.Response(status=200, text=f"slow {http_principal(request)}")
        return web.Response(status=answer.status, text=answer.text or None)

    def fast_call(request: FastRequest) -> FastAnswer | None:
        if seen is not None:
            seen.append(request)
        return _decide(request.body)

    app = web.Application()
    app.router.add_post("/call", call)
    app.router.add_get("/health", _health)
    if fast:
        routes: dict[str, FastRoute] = {"/call": fast_call}
        app[FAST_ROUTES] = routes
    return app


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@contextlib.asynccontextmanager
async def _server(security: HttpSecurity | None = None, **app: object) -> AsyncIterator[HttpServer]:
    server = await serve_app(_app(**app), "127.0.0.1", 0, security)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        await server.close()


def _post(body: bytes, *headers: bytes) -> bytes:
    head = b"".join(header + b"\r\n" for header in headers)
    return b"POST /call HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body),
        head,
        body,
    )


async def _answers(
    reader: asyncio.StreamReader, count: int, timeout: float = 5
) -> list[tuple[int, bytes, bytes]]:
    """`count` answers: (status, head, body) each."""
    answers = []
    for _ in range(count):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await asyncio.wait_for(reader.readexactly(length), timeout)
        answers.append((int(head[9:12]), head, body))
    return answers


async def _connect(server: HttpServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def test_http_fast_path_answers_pipelined_calls_in_order_then_hands_over():
    seen: list[FastRequest] = []
    async with _server(seen=seen) as server:
        reader, writer = await _connect(server)
        writer.write(_post(FAST) + _post(b"nope") + _post(SLOW) + _post(FAST) + _post(FAST))
        answers = await _answers(reader, 5)
        assert [status for status, _, _ in answers] == [202, 400, 200, 202, 202]
        assert answers[1][2] == b"bad body" and answers[2][2] == b"slow None"
        assert b"Content-Type: text/plain; charset=utf-8" in answers[1][1]
        assert b"Content-Length: 0" in answers[0][1] and b"Date: " in answers[0][1]
        # The fast path saw the first three; after the handover, aiohttp answers all.
        assert [request.body for request in seen] == [FAST, b"nope", SLOW]
        assert seen[0].headers["host"] == "x" and seen[0].path == "/call"
        writer.write(_post(FAST))
        assert [status for status, _, _ in await _answers(reader, 1)] == [202]
        assert len(seen) == 3
        writer.close()


async def test_http_fast_path_answers_a_failing_route_500_and_closes_as_aiohttp_does():
    for fast in (True, False):
        async with _server(fast=fast) as server:
            reader, writer = await _connect(server)
            writer.write(_post(FAST) + _post(b"bug") + _post(FAST))
            answer = await asyncio.wait_for(reader.read(), 5)  # until the server closes
            assert _STATUS_LINE.findall(answer) == [b"HTTP/1.1 202 ", b"HTTP/1.1 500 "]
            assert answer.endswith(
                b"\r\n\r\n500 Internal Server Error\n\nServer got itself in trouble"
            )
            writer.close()


async def test_http_fast_path_takes_a_request_arriving_a_byte_at_a_time():
    seen: list[FastRequest] = []
    async with _server(seen=seen) as server:
        reader, writer = await _connect(server)
        for byte in _post(FAST, b"X-Extra:  spaced value \t"):
            writer.write(bytes([byte]))
            await writer.drain()
        assert [status for status, _, _ in await _answers(reader, 1)] == [202]
        assert seen[0].headers["x-extra"] == "spaced value"
        writer.close()


async def test_http_fast_path_connection_close_is_answered_then_closed():
    async with _server() as server:
        reader, writer = await _connect(server)
        writer.write(_post(FAST, b"Connection: close") + _post(FAST))
        answer = await asyncio.wait_for(reader.read(), 5)  # until the server closes
        assert answer.count(b"HTTP/1.1 202") == 1 and b"Connection: close\r\n" in answer
        writer.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # Not the fast path's: aiohttp answers each exactly as it would alone.
        (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 200),
        (b"POST /call HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400),  # no Host
        (b"POST /call HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 2\r\n\r\n{}", 400),
        (b"POST /call HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\n{}", 400),
        (b"POST /call HTTP/1.1\r\nHost: x\r\nX: \x01\r\nContent-Length: 2\r\n\r\n{}", 400),
        (b"POST /call HTTP/1.1\r\nHost: x\r\nX : y\r\nContent-Length: 2\r\n\r\n{}", 400),
        (b"POST /call?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 202),
        (b"POST /call HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 202),
        (
            b"POST /call HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\n{}\r\n0\r\n\r\n",
            202,
        ),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)), 400),
        (b"POST /call HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"y" * 600 + b"\r\n\r\n", 400),
    ],
)
async def test_http_fast_path_leaves_what_is_not_simple_to_aiohttp(request_bytes, status):
    seen: list[FastRequest] = []
    async with _server(HttpSecurity(max_header_bytes=512), seen=seen) as server:
        reader, writer = await _connect(server)
        writer.write(request_bytes)
        assert [answer[0] for answer in await _answers(reader, 1)] == [status]
        assert seen == []
        writer.close()


async def test_http_fast_path_refuses_a_field_of_blanks_in_linear_time():
    # Spaces and tabs, then a control byte: a backtracking pattern took minutes on it.
    hostile = b"POST /call HTTP/1.1\r\nHost: x\r\nX:" + b" \t" * 4000 + b"\x01\r\n\r\n"
    async with _server() as server:
        reader, writer = await _connect(server)
        writer.write(hostile)
        assert [answer[0] for answer in await _answers(reader, 1, timeout=2)] == [400]
        writer.close()


async def test_http_fast_path_bodies_over_its_limit_go_to_aiohttp_and_over_the_guards_413():
    seen: list[FastRequest] = []
    security = HttpSecurity(max_body_bytes=MAX_BODY_BYTES + 10)
    async with _server(security, seen=seen) as server:
        reader, writer = await _connect(server)
        writer.write(_post(b"x" * (MAX_BODY_BYTES + 1)))
        # aiohttp's own cap on a body read whole (1 MiB): as without the fast path
        assert [answer[0] for answer in await _answers(reader, 1)] == [413]
        writer.close()
        assert server.guard is not None and server.guard.metrics["requests_refused/413"] == 0
        reader, writer = await _connect(server)
        writer.write(_post(b"x" * (MAX_BODY_BYTES + 11)))
        assert [answer[0] for answer in await _answers(reader, 1)] == [413]
        writer.close()
        assert seen == []
        assert server.guard is not None and server.guard.metrics["requests_refused/413"] == 1


async def test_http_fast_path_needs_the_guards_credentials():
    seen: list[FastRequest] = []
    security = HttpSecurity(credentials={"ops": "s3cret"}, authenticate_readwrite=True)
    token = base64.b64encode(b"ops:s3cret")
    async with _server(security, seen=seen) as server:
        reader, writer = await _connect(server)
        writer.write(_post(FAST, b"Authorization: Basic " + token))
        assert [answer[0] for answer in await _answers(reader, 1)] == [202]
        assert seen[0].principal == "ops"
        writer.write(_post(SLOW, b"Authorization: Basic " + token))
        assert (await _answers(reader, 1))[0][2] == b"slow ops"
        writer.close()
        reader, writer = await _connect(server)
        writer.write(_post(FAST, b"Authorization: Basic " + base64.b64encode(b"ops:wrong")))
        [(status, head, _)] = await _answers(reader, 1)
        assert status == 401 and b'WWW-Authenticate: Basic realm="mesos-readwrite"' in head
        writer.close()
        assert len(seen) == 2
        assert server.guard is not None and server.guard.metrics["requests_refused/401"] == 1


async def test_http_fast_path_partial_requests_are_cut_after_the_request_timeout():
    async with _server(HttpSecurity(request_timeout=0.3)) as server:
        reader, writer = await _connect(server)
        writer.write(_post(FAST) + b"POST /call HTTP/1.1\r\nHo")  # a next request never ends
        assert [answer[0] for answer in await _answers(reader, 1)] == [202]
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 408")
        writer.close()
        reader, writer = await _connect(server)
        writer.write(_post(FAST)[:-1])  # the body's last byte never comes
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 408")
        writer.close()
        assert server.guard is not None and server.guard.metrics["requests_timed_out"] == 2


async def test_http_fast_path_idles_keep_alive_then_closes(monkeypatch):
    monkeypatch.setattr(guard_module, "KEEPALIVE_SECONDS", 0.6)
    async with _server(HttpSecurity(request_timeout=0.3)) as server:
        reader, writer = await _connect(server)
        writer.write(_post(FAST))
        assert [answer[0] for answer in await _answers(reader, 1)] == [202]
        await asyncio.sleep(0.4)  # idle past the request timeout: still open
        writer.write(_post(FAST))
        assert [answer[0] for answer in await _answers(reader, 1)] == [202]
        assert await asyncio.wait_for(reader.read(), 5) == b""  # idle past keep-alive
        writer.close()
        assert server.guard is not None and server.guard.metrics["requests_timed_out"] == 0


async def test_http_fast_path_speaks_tls_and_hands_over_under_it(tmp_path):
    cert, key = _self_signed(tmp_path)
    seen: list[FastRequest] = []
    async with _server(HttpSecurity(ssl=ssl_context(cert, key)), seen=seen) as server:
        trusted = ssl.create_default_context(cafile=cert)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=trusted)
        writer.write(_post(FAST) + _post(SLOW) + _post(FAST))
        assert [answer[0] for answer in await _answers(reader, 3)] == [202, 200, 202]
        assert [request.body for request in seen] == [FAST, SLOW]
        writer.close()


async def test_http_fast_path_connection_limit_comes_first():
    async with _server(HttpSecurity(max_connections_per_client=1)) as server:
        reader, writer = await _connect(server)
        writer.write(_post(FAST))
        assert [answer[0] for answer in await _answers(reader, 1)] == [202]
        refused_reader, refused_writer = await _connect(server)
        refused_writer.write(_post(FAST))
        assert (await asyncio.wait_for(refused_reader.read(), 5)).startswith(b"HTTP/1.1 503")
        refused_writer.close()
        writer.close()


async def test_http_fast_path_stops_reading_a_client_that_does_not_read_its_answers():
    async with _server() as server:
        reader, writer = await _connect(server)
        calls = 20_000
        sent = asyncio.ensure_future(_write_all(writer, _post(FAST) * calls))
        await asyncio.sleep(0.5)
        assert server.guard is not None
        [transport] = list(server.guard._connections)
        assert transport.get_write_buffer_size() < 1 << 20  # ~1.6 MiB of answers held back
        answers = await _answers(reader, calls)
        await sent
        assert {status for status, _, _ in answers} == {202}
        writer.close()


async def _write_all(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def test_http_fast_path_connections_close_with_the_server():
    async with _server() as server:
        reader, writer = await _connect(server)
        writer.write(_post(FAST))
        assert [answer[0] for answer in await _answers(reader, 1)] == [202]
        await server.close()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


# -- the same answers with and without the fast path ------------------------------------

_FIELDS = st.sampled_from(
    [
        b"Host: x",
        b"Host: x",
        b"Content-Length: 2",
        b"Content-Length: 0",
        b"Content-Length: 9",
        b"Content-Length: 02",
        b"Content-Length: 2x",
        b"Connection: close",
        b"Connection: keep-alive",
        b"Connection: upgrade",
        b"Expect: 100-continue",
        b"Transfer-Encoding: chunked",
        b"X-Tab:\tv\t",
        b"X-Empty:",
        b" folded",
        b"Bad Name: v",
        b"X-Ctl: \x7f",
        b"X-Latin: \xe9",
    ]
)
_LINES = st.sampled_from(
    [
        b"POST /call HTTP/1.1",
        b"POST /call HTTP/1.1",
        b"POST /call HTTP/1.0",
        b"POST /call?x=1 HTTP/1.1",
        b"post /call HTTP/1.1",
        b"POST /other HTTP/1.1",
        b"GET /health HTTP/1.1",
        b"POST  /call HTTP/1.1",
        b"POST /call HTTP/2.0",
    ]
)
_BODIES = st.sampled_from([FAST, SLOW, b"{", b"", b"{}{}{}{}{}"])


@st.composite
def _requests(draw: st.DrawFn) -> bytes:
    """A call the fast path takes, then a few mutations of it (or hostile bytes)."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=40))
    body = draw(_BODIES)
    line = b"POST /call HTTP/1.1"
    fields = [b"Host: x", b"Content-Length: %d" % len(body)]
    end = b"\r\n"
    for mutation in draw(st.lists(st.sampled_from([0, 1, 2, 2, 2, 3, 4]), max_size=2)):
        if mutation == 0:
            line = draw(_LINES)
        elif mutation == 1 and fields:
            del fields[draw(st.integers(0, len(fields) - 1))]
        elif mutation == 2:
            fields.insert(draw(st.integers(0, len(fields))), draw(_FIELDS))
        elif mutation == 3:
            end = b"\n"
        elif mutation == 4:
            body = draw(_BODIES)
    return end.join([line, *fields]) + end + end + body


LAST = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_http_fast_path_answers_arbitrary_bytes_as_aiohttp_does():
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        fast = runner.run(serve_app(_app(fast=True), "127.0.0.1", 0))
        plain = runner.run(serve_app(_app(fast=False), "127.0.0.1", 0))

        @settings(
            max_examples=100,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            derandomize=True,
        )
        @given(st.lists(_requests(), min_size=1, max_size=3))
        def same_answers(requests: list[bytes]) -> None:
            writes = [*requests, LAST]
            answered = runner.run(_exchange(fast, writes))
            expected = runner.run(_exchange(plain, writes))
            if answered != expected:
                # aiohttp alone dropped the requests read with a malformed one (see
                # FastPathProtocol._answer_buffered); the fast path answered them.
                assert expected[-1:] == answered[-1:] == [b"HTTP/1.0 400 "]
                assert answered[: len(expected) - 1] == expected[:-1]

        try:
            same_answers()
        finally:
            runner.run(fast.close())
            runner.run(plain.close())


async def _exchange(server: HttpServer, writes: list[bytes]) -> list[bytes]:
    """The status lines the server answers to `writes` (each its own read, most likely);
    its closing the connection, or a pause, ends it. (Not the reasons of aiohttp's 400s:
    they quote what its parser had read, which the fast path may have held a while.) Answers
    are read as they come: a server that answers and closes may reset the connection
    at the next write, losing what was not read yet."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    received: list[bytes] = []

    async def read() -> None:
        with contextlib.suppress(TimeoutError, ConnectionError):
            while chunk := await asyncio.wait_for(reader.read(1 << 16), 0.3):
                received.append(chunk)

    reading = asyncio.ensure_future(read())
    with contextlib.suppress(ConnectionError, RuntimeError):  # uvloop's, once closed
        for data in writes:
            writer.write(data)
            await asyncio.sleep(0.005)
    await reading
    writer.close()
    return _STATUS_LINE.findall(b"".join(received))


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] \d{3} ")
