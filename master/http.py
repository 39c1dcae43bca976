"""The master's HTTP: /health, /state, /metrics/snapshot, /metrics (Prometheus's text,
master.prometheus), /version, /actor, the listing endpoints and /teardown
(master.http_listing), the operator's changes (master.http_operator,
master.http_volumes), the v1 scheduler and operator APIs, /api/v1/scheduler
and /api/v1 (master.v1), and the web UI at `/` (master.webui), on aiohttp.

`/actor` answers `{"pid": "master@host:port"}`: how zmesos's agents and
schedulers, given the master's HTTP address, find its actor endpoint
(zmesos.detector). With `--acls`, a GET of `/metrics/snapshot` or `/metrics` is
asked of get_endpoints first (403 when refused).

Runs on the master's event loop. Handlers never touch the master's state
directly: they `dispatch` a read into the master's (and allocator's) serial
context and serialize the result, so a request sees one consistent moment.
Every path is served both bare and under `/master/` (Mesos serves
`/master/state`; tools also use `/state`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from libprocess import PID, Node, ProcessTerminated
from master import leadership
from master.http_listing import add_listing_routes
from master.http_operator import add_operator_routes
from master.http_volumes import add_volume_routes
from master.prometheus import CONTENT_TYPE, prometheus_inputs, prometheus_text
from master.v1 import OperatorApi, SchedulerApi
from master.webui import add_webui_routes
from zmesos.http import (
    HttpSecurity,
    HttpServer,
    guard_snapshot,
    http_principal,
    json_response,
    serve_app,
)
from zmesos.http.endpoints import endpoint_authorization
from zmesos.http.fast_path import FastAnswer, FastRequest, FastRoute
from zmesos.http.server import FAST_ROUTES
from zmesos.v1.http import api_endpoint
from zmesos.version import version_json

__all__ = ["AUTHORIZABLE_ENDPOINTS", "HttpServer", "serve_http"]

# The GETs the ACLs guard (get_endpoints): Mesos's, and /metrics, the same numbers.
AUTHORIZABLE_ENDPOINTS = frozenset({"/metrics/snapshot", "/metrics"})


def make_app(master_pid: PID, node: Node, ip: str = "") -> web.Application:
    """The aiohttp application for the master at `master_pid` (a process on `node`).

    `ip`: the address it serves on, for the MasterInfo the v1 APIs report.
    """
    scheduler_api = SchedulerApi(master_pid, node, ip)
    operator_api = OperatorApi(master_pid, node)

    async def health(request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def state(request: web.Request) -> web.Response:
        try:
            snapshot = await node.dispatch(master_pid, "state", http_principal(request))
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running")
        return json_response(snapshot)

    async def metrics(request: web.Request) -> web.Response:
        try:
            return json_response(await operator_api.metrics_snapshot(request.app))
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running")

    async def prometheus(request: web.Request) -> web.Response:
        try:
            inputs = await node.dispatch(master_pid, prometheus_inputs)
            allocator = await node.dispatch(master_pid, "allocator_pid")
            allocator_metrics = await node.dispatch(allocator, "metrics")
            cycles = await node.dispatch(allocator, "cycle_histogram")
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running")
        inputs["snapshot"].update(guard_snapshot(request.app, "master"))
        body = prometheus_text(inputs, allocator_metrics, cycles)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def actor(request: web.Request) -> web.Response:
        return json_response({"pid": str(master_pid)})

    async def version(request: web.Request) -> web.Response:
        return json_response(version_json())

    async def redirect(request: web.Request) -> web.Response:
        raise AssertionError("the follow_the_leader middleware answers /redirect")

    async def may_get(principal: str | None, path: str) -> bool:
        return bool(await node.dispatch(master_pid, "may_get_endpoint", principal, path))

    app = web.Application(
        middlewares=[
            _follow_the_leader(master_pid),
            endpoint_authorization(AUTHORIZABLE_ENDPOINTS, may_get),
        ]
    )
    app.router.add_get("/actor", actor)
    app.router.add_get("/version", version)
    for prefix in ("", "/master"):
        app.router.add_get(f"{prefix}/health", health)
        app.router.add_get(f"{prefix}/state", state)
        app.router.add_get(f"{prefix}/state.json", state)
        app.router.add_get(f"{prefix}/redirect", redirect)
        app.router.add_post(
            f"{prefix}/api/v1/scheduler", api_endpoint("scheduler", scheduler_api.handle)
        )
        app.router.add_post(f"{prefix}/api/v1", api_endpoint("operator", operator_api.handle))
    app[FAST_ROUTES] = {
        f"{prefix}/api/v1/scheduler": _while_leading(master_pid, scheduler_api.answer_fast)
        for prefix in ("", "/master")
    }
    app.router.add_get("/metrics/snapshot", metrics)
    app.router.add_get("/metrics", prometheus)
    add_listing_routes(app, master_pid, node)
    add_operator_routes(app, master_pid, node)
    add_volume_routes(app, master_pid, node)
    add_webui_routes(app)
    return app


# Served by every master, leading or not: they describe this master (and name the leader).
_LOCAL_PATHS = frozenset(
    f"{prefix}{path}"
    for prefix in ("", "/master")
    for path in (
        "/health",
        "/state",
        "/state.json",
        "/metrics/snapshot",
        "/metrics",
        "/version",
        "/flags",
    )
)
_REDIRECT_PATHS = frozenset({"/redirect", "/master/redirect"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _follow_the_leader(master_pid: PID) -> Any:
    """Middleware: a master that does not lead answers 307 to the leader (as Mesos does; in
    the scheme it was asked in, as TLS is cluster-wide), 503 while none is elected;
    `/redirect` always points at the leader. It reads what the master published
    (master.leadership), never waiting on the master."""

    @web.middleware
    async def follow_the_leader(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in _LOCAL_PATHS:
            return await handler(request)
        known = leadership.current(master_pid)
        if known is None:
            return web.Response(status=503, text="this master is restarting its candidacy")
        if path in _REDIRECT_PATHS:
            if known.leader is None:
                return web.Response(status=503, text="no master is elected")
            raise web.HTTPTemporaryRedirect(f"{request.scheme}://{known.leader}/")
        if known.leading:
            return await handler(request)
        if known.leader is None:
            return web.Response(status=503, text="no master is elected")
        raise web.HTTPTemporaryRedirect(f"{request.scheme}://{known.leader}{request.path_qs}")

    return follow_the_leader


def _while_leading(master_pid: PID, route: FastRoute) -> FastRoute:
    """`route` while this master leads; a master that does not leaves the request to
    aiohttp, where `_follow_the_leader` answers it."""

    def leading_route(request: FastRequest) -> FastAnswer | None:
        known = leadership.current(master_pid)
        return route(request) if known is not None and known.leading else None

    return leading_route


async def serve_http(
    master_pid: PID, node: Node, host: str, port: int, security: HttpSecurity | None = None
) -> HttpServer:
    """Start serving on `host:port` (0: an ephemeral port) on the running loop."""
    return await serve_app(make_app(master_pid, node, host), host, port, security)
