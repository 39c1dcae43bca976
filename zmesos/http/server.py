"""Serving an aiohttp application on an address, and the JSON answers every endpoint gives."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable

import msgspec
from aiohttp import web

from zmesos.http.fast_path import FastPathProtocol, FastRoute
from zmesos.http.guard import HttpGuard, HttpSecurity

__all__ = ["FAST_ROUTES", "HttpServer", "guard_snapshot", "json_response", "serve_app"]

SHUTDOWN_GRACE = 1.0  # seconds
GUARD_KEY = web.AppKey("http_guard", HttpGuard)
# Paths whose simple POSTs a function answers on the connection (zmesos.http.fast_path).
FAST_ROUTES: web.AppKey[dict[str, FastRoute]] = web.AppKey("fast_routes")


def guard_snapshot(app: web.Application, prefix: str) -> dict[str, float]:
    """The refusals of the guard `app` is served behind (HttpGuard.snapshot); none when it is
    served some other way (a test's client)."""
    guard = app.get(GUARD_KEY)
    return guard.snapshot(prefix) if guard is not None else {}


@dataclasses.dataclass
class HttpServer:
    """A running HTTP server; `port` is the bound port (useful with port 0)."""

    runner: web.AppRunner
    host: str
    port: int
    listener: asyncio.AbstractServer | None = None
    guard: HttpGuard | None = None
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    async def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        await self.runner.cleanup()
        if self.guard is not None:
            self.guard.close_connections()  # the fast path's, which aiohttp never saw


def json_response(payload: object, status: int = 200) -> web.Response:
    """`payload` as JSON. Encoded with msgspec (a 10,000-task /state: ~60 ms against ~200 ms
    with the json module); text that is not valid Unicode (a file's bytes kept as lone
    surrogates, agent.files) goes through the json module, which escapes them."""
    try:
        body = msgspec.json.encode(payload)
    except UnicodeEncodeError:
        body = json.dumps(payload).encode()
    return web.Response(body=body, status=status, content_type="application/json")


async def serve_app(
    app: web.Application, host: str, port: int, security: HttpSecurity | None = None
) -> HttpServer:
    """Start serving `app` on `host:port` (0: an ephemeral port) on the running loop.

    Every connection passes the guard of `security` (zmesos.http.guard: limits,
    basic authentication, TLS; the defaults when None). The POSTs of the paths
    `app[FAST_ROUTES]` names are answered without aiohttp's web stack where
    they can be (zmesos.http.fast_path). A client that goes away
    cancels its handler (`handler_cancellation`): that is how a long event stream
    learns its reader left. Closing waits at most `SHUTDOWN_GRACE` for requests
    in flight (event streams never end by themselves).
    """
    security = security or HttpSecurity()
    guard = HttpGuard(security)
    app.middlewares.insert(0, guard.middleware)
    app[GUARD_KEY] = guard  # for the /metrics/snapshot it serves (guard_snapshot)
    # What request.read(), json() and post() take whole: aiohttp's 1 MiB, or less if set lower.
    app._client_max_size = min(app._client_max_size, security.max_body_bytes)
    runner = web.AppRunner(
        app,
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=SHUTDOWN_GRACE,
        **guard.handler_args,
    )
    await runner.setup()
    assert runner.server is not None
    connection: Callable[[], asyncio.Protocol] = runner.server
    routes = app.get(FAST_ROUTES)
    if routes:
        server = runner.server
        connection = lambda: FastPathProtocol(server(), routes, guard)  # noqa: E731
    loop = asyncio.get_running_loop()
    try:
        listener = await loop.create_server(
            guard.protocol_factory(connection),
            host,
            port,
            ssl=security.ssl,
            reuse_address=True,
        )
    except BaseException:
        await runner.cleanup()
        raise
    bound = listener.sockets[0].getsockname()[1] if listener.sockets else port
    return HttpServer(runner, host, bound, listener, guard, security.scheme)
