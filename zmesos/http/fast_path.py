"""Small POSTs answered on the connection itself, without aiohttp's web stack.

A v1 framework makes about three calls per task (two ACKNOWLEDGEs, ACCEPTs,
DECLINEs), each a POST of a small JSON body answered 202 at once. aiohttp
spends more CPU on each (a task step, a request, the middlewares, a response,
one write per answer) than the master spends on what the call says. A
`FastPathProtocol` sits between the guard (zmesos.http.guard) and aiohttp's
protocol of one connection: it parses requests as they arrive, answers those a
route's synchronous function takes, every answer to a batch of pipelined
requests in one write, and hands the connection over to aiohttp for good, with
every byte it has not answered, at the first request it does not take.

It takes a request only when all of this holds; anything else is aiohttp's,
which answers exactly as it would without this module:
- `POST <path> HTTP/1.1` where `path` is a route's, byte for byte (no query);
- a head of at most the guard's `max_header_bytes` and `MAX_FIELDS` fields,
  each `name: value` in printable ASCII (no folding), none named twice, one
  Host;
- a Content-Length body of at most `MAX_BODY_BYTES` (and of the guard's
  limit); no Transfer-Encoding, Expect or Upgrade; a Connection of
  `keep-alive` or `close`, if any;
- when the guard asks for basic authentication, valid credentials (the
  principal is the request's);
- the route's function answers it: it returns None for what it leaves to
  aiohttp (a SUBSCRIBE's stream, a call answered later, a master that does not
  lead), before doing anything.

The guard's limits hold on both sides of the handover: admission and the
per-client count come first (the guard's protocol wraps this one), a request
must arrive whole in time (`HttpGuard.request_answered`), and a client that
stops reading its answers stops being read (the transport's write buffer).
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import re
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp.http import SERVER_SOFTWARE

from zmesos.http.guard import HttpGuard

__all__ = ["MAX_BODY_BYTES", "FastAnswer", "FastPathProtocol", "FastRequest", "FastRoute"]

log = structlog.get_logger()

MAX_BODY_BYTES = 1 << 20  # larger bodies (an ACCEPT of thousands of tasks) stream via aiohttp
MAX_FIELDS = 100  # aiohttp refuses more than 128
_REQUEST_LINE = re.compile(rb"POST (/[!-~]*) HTTP/1\.1\r\n")
# One class per part, none overlapping the next: linear time on any input (a value of
# spaces and tabs, with a lazy group, took minutes to refuse).
_FIELD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([\t -~]*)\r\n")
_HANDED_TO_AIOHTTP = frozenset({"transfer-encoding", "expect", "upgrade"})
_CONNECTION = {"keep-alive": True, "close": False}


@dataclasses.dataclass(frozen=True, slots=True)
class FastRequest:
    """A whole request the fast path parsed: header names are lower case."""

    path: str
    headers: Mapping[str, str]
    body: bytes
    principal: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class FastAnswer:
    """The answer to one request: a status, with `text` as a plain-text body if any."""

    status: int
    text: str = ""


# A route's function: the answer, or None to leave the request (untouched) to aiohttp.
FastRoute = Callable[[FastRequest], FastAnswer | None]
_FAILED = FastAnswer(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")


class _Incomplete(Exception):
    """The request has not arrived whole yet."""


class _NotOurs(Exception):
    """The request is aiohttp's to answer."""


class FastPathProtocol(asyncio.Protocol):
    """One connection: `routes` (path -> function) answered here, the rest by `inner`."""

    def __init__(
        self, inner: asyncio.Protocol, routes: Mapping[str, FastRoute], guard: HttpGuard
    ) -> None:
        self.inner = inner
        self.routes = routes
        self.guard = guard
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.handed_over = False
        self._buffer = b""
        self._writing_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.handed_over:
            self.inner.data_received(data)
            return
        if self.transport.is_closing():  # answered `Connection: close`
            return
        self._buffer = self._buffer + data if self._buffer else data
        if not self._writing_paused:
            self._answer_buffered()

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.handed_over else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.handed_over:
            self.inner.connection_lost(exc)
        self._buffer = b""

    def pause_writing(self) -> None:
        if self.handed_over:
            self.inner.pause_writing()
            return
        # The client is not reading its answers: stop reading its requests.
        self._writing_paused = True
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.handed_over:
            self.inner.resume_writing()
            return
        self._writing_paused = False
        self.transport.resume_reading()
        if self._buffer:
            self._answer_buffered()

    # -- requests --------------------------------------------------------------------

    def _answer_buffered(self) -> None:
        """Answer every whole request buffered, in one write; hand over at one not ours.

        Each request taken gets the answer aiohttp would give it. One difference on
        malformed input: aiohttp drops the requests whose heads it read in the same read
        as a malformed one and answers only that one (400), while here those before it
        are answered -- as aiohttp answers them when they arrive in reads of their own."""
        buffer, offset, answers = self._buffer, 0, []
        keep_alive, hand_over = True, False
        while offset < len(buffer):
            try:
                request, end, keep_alive = self._parse(buffer, offset)
            except _Incomplete:
                break
            except _NotOurs:
                hand_over = True
                break
            try:
                answer = self.routes[request.path](request)
            except Exception:  # a bug of ours: answered and closed, as aiohttp does
                log.exception("http_fast_path_route_failed", path=request.path)
                answer, keep_alive = _FAILED, False
            if answer is None:  # the route's function left it to aiohttp, untouched
                keep_alive = hand_over = True
                break
            answers.append(_render(answer, keep_alive))
            offset = end
            if not keep_alive:
                break
        self._buffer = buffer[offset:] if keep_alive else b""
        if answers:
            self.transport.write(b"".join(answers))
        if not keep_alive:
            self.transport.close()
        elif hand_over:
            self._hand_over()
        elif answers:
            self.guard.request_answered(self.transport, next_begun=bool(self._buffer))

    def _hand_over(self) -> None:
        """From now on aiohttp serves this connection, from the first byte not answered."""
        self.handed_over = True
        buffer, self._buffer = self._buffer, b""
        self.inner.connection_made(self.transport)
        if buffer:
            self.inner.data_received(buffer)

    def _parse(self, buffer: bytes, offset: int) -> tuple[FastRequest, int, bool]:
        """The request at `offset`, where the next one starts, and whether to keep alive."""
        limit = self.guard.security.max_header_bytes
        end = buffer.find(b"\r\n\r\n", offset, offset + limit)
        if end < 0:
            if not b"POST /".startswith(buffer[offset : offset + 6]):
                raise _NotOurs
            if len(buffer) - offset >= limit:
                raise _NotOurs
            raise _Incomplete
        line = _REQUEST_LINE.match(buffer, offset, end + 2)
        if line is None:
            raise _NotOurs
        path = line[1].decode()
        if path not in self.routes:
            raise _NotOurs
        headers = _fields(buffer, line.end(), end + 2)
        keep_alive = _CONNECTION.get(headers.get("connection", "keep-alive").lower())
        if keep_alive is None or "host" not in headers:
            raise _NotOurs
        if not _HANDED_TO_AIOHTTP.isdisjoint(headers):
            raise _NotOurs
        length = _content_length(headers, self.guard.security.max_body_bytes)
        authenticated, principal = self.guard.authenticate(
            "POST", path, headers.get("authorization", "")
        )
        if not authenticated:
            raise _NotOurs  # aiohttp's side answers 401, logs and counts it
        body_start = end + 4
        if len(buffer) - body_start < length:
            raise _Incomplete
        body = buffer[body_start : body_start + length]
        return FastRequest(path, headers, body, principal), body_start + length, keep_alive


def _fields(buffer: bytes, start: int, end: int) -> dict[str, str]:
    """The header fields in `buffer[start:end]`, by lower-case name; _NotOurs if any is
    malformed or named twice, or there are too many."""
    headers: dict[str, str] = {}
    while start < end:
        field = _FIELD.match(buffer, start, end)
        if field is None or len(headers) >= MAX_FIELDS:
            raise _NotOurs
        name = field[1].decode().lower()
        if name in headers:
            raise _NotOurs
        headers[name] = field[2].decode().strip(" \t")
        start = field.end()
    return headers


def _content_length(headers: Mapping[str, str], max_body_bytes: int) -> int:
    text = headers.get("content-length")
    if text is None or not text.isdigit() or len(text) > 10:
        raise _NotOurs
    length = int(text)
    if length > MAX_BODY_BYTES or length > max_body_bytes:
        raise _NotOurs  # aiohttp's side streams it, or answers 413
    return length


def _render(answer: FastAnswer, keep_alive: bool) -> bytes:
    body = answer.text.encode()
    head = _status_line(answer.status)
    if body:
        head += b"Content-Type: text/plain; charset=utf-8\r\n"
    connection = b"" if keep_alive else b"Connection: close\r\n"
    return b"%sContent-Length: %d\r\nDate: %s\r\nServer: %s\r\n%s\r\n%s" % (
        head,
        len(body),
        _date(),
        _SERVER,
        connection,
        body,
    )


_SERVER = SERVER_SOFTWARE.encode()
_status_lines: dict[int, bytes] = {}


def _status_line(status: int) -> bytes:
    line = _status_lines.get(status)
    if line is None:
        line = _status_lines[status] = b"HTTP/1.1 %d %s\r\n" % (
            status,
            HTTPStatus(status).phrase.encode(),
        )
    return line


_date_cache: list[Any] = [0, b""]


def _date() -> bytes:
    """The Date header's value, formatted once a second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, email.utils.formatdate(now, usegmt=True).encode()]
    return _date_cache[1]
