"""The master's read-only listing endpoints and /teardown, on aiohttp.

GET `/state-summary`, `/frameworks` (`framework_id`), `/slaves` and `/agents`
(`slave_id` / `agent_id`), `/tasks` (`limit`, `offset`, `order` asc|desc,
`framework_id`, `task_id`), `/roles`, `/flags`; POST `/teardown` with the form
field `frameworkId` (Mesos's name) removes a framework: its tasks are killed
and its executors shut down. Every path is served bare and under `/master/`.
A bad query parameter answers 400 with a one-line reason; a master that is
gone, 503. The views are master.listing_views, run in the master's actor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from libprocess import PID, Node, ProcessTerminated
from master.listing_views import (
    TASK_LIMIT,
    TaskQuery,
    agents_view,
    frameworks_view,
    roles_view,
    state_summary_view,
    tasks_view,
)
from zmesos.http import json_response
from zmesos.http.query import BadQuery, query_int, refusing_bad_queries
from zmesos.http.shapes import format_flags

__all__ = ["add_listing_routes"]

ORDERS = {"asc": True, "des": False, "desc": False}


def task_query(query: Any) -> TaskQuery:
    """/tasks's parameters; BadQuery for a malformed one."""
    order = query.get("order", "des")
    if order not in ORDERS:
        raise BadQuery(f"order: {order[:64]!r} is not asc or desc")
    return TaskQuery(
        limit=query_int(query, "limit", TASK_LIMIT),
        offset=query_int(query, "offset", 0),
        ascending=ORDERS[order],
        framework_id=query.get("framework_id") or None,
        task_id=query.get("task_id") or None,
    )


def add_listing_routes(app: web.Application, master_pid: PID, node: Node) -> None:
    """Add the endpoints above to `app`."""

    async def view(function: Callable[..., Any], *args: Any, **kwargs: Any) -> web.Response:
        try:
            answer = await node.dispatch(
                master_pid, lambda master: function(master, *args, **kwargs)
            )
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running\n")
        return json_response(answer)

    async def state_summary(request: web.Request) -> web.Response:
        return await view(state_summary_view)

    async def frameworks(request: web.Request) -> web.Response:
        return await view(frameworks_view, request.query.get("framework_id") or None)

    async def slaves(request: web.Request) -> web.Response:
        return await view(agents_view, request.query.get("slave_id") or None, key="slaves")

    async def agents(request: web.Request) -> web.Response:
        return await view(agents_view, request.query.get("agent_id") or None, key="agents")

    async def tasks(request: web.Request) -> web.Response:
        return await view(tasks_view, task_query(request.query))

    async def roles(request: web.Request) -> web.Response:
        return await view(roles_view)

    async def flags(request: web.Request) -> web.Response:
        return await view(_flags_view)

    async def teardown(request: web.Request) -> web.Response:
        form = await request.post()
        framework_id = form.get("frameworkId") or request.query.get("frameworkId")
        if not isinstance(framework_id, str) or not framework_id:
            raise BadQuery("missing 'frameworkId' in the request body")
        try:
            problem = await node.dispatch(master_pid, "teardown_framework", framework_id)
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running\n")
        if problem is not None:
            return web.Response(status=400, text=f"{problem}\n")
        return web.Response(status=200)

    for prefix in ("", "/master"):
        for path, handler in (
            ("/state-summary", state_summary),
            ("/frameworks", frameworks),
            ("/slaves", slaves),
            ("/agents", agents),
            ("/tasks", tasks),
            ("/tasks.json", tasks),
            ("/roles", roles),
            ("/roles.json", roles),
            ("/flags", flags),
        ):
            app.router.add_get(f"{prefix}{path}", refusing_bad_queries(handler))
        app.router.add_post(f"{prefix}/teardown", refusing_bad_queries(teardown))


def _flags_view(master: Any) -> dict[str, Any]:
    """Mesos's /flags: `{"flags": {name: value}}`, values as /state shows them."""
    return {"flags": format_flags(master.flags)}
