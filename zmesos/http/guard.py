"""What the master's and the agent's HTTP servers let in: limits, basic authentication, TLS.

One `HttpGuard` per server, set from the same flags on both:

- Limits. A request line and each header field are at most `max_header_bytes`
  and a request has at most 128 header fields (aiohttp's parser answers 400
  above); a body announced above `max_body_bytes` is refused with 413 before a
  byte of it is read. Endpoints that read a body whole (forms, JSON) keep
  aiohttp's 1 MiB cap, or this limit if lower (413 too); the v1 APIs read up to
  their own 16 MiB. A request must arrive whole, headers and body, within
  `request_timeout` of the connection opening or of its first byte (a slowloris
  client, sending a header a byte at a time, is cut then: 408 when no request
  is in progress); between requests a connection may idle `KEEPALIVE_SECONDS`.
  With `max_connections_per_client` (0, no limit, by default: every loopback
  client is one address) a client IP holds at most that many connections at
  once; beyond, the connection is answered 503 and closed at once.
- Basic authentication (RFC 7617) against `credentials` (Mesos's JSON
  credentials format, `--http-credentials`). With `authenticate_readonly`,
  GET and HEAD requests need it; with `authenticate_readwrite`, every other
  method (the v1 APIs are POSTs, as in Mesos). Missing or wrong credentials are
  answered 401 with `WWW-Authenticate: Basic realm="<role>-readonly"` (or
  `-readwrite`), as Mesos names its realms. The authenticated principal is
  put in `request[PRINCIPAL_KEY]` (zmesos.http.principal), for the ACLs (403). A few
  paths stay open: `/health`; `/actor`, where nodes learn an actor endpoint;
  `/api/v1/executor`, which executors the agent starts call without
  credentials (Mesos authenticates executors apart, with its own flag).
- TLS: with a certificate and key, the server speaks HTTPS only (TLS 1.2 at
  least).

The fast path (zmesos.http.fast_path), which answers simple POSTs outside
aiohttp, is wrapped by the same protocol, asks `authenticate` and reports
`request_answered` here, and leaves every refusal to the middleware (it hands
such requests to aiohttp), so refusals are counted and logged in one place.

Every refusal is logged (`dropping_http_request` / `dropping_http_connection`,
rate-limited like every `dropping_*` line) and counted in `metrics`; the
server's `/metrics/snapshot` shows them (`snapshot`: `<prefix>/http_...`, zeros
included, so a dashboard finds them before the first refusal).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hmac
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from aiohttp import web

from zmesos.errors import FlagsError
from zmesos.http.principal import PRINCIPAL_KEY

__all__ = ["HttpGuard", "HttpSecurity", "ssl_context"]

log = structlog.get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_MAX_HEADER_BYTES = 8190  # aiohttp's own default for a line and for a field
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024  # the v1 APIs' own limit (an ACCEPT of many tasks)
DEFAULT_REQUEST_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 0  # no limit, as in Mesos: loopback clients are one IP
# How long a connection may sit idle between requests (aiohttp's own keep-alive default).
KEEPALIVE_SECONDS = 75.0
OPEN_PATHS = frozenset({"/health", "/actor", "/api/v1/executor"})
_READ_METHODS = frozenset({"GET", "HEAD"})
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_TOO_MANY_TEXT = b"too many connections from your address"
_TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TOO_MANY_TEXT), _TOO_MANY_TEXT)
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpSecurity:
    """How a server guards its door; the defaults are today's open server, with limits."""

    role: str = "mesos"  # realms are "<role>-readonly" and "<role>-readwrite"
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_connections_per_client: int = DEFAULT_MAX_CONNECTIONS_PER_CLIENT
    credentials: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    authenticate_readonly: bool = False
    authenticate_readwrite: bool = False
    ssl: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if self.max_header_bytes < 256:
            raise FlagsError("--http-max-header-bytes must be >= 256")
        if self.max_body_bytes < 1:
            raise FlagsError("--http-max-body-bytes must be >= 1")
        if self.request_timeout <= 0:
            raise FlagsError("--http-request-timeout must be > 0")
        if self.max_connections_per_client < 0:
            raise FlagsError("--http-max-connections-per-client must be >= 0 (0: no limit)")
        if (self.authenticate_readonly or self.authenticate_readwrite) and not self.credentials:
            raise FlagsError(
                "--authenticate-http-readonly/--authenticate-http-readwrite need --http-credentials"
            )

    @property
    def scheme(self) -> str:
        return "https" if self.ssl is not None else "http"


def ssl_context(cert: str, key: str) -> ssl.SSLContext | None:
    """The server's TLS context from `--ssl-cert` and `--ssl-key` (None when both are empty)."""
    if not cert and not key:
        return None
    if not cert or not key:
        raise FlagsError("--ssl-cert and --ssl-key go together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        raise FlagsError(f"--ssl-cert/--ssl-key: cannot load {cert} and {key}: {reason}") from None
    return context


# What `snapshot` shows, name -> the counter in `metrics` (see the module docstring).
SNAPSHOT_NAMES = {
    "http_requests_refused/unauthenticated": "requests_refused/401",
    "http_requests_refused/too_large": "requests_refused/413",
    "http_requests_timed_out": "requests_timed_out",
    "http_connections_refused": "connections_refused",
}


class _Connection:
    """One client connection's bookkeeping: its address, deadline and request in progress."""

    __slots__ = ("busy", "client", "deadline", "receiving", "transport")

    def __init__(self, client: str, transport: asyncio.BaseTransport) -> None:
        self.client = client
        self.transport = transport
        self.deadline: asyncio.TimerHandle | None = None
        self.busy = False  # a request is being handled
        self.receiving = True  # a request is arriving (at first: one must come)


class HttpGuard:
    """Enforces an `HttpSecurity` on one server: a protocol wrapper and a middleware."""

    def __init__(self, security: HttpSecurity) -> None:
        self.security = security
        self.metrics: Counter[str] = Counter()
        self._per_client: Counter[str] = Counter()
        self._connections: dict[asyncio.BaseTransport, _Connection] = {}

    def snapshot(self, prefix: str) -> dict[str, float]:
        """The refusals counted so far, as `/metrics/snapshot` names them under `prefix`
        ("master", "slave")."""
        return {
            f"{prefix}/{name}": float(self.metrics[counter])
            for name, counter in SNAPSHOT_NAMES.items()
        }

    @property
    def handler_args(self) -> dict[str, Any]:
        """The aiohttp parser's limits on the request line and header fields."""
        limit = self.security.max_header_bytes
        return {"max_line_size": limit, "max_field_size": limit}

    def protocol_factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], Any]:
        return lambda: _GuardedProtocol(inner(), self)

    # -- connections ---------------------------------------------------------------

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        limit = self.security.max_connections_per_client
        if limit and self._per_client[client] >= limit:
            self.metrics["connections_refused"] += 1
            log.warning(
                "dropping_http_connection",
                reason="too many connections from this client",
                client=client,
                limit=limit,
            )
            return False
        self._per_client[client] += 1
        connection = _Connection(client, transport)
        self._connections[transport] = connection
        self._arm(connection)
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        connection = self._connections.pop(transport, None)
        if connection is None:
            return
        if connection.deadline is not None:
            connection.deadline.cancel()
        self._per_client[connection.client] -= 1
        if self._per_client[connection.client] <= 0:
            del self._per_client[connection.client]

    def _arm(self, connection: _Connection, seconds: float | None = None) -> None:
        if connection.deadline is not None:
            connection.deadline.cancel()
        loop = asyncio.get_running_loop()
        connection.deadline = loop.call_later(
            seconds or self.security.request_timeout, self._timed_out, connection
        )

    def data_arrived(self, transport: asyncio.BaseTransport) -> None:
        """Bytes on an idle connection: a request has begun and must arrive in time."""
        connection = self._connections.get(transport)
        if connection is not None and not connection.busy and not connection.receiving:
            connection.receiving = True
            self._arm(connection)

    def request_answered(self, transport: asyncio.BaseTransport, *, next_begun: bool) -> None:
        """Requests were answered outside aiohttp (zmesos.http.fast_path): the connection
        idles until the next one, or, with the next one begun, that one must arrive whole
        within `request_timeout`."""
        connection = self._connections.get(transport)
        if connection is None:
            return
        connection.busy = False
        connection.receiving = next_begun
        self._arm(connection, None if next_begun else KEEPALIVE_SECONDS)

    def close_connections(self) -> None:
        """Close every connection still open (those aiohttp never saw: the fast path's)."""
        for transport in list(self._connections):
            transport.close()

    def _disarm(self, connection: _Connection) -> None:
        if connection.deadline is not None:
            connection.deadline.cancel()
            connection.deadline = None

    def _timed_out(self, connection: _Connection) -> None:
        connection.deadline = None
        if not connection.busy and not connection.receiving:  # idle past keep-alive
            connection.transport.close()
            return
        self.metrics["requests_timed_out"] += 1
        log.warning(
            "dropping_http_connection",
            reason="request not received in time",
            client=connection.client,
            timeout_seconds=self.security.request_timeout,
            request_in_progress=connection.busy,
        )
        transport = connection.transport
        if not connection.busy:
            _write(transport, _TIMED_OUT)
        transport.close()

    # -- requests -----------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        connection = self._connections.get(request.transport)  # type: ignore[arg-type]
        if connection is not None:
            connection.busy = True
            connection.receiving = False
            self._await_body(request, connection)
        try:
            refusal = self._refusal(request)
            if refusal is not None:
                return refusal
            return await handler(request)
        finally:
            if connection is not None and connection.transport in self._connections:
                connection.busy = False
                self._arm(connection, KEEPALIVE_SECONDS)  # idle until the next request

    def _await_body(self, request: web.Request, connection: _Connection) -> None:
        """Keep the deadline until the body has arrived (none: the request is whole now)."""
        if request.body_exists and not request.content.is_eof():
            request.content.on_eof(lambda: self._disarm(connection))
        else:
            self._disarm(connection)

    def _refusal(self, request: web.Request) -> web.StreamResponse | None:
        security = self.security
        length = request.content_length
        if length is not None and length > security.max_body_bytes:
            limit = security.max_body_bytes
            return self._refuse(request, 413, f"Request body is over the limit of {limit} bytes")
        authenticated, principal = self.authenticate(
            request.method, request.path, request.headers.get("Authorization", "")
        )
        if not authenticated:
            reading = request.method in _READ_METHODS
            realm = f"{security.role}-{'readonly' if reading else 'readwrite'}"
            response = self._refuse(request, 401, "authentication required")
            response.headers["WWW-Authenticate"] = f'Basic realm="{realm}"'
            return response
        if principal is not None:
            request[PRINCIPAL_KEY] = principal
        return None

    def authenticate(self, method: str, path: str, authorization: str) -> tuple[bool, str | None]:
        """Whether a `method` request of `path` with this Authorization header passes basic
        authentication, and the principal it proved (None where none is asked)."""
        if path in OPEN_PATHS:
            return True, None
        security = self.security
        reading = method in _READ_METHODS
        if not (security.authenticate_readonly if reading else security.authenticate_readwrite):
            return True, None
        principal = self._principal(authorization)
        return principal is not None, principal

    def _principal(self, header: str) -> str | None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        principal, colon, secret = decoded.partition(":")
        expected = self.security.credentials.get(principal)
        if not colon or expected is None:
            hmac.compare_digest(secret, secret)  # as long as a wrong secret takes
            return None
        if not hmac.compare_digest(secret.encode(), expected.encode()):
            return None
        return principal

    def _refuse(self, request: web.Request, status: int, reason: str) -> web.Response:
        self.metrics[f"requests_refused/{status}"] += 1
        log.warning(
            "dropping_http_request",
            status=status,
            reason=reason,
            method=request.method,
            path=request.path[:200],
            client=request.remote,
        )
        return web.Response(status=status, text=reason)


def _write(transport: asyncio.BaseTransport, data: bytes) -> None:
    """Write to a transport (uvloop's are not asyncio.WriteTransport subclasses)."""
    write = getattr(transport, "write", None)
    if write is not None:
        write(data)


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's admission and deadline."""

    def __init__(self, inner: asyncio.Protocol, guard: HttpGuard) -> None:
        self.inner = inner
        self.guard = guard
        self.transport: asyncio.BaseTransport | None = None

    @property
    def admitted(self) -> bool:
        return self.transport is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.guard.admit(transport):
            _write(transport, _TOO_MANY)
            transport.close()
            return
        self.transport = transport
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.transport is not None:
            self.guard.data_arrived(self.transport)
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:
            return
        self.guard.release(self.transport)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()
