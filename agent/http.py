"""The agent's HTTP (aiohttp), on the address it advertises: /health, /state, /actor,
/version, and Mesos's v1 executor and operator APIs (/api/v1/executor, /api/v1; agent.v1).

Handlers read the agent's state by `dispatch` into its serial context. Paths
are served bare and under `/slave(1)/` and `/agent/` (Mesos's own prefix).
`/actor` answers `{"pid": "agent@host:port"}`, the agent's actor endpoint.
"""

from __future__ import annotations

from aiohttp import web

from agent.flags import AgentFlags
from agent.v1 import AgentOperatorApi, ExecutorApi
from libprocess import PID, Node, ProcessTerminated
from zmesos.http import HttpServer, json_response, serve_app
from zmesos.v1.http import api_endpoint
from zmesos.version import version_json

__all__ = ["make_app", "serve_http"]


def make_app(agent_pid: PID, node: Node, flags: AgentFlags | None = None) -> web.Application:
    """The aiohttp application for the agent at `agent_pid` (a process on `node`)."""
    flags = flags or AgentFlags()
    executor_api = ExecutorApi(agent_pid, node)
    operator_api = AgentOperatorApi(agent_pid, node, flags.work_dir, flags)

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

    async def version(request: web.Request) -> web.Response:
        return json_response(version_json())

    app = web.Application()
    app.router.add_get("/actor", actor)
    app.router.add_get("/version", version)
    for prefix in ("", "/slave(1)", "/agent"):
        app.router.add_get(f"{prefix}/health", health)
        app.router.add_get(f"{prefix}/state", state)
        app.router.add_get(f"{prefix}/state.json", state)
        app.router.add_post(
            f"{prefix}/api/v1/executor", api_endpoint("executor", executor_api.handle)
        )
        app.router.add_post(f"{prefix}/api/v1", api_endpoint("operator", operator_api.handle))
    return app


async def serve_http(
    agent_pid: PID, node: Node, host: str, port: int, flags: AgentFlags | None = None
) -> HttpServer:
    """Start serving on `host:port` (0: an ephemeral port) on the running loop."""
    return await serve_app(make_app(agent_pid, node, flags), host, port)
