"""The master's read-only listing endpoints and /teardown, on aiohttp.

GET `/state-summary`, `/frameworks` (`framework_id`), `/slaves` and `/agents`
(`slave_id` / `agent_id`), `/tasks` (`limit`, `offset`, `order` asc|desc,
`framework_id`, `task_id`), `/roles`, `/flags`; POST `/teardown` with the form
field `frameworkId` (Mesos's name) removes a framework: its tasks are killed
and its executors shut down. Every path is served bare and under `/master/`.
A bad query parameter answers 400 with a one-line reason; a master that is
gone, 503. Listings leave out what the request's principal may not see under
the ACLs (view_frameworks, view_tasks, view_executors, view_agents,
view_roles); /flags that view_flags refuses, and a teardown the ACLs refuse
(teardown_frameworks), answer 403. The views are master.listing_views, run in
the master's actor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from libprocess import PID, Node, ProcessTerminated
from master.authorization import Forbidden
from master.listing_views import (
    TASK_LIMIT,
    TaskQuery,
    agents_view,
    frameworks_view,
    roles_view,
    state_summary_view,
    tasks_view,
)
from zmesos.http import http_principal, json_response
from zmesos.http.query import BadQuery, query_int, refusing_bad_queries

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

    async def filtered(
        request: web.Request, function: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> web.Response:
        """A view as the request's principal may see it under the ACLs (master.authorization)."""
        try:
            answer = await node.dispatch(
                master_pid, "view_as", http_principal(request), function, args, kwargs
            )
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running\n")
        return json_response(answer)

    async def state_summary(request: web.Request) -> web.Response:
        return await filtered(request, state_summary_view)

    async def frameworks(request: web.Request) -> web.Response:
        framework_id = request.query.get("framework_id") or None
        return await filtered(request, frameworks_view, framework_id)

    async def slaves(request: web.Request) -> web.Response:
        agent_id = request.query.get("slave_id") or None
        return await filtered(request, agents_view, agent_id, key="slaves")

    async def agents(request: web.Request) -> web.Response:
        agent_id = request.query.get("agent_id") or None
        return await filtered(request, agents_view, agent_id, key="agents")

    async def tasks(request: web.Request) -> web.Response:
        return await filtered(request, tasks_view, task_query(request.query))

    async def roles(request: web.Request) -> web.Response:
        return await filtered(request, roles_view)

    async def flags(request: web.Request) -> web.Response:
        try:
            answer = await node.dispatch(master_pid, "flags_view", http_principal(request))
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running\n")
        if answer is None:
            return web.Response(status=403, text="Not authorized to view the flags\n")
        return json_response(answer)

    async def teardown(request: web.Request) -> web.Response:
        form = await request.post()
        framework_id = form.get("frameworkId") or request.query.get("frameworkId")
        if not isinstance(framework_id, str) or not framework_id:
            raise BadQuery("missing 'frameworkId' in the request body")
        try:
            problem = await node.dispatch(
                master_pid, "teardown_framework", framework_id, http_principal(request)
            )
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running\n")
        if problem is not None:
            status = 403 if isinstance(problem, Forbidden) else 400
            return web.Response(status=status, text=f"{problem}\n")
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
