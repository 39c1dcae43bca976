"""The master's operator HTTP: /health, /state, /metrics/snapshot (aiohttp).

Runs on the master's event loop. Handlers never touch the master's state
directly: they `dispatch` a read into the master's (and allocator's) serial
context and serialize the result, so a request sees one consistent moment.
Every path is served both bare and under `/master/` (Mesos serves
`/master/state`; tools also use `/state`).
"""

from __future__ import annotations

import dataclasses
import json

from aiohttp import web

from libprocess import PID, Node, ProcessTerminated

__all__ = ["HttpServer", "serve_http"]


@dataclasses.dataclass
class HttpServer:
    """A running operator HTTP server; `port` is the bound port (useful with port 0)."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


def _json(payload: object) -> web.Response:
    return web.Response(text=json.dumps(payload, sort_keys=False), content_type="application/json")


def make_app(master_pid: PID, node: Node) -> web.Application:
    """The aiohttp application for the master at `master_pid` (a process on `node`)."""

    async def health(request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def state(request: web.Request) -> web.Response:
        try:
            snapshot = await node.dispatch(master_pid, "state")
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running")
        return _json(snapshot)

    async def metrics(request: web.Request) -> web.Response:
        try:
            snapshot = await node.dispatch(master_pid, "metrics_snapshot")
            allocator = await node.dispatch(master_pid, "allocator_pid")
            snapshot.update(await node.dispatch(allocator, "metrics"))
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running")
        return _json(dict(sorted(snapshot.items())))

    app = web.Application()
    for prefix in ("", "/master"):
        app.router.add_get(f"{prefix}/health", health)
        app.router.add_get(f"{prefix}/state", state)
        app.router.add_get(f"{prefix}/state.json", state)
    app.router.add_get("/metrics/snapshot", metrics)
    return app


async def serve_http(master_pid: PID, node: Node, host: str, port: int) -> HttpServer:
    """Start serving on `host:port` (0: an ephemeral port) on the running loop."""
    runner = web.AppRunner(make_app(master_pid, node), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return HttpServer(runner, host, bound)
