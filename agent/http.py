"""The agent's HTTP (aiohttp), on the address it advertises: /health, /state, /actor.

Handlers read the agent's state by `dispatch` into its serial context. Paths
are served bare and under `/slave(1)/` and `/agent/` (Mesos's own prefix).
`/actor` answers `{"pid": "agent@host:port"}`, the agent's actor endpoint.
"""

from __future__ import annotations

from aiohttp import web

from libprocess import PID, Node, ProcessTerminated
from zmesos.http import HttpServer, json_response, serve_app

__all__ = ["make_app", "serve_http"]


def make_app(agent_pid: PID, node: Node) -> web.Application:
    """The aiohttp application for the agent at `agent_pid` (a process on `node`)."""

    async def health(request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def state(request: web.Request) -> web.Response:
        try:
            snapshot = await node.dispatch(agent_pid, "state")
        except ProcessTerminated:
            return web.Response(status=503, text="agent is not running")
        return json_response(snapshot)

    async def actor(request: web.Request) -> web.Response:
        return json_response({"pid": str(agent_pid)})

    app = web.Application()
    app.router.add_get("/actor", actor)
    for prefix in ("", "/slave(1)", "/agent"):
        app.router.add_get(f"{prefix}/health", health)
        app.router.add_get(f"{prefix}/state", state)
        app.router.add_get(f"{prefix}/state.json", state)
    return app


async def serve_http(agent_pid: PID, node: Node, host: str, port: int) -> HttpServer:
    """Start serving on `host:port` (0: an ephemeral port) on the running loop."""
    return await serve_app(make_app(agent_pid, node), host, port)
