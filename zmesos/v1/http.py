"""The HTTP side every v1 API shares: reading a JSON call, refusing bad ones, event streams.

A call is `POST` with `Content-Type: application/json` and a body of at most
`MAX_CALL_BYTES`; protobuf bodies get 415 (zmesos speaks JSON only), a client
that accepts only protobuf gets 406, an oversized body 413, malformed JSON
or a call without a `type` 400. Handlers raise `Refused(status, reason)` or
`ApiError` (400) and `api_endpoint` turns them into a plain-text answer.

`EventStream` is one long response: 200, chunked, RecordIO of JSON events.
Actors feed it with `send(event)`, which never blocks: events wait in a
bounded queue that one writer task drains. A client that does not read its
stream fills the queue; the stream is then closed (its connection aborted),
so a slow or hostile reader costs at most the queue's bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
import structlog
from aiohttp import web

from zmesos.errors import ApiError
from zmesos.v1.recordio import encode

__all__ = [
    "MAX_CALL_BYTES",
    "EventStream",
    "Refused",
    "api_endpoint",
    "check_call_headers",
    "decode_call",
    "read_call",
    "read_call_body",
    "refusal",
]

MAX_CALL_BYTES = 16 * 1024 * 1024  # an ACCEPT of thousands of tasks fits
JSON = "application/json"
PROTOBUF = "application/x-protobuf"
RECORDIO = "application/recordio"

log = structlog.get_logger("zmesos.v1")


class Refused(Exception):
    """Answer the request with `status` and `reason` (plain text)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def api_endpoint(name: str, handler: Handler) -> Handler:
    """`handler`, with Refused and ApiError answered as plain text (and logged)."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (ApiError, Refused) as error:
            status, reason = refusal(name, error)
        return web.Response(status=status, text=reason)

    return endpoint


def refusal(endpoint: str, error: ApiError | Refused) -> tuple[int, str]:
    """The status and plain-text reason `error` is answered with (logged here)."""
    if isinstance(error, Refused):
        status, reason = error.status, error.reason
    else:
        status, reason = 400, str(error)
    log.info("api_call_refused", endpoint=endpoint, status=status, reason=reason)
    return status, reason


async def read_call(request: web.Request, max_bytes: int = MAX_CALL_BYTES) -> dict[str, Any]:
    """The call's JSON object, with a string `type`; Refused otherwise."""
    return decode_call(await read_call_body(request, max_bytes))


async def read_call_body(request: web.Request, max_bytes: int = MAX_CALL_BYTES) -> bytes:
    """The call's body, its content type, accepted types and size checked; Refused otherwise."""
    check_call_headers(request.headers)
    length = request.content_length
    if length is not None and length > max_bytes:
        raise Refused(413, f"Request body is over the limit of {max_bytes} bytes")
    content = request.content
    if length is not None and content.is_eof():
        # The whole body came with the headers (the usual case for a call): take it
        # without a coroutine's round trip (a tenth of read_call's CPU on a v1 framework).
        body = content.read_nowait()
        if len(body) != length:
            raise Refused(400, "Request body is shorter than its Content-Length")
    elif length is not None:
        try:
            body = await content.readexactly(length)
        except asyncio.IncompleteReadError:
            raise Refused(400, "Request body is shorter than its Content-Length") from None
    else:  # chunked: read up to the limit
        chunks: list[bytes] = []
        size = 0
        async for chunk in content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > max_bytes:
                raise Refused(413, f"Request body is over the limit of {max_bytes} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
    return body


def check_call_headers(headers: Mapping[str, str]) -> None:
    """Refused unless the call is JSON and its answer may be (`headers` looked up by
    lower-case names: aiohttp's are case-insensitive, the fast path's lower case)."""
    content_type = _media_type(headers.get("content-type", ""))
    if content_type == PROTOBUF:
        raise Refused(415, "Protobuf requests are not supported; send JSON (application/json)")
    if content_type != JSON:
        raise Refused(415, f"Expecting 'Content-Type' of {JSON}, got {content_type!r}")
    accepts = headers.get("accept", "")
    message_accepts = headers.get("message-accept", "")
    if _only_protobuf(accepts) or _only_protobuf(message_accepts):
        raise Refused(406, "Protobuf responses are not supported; accept application/json")


@functools.lru_cache(maxsize=64)  # clients send the same few headers on every call
def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def decode_call(body: bytes) -> dict[str, Any]:
    """A call's body as its JSON object, with a string `type`; Refused otherwise."""
    try:
        call = _decode(body)
    except msgspec.DecodeError as error:
        raise Refused(400, f"Malformed JSON: {error}") from None
    if not isinstance(call, dict):
        raise Refused(400, "Expecting a JSON object")
    if not isinstance(call.get("type"), str):
        raise Refused(400, "Expecting 'type' to be present")
    return call


_decode = msgspec.json.Decoder().decode


@functools.lru_cache(maxsize=64)  # clients send the same few headers on every call
def _only_protobuf(accept: str) -> bool:
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()}
    return bool(kinds) and not kinds & {JSON, "*/*", "application/*", RECORDIO}


class EventStream:
    """A RecordIO stream of JSON events; see the module docstring.

    `on_close` callbacks run once, when the stream ends for any reason (the
    client went away, `close()`, the queue overflowed).
    """

    def __init__(self, *, max_pending: int = 10_000, max_pending_bytes: int = 32 << 20) -> None:
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.closed = False
        self.close_reason = ""
        self._pending: collections.deque[bytes] = collections.deque()
        self._pending_bytes = 0
        self._wakeup = asyncio.Event()
        self._on_close: list[Callable[[EventStream], None]] = []
        self._transport: asyncio.BaseTransport | None = None

    def on_close(self, callback: Callable[[EventStream], None]) -> None:
        if self.closed:
            callback(self)
        else:
            self._on_close.append(callback)

    def send(self, event: dict[str, Any]) -> None:
        """Queue one event; never blocks. Overflow closes the stream."""
        if self.closed:
            return
        record = encode(msgspec.json.encode(event))
        self._pending.append(record)
        self._pending_bytes += len(record)
        if len(self._pending) > self.max_pending or self._pending_bytes > self.max_pending_bytes:
            self.close("the client is not reading its stream", abort=True)
            return
        self._wakeup.set()

    def close(self, reason: str, *, abort: bool = False) -> None:
        """End the stream once what is queued is written (`abort`: drop it, cut the connection)."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        if abort:
            self._pending.clear()
            if self._transport is not None:
                self._transport.abort()  # type: ignore[attr-defined]
        self._wakeup.set()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback(self)

    async def serve(self, request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
        """Write the stream as the response to `request` until it closes."""
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON, **headers})
        response.enable_chunked_encoding()
        self._transport = request.transport
        try:
            await response.prepare(request)
            while True:
                while self._pending:
                    batch = [self._pending.popleft() for _ in range(min(len(self._pending), 256))]
                    self._pending_bytes -= sum(map(len, batch))
                    await response.write(b"".join(batch))
                if self.closed:
                    break
                self._wakeup.clear()
                await self._wakeup.wait()
        except (ConnectionError, RuntimeError) as error:  # the client went away mid-write
            self.close(f"connection lost: {error}")
        finally:
            self.close("the client closed the connection")
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response
