"""The agent's HTTP (aiohttp), on the address it advertises.

GET `/health`, `/state` (Mesos's agent shape, agent.views), `/flags`,
`/metrics/snapshot` (Mesos's `slave/...` names), `/monitor/statistics` (each
executor's CPU time, memory, disk and processes, agent.monitor), `/files/browse`,
`/files/read` and `/files/download` (a sandbox's or volume's files only,
agent.files), `/actor` (`{"pid": "agent@host:port"}`, the agent's actor
endpoint) and `/version`; POST Mesos's v1 executor and operator APIs
(`/api/v1/executor`, `/api/v1`; agent.v1).

Handlers read the agent's state by `dispatch` into its serial context. Paths
are served bare and under `/slave(1)/` and `/agent/` (Mesos's own prefix).
The read-only GETs answer `Access-Control-Allow-Origin: *`: the web UI the
master serves reads agents' state and files from their own ports. A bad query
parameter answers 400 with a one-line reason. With `--acls`, a file of a
sandbox the request's principal may not access (access_sandboxes) answers 403,
and so does a GET of `/metrics/snapshot` or `/monitor/statistics` that
get_endpoints refuses, and `/flags` that view_flags refuses (`/state` then
leaves the flags out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from agent.files import FilesError, SandboxFiles
from agent.flags import AgentFlags
from agent.monitor import usage_request
from agent.v1 import AgentOperatorApi, ExecutorApi
from agent.views import collect, flags_view, state_json
from libprocess import PID, Node, ProcessTerminated
from zmesos.http import (
    HttpSecurity,
    HttpServer,
    http_principal,
    json_response,
    serve_app,
)
from zmesos.http.endpoints import endpoint_authorization
from zmesos.http.query import allow_any_origin, query_int, refusing_bad_queries
from zmesos.v1.http import Refused, api_endpoint
from zmesos.version import version_json

__all__ = ["AUTHORIZABLE_ENDPOINTS", "make_app", "serve_http"]

# The GETs the ACLs guard (get_endpoints), as Mesos's agent does.
AUTHORIZABLE_ENDPOINTS = frozenset(
    {"/metrics/snapshot", "/monitor/statistics", "/monitor/statistics.json"}
)


def make_app(agent_pid: PID, node: Node, flags: AgentFlags | None = None) -> web.Application:
    """The aiohttp application for the agent at `agent_pid` (a process on `node`)."""
    flags = flags or AgentFlags()
    files = SandboxFiles(flags.work_dir)
    executor_api = ExecutorApi(agent_pid, node)
    operator_api = AgentOperatorApi(agent_pid, node, files)

    async def ask(function: Callable[..., Any]) -> Any:
        try:
            return await node.dispatch(agent_pid, function)
        except ProcessTerminated:
            raise web.HTTPServiceUnavailable(text="agent is not running\n") from None

    async def health(request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def may_view_flags(request: web.Request) -> bool:
        principal = http_principal(request)
        return bool(await ask(lambda agent: agent.may_view_flags(principal)))

    async def state(request: web.Request) -> web.Response:
        view = state_json(await ask(collect))
        if not await may_view_flags(request):
            del view["flags"]
        return json_response(view)

    async def flags_endpoint(request: web.Request) -> web.Response:
        if not await may_view_flags(request):
            return web.Response(status=403, text="Not authorized to view the flags\n")
        return json_response(await ask(flags_view))

    async def metrics(request: web.Request) -> web.Response:
        try:
            return json_response(await operator_api.metrics_snapshot(request.app))
        except Refused:  # the agent is not running
            raise web.HTTPServiceUnavailable(text="agent is not running\n") from None

    async def monitor(request: web.Request) -> web.Response:
        request_usage = await ask(usage_request)
        return json_response(await asyncio.to_thread(request_usage.measure))

    async def sandbox_access(request: web.Request) -> None:
        """Raise FilesError(403) unless the ACLs (access_sandboxes) let the request's
        principal see the path (resolved first: 400/404 come before any decision)."""
        path = files.resolve(request.query.get("path", ""))
        principal = http_principal(request)
        if not await ask(lambda agent: agent.may_access_sandbox(principal, path)):
            raise FilesError(403, "Not authorized to access this sandbox")

    async def browse(request: web.Request) -> web.Response:
        try:
            await sandbox_access(request)
            return json_response(files.browse(request.query.get("path", "")))
        except FilesError as error:
            return _refused(error)

    async def read(request: web.Request) -> web.Response:
        offset = query_int(request.query, "offset", -1, minimum=-1)
        length = query_int(request.query, "length", -1, minimum=-1)
        try:
            await sandbox_access(request)
            return json_response(files.read(request.query.get("path", ""), offset, length))
        except FilesError as error:
            return _refused(error)

    async def download(request: web.Request) -> web.StreamResponse:
        try:
            await sandbox_access(request)
            path = files.download(request.query.get("path", ""))
        except FilesError as error:
            return _refused(error)
        return web.FileResponse(
            path,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{_quoted(path.name)}"',
            },
        )

    async def actor(request: web.Request) -> web.Response:
        return json_response({"pid": str(agent_pid)})

    async def version(request: web.Request) -> web.Response:
        return json_response(version_json())

    async def may_get(principal: str | None, path: str) -> bool:
        return bool(await node.dispatch(agent_pid, "may_get_endpoint", principal, path))

    app = web.Application(middlewares=[endpoint_authorization(AUTHORIZABLE_ENDPOINTS, may_get)])
    app.router.add_get("/actor", actor)
    app.router.add_get("/version", allow_any_origin(version))
    for prefix in ("", "/slave(1)", "/agent"):
        for path, handler in (
            ("/health", health),
            ("/state", state),
            ("/state.json", state),
            ("/flags", flags_endpoint),
            ("/metrics/snapshot", metrics),
            ("/monitor/statistics", monitor),
            ("/monitor/statistics.json", monitor),
            ("/files/browse", browse),
            ("/files/browse.json", browse),
            ("/files/read", read),
            ("/files/read.json", read),
            ("/files/download", download),
            ("/files/download.json", download),
        ):
            app.router.add_get(f"{prefix}{path}", allow_any_origin(refusing_bad_queries(handler)))
        app.router.add_post(
            f"{prefix}/api/v1/executor", api_endpoint("executor", executor_api.handle)
        )
        app.router.add_post(f"{prefix}/api/v1", api_endpoint("operator", operator_api.handle))
    return app


def _refused(error: FilesError) -> web.Response:
    return web.Response(status=error.status, text=f"{error}\n")


def _quoted(name: str) -> str:
    return name.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")


async def serve_http(
    agent_pid: PID,
    node: Node,
    host: str,
    port: int,
    flags: AgentFlags | None = None,
    security: HttpSecurity | None = None,
) -> HttpServer:
    """Start serving on `host:port` (0: an ephemeral port) on the running loop."""
    return await serve_app(make_app(agent_pid, node, flags), host, port, security)
