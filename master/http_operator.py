"""Operator HTTP endpoints that change the cluster: weights, quota, marking an agent gone.

Mesos's shapes: `GET|PUT /weights` (a list of `{"role", "weight"}`),
`GET|POST /quota` and `DELETE /quota/<role>` (a role's guarantee as Mesos JSON
scalar resources, or `guarantees`/`limits` maps of name to amount), and
`POST /api/v1` with `{"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id":
{"value": ID}}}`. Each dispatches a call into the master (master.operator_calls,
master.partition_handlers) and answers 200 once the change is durable in the
registry, 400 with a one-line reason when the master refuses it, 403 when the
ACLs do not let the request's principal do it, 503 when the master is gone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from libprocess import PID, Node, ProcessTerminated
from master.authorization import Forbidden
from zmesos.http import http_principal

__all__ = ["add_operator_routes"]


class BadRequest(Exception):
    """The request's body is not what the endpoint takes; the message says why."""


def _json(payload: object) -> web.Response:
    return web.Response(text=json.dumps(payload), content_type="application/json")


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError as error:
        raise BadRequest(f"the body is not JSON: {error}") from None


async def _outcome(node: Node, pid: PID, method: str, *args: Any) -> web.Response:
    """Dispatch a master call that resolves to None (done) or a reason (refused)."""
    try:
        problem = await node.dispatch(pid, method, *args)
    except ProcessTerminated:
        return web.Response(status=503, text="master is not running")
    if problem is not None:
        return web.Response(status=403 if isinstance(problem, Forbidden) else 400, text=problem)
    return web.Response(status=200)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{what} must be a number")
    return float(value)


def _scalars(value: Any, what: str) -> dict[str, float]:
    """`{"cpus": 1}`, or Mesos JSON resources `[{"name", "type": "SCALAR", "scalar": {...}}]`."""
    if isinstance(value, dict):
        return {str(name): _number(amount, f"{what}.{name}") for name, amount in value.items()}
    if not isinstance(value, list):
        raise BadRequest(f"{what} must be a list of resources or a map of amounts")
    amounts: dict[str, float] = {}
    for resource in value:
        if not isinstance(resource, dict) or resource.get("type", "SCALAR") != "SCALAR":
            raise BadRequest(f"{what}: only scalar resources take quota")
        scalar = resource.get("scalar")
        name = resource.get("name")
        if not isinstance(name, str) or not isinstance(scalar, dict):
            raise BadRequest(f"{what}: each resource needs a name and a scalar value")
        amounts[name] = amounts.get(name, 0.0) + _number(scalar.get("value"), f"{what}.{name}")
    return amounts


def add_operator_routes(app: web.Application, master_pid: PID, node: Node) -> None:
    """Add the endpoints above to `app` (bare and under `/master/`)."""

    async def get_weights(request: web.Request) -> web.Response:
        try:
            weights = await node.dispatch(master_pid, "weights", http_principal(request))
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running")
        return _json([{"role": role, "weight": weight} for role, weight in weights.items()])

    async def put_weights(request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, list):
            raise BadRequest('expected a list of {"role": ..., "weight": ...}')
        weights: dict[str, float] = {}
        for entry in body:
            if not isinstance(entry, dict) or not isinstance(entry.get("role"), str):
                raise BadRequest('each entry needs a "role" and a "weight"')
            weights[entry["role"]] = _number(entry.get("weight"), f"weight of {entry['role']}")
        return await _outcome(node, master_pid, "update_weights", weights, http_principal(request))

    async def get_quota(request: web.Request) -> web.Response:
        try:
            quota = await node.dispatch(master_pid, "quota", http_principal(request))
        except ProcessTerminated:
            return web.Response(status=503, text="master is not running")
        return _json(
            {
                "configs": [
                    {"role": role, "guarantees": record.guarantee, "limits": record.limit}
                    for role, record in quota.items()
                ]
            }
        )

    async def post_quota(request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body, dict) or not isinstance(body.get("role"), str):
            raise BadRequest('expected {"role": ..., "guarantee": [...]}')
        guarantee = _scalars(body.get("guarantee", body.get("guarantees", {})), "guarantee")
        limit = _scalars(body.get("limits", {}), "limits")
        return await _outcome(
            node, master_pid, "set_quota", body["role"], guarantee, limit, http_principal(request)
        )

    async def delete_quota(request: web.Request) -> web.Response:
        role = request.match_info["role"]
        return await _outcome(node, master_pid, "remove_quota", role, http_principal(request))

    def refusing_bad_requests(
        handler: Callable[[web.Request], Awaitable[web.Response]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except BadRequest as error:
                return web.Response(status=400, text=str(error))

        return handle

    for prefix in ("", "/master"):
        app.router.add_get(f"{prefix}/weights", refusing_bad_requests(get_weights))
        app.router.add_put(f"{prefix}/weights", refusing_bad_requests(put_weights))
        app.router.add_get(f"{prefix}/quota", refusing_bad_requests(get_quota))
        app.router.add_post(f"{prefix}/quota", refusing_bad_requests(post_quota))
        app.router.add_delete(f"{prefix}/quota/{{role}}", refusing_bad_requests(delete_quota))
