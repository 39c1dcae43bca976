"""Operator HTTP for reservations and volumes: POST /reserve, /unreserve, /create-volumes,
/destroy-volumes (Mesos's endpoints, docs/endpoints/master/reserve.md and friends).

The body is Mesos's form, `slaveId=<id>&resources=<JSON array>` (`volumes=` for
the volume endpoints), or the same fields as a JSON object (`agentId` is taken
for `slaveId`). Resources are Mesos's JSON Resource objects. Answers: 202 when
the operation was applied (the body says what the agent now has), 409 when
the resources are not available on the agent, 400 with the reason for bad
input or a broken rule, 403 when the ACLs do not let the request's principal
do it, 503 when the master is gone.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from libprocess import PID, Node, ProcessTerminated
from zmesos.errors import ApiError
from zmesos.http import http_principal
from zmesos.protocol import Operation, OperationType
from zmesos.v1.resources import resources_from_v1

__all__ = ["add_volume_routes"]

# endpoint -> (operation, the form field holding its resources)
ENDPOINTS = {
    "reserve": (OperationType.RESERVE, "resources"),
    "unreserve": (OperationType.UNRESERVE, "resources"),
    "create-volumes": (OperationType.CREATE, "volumes"),
    "destroy-volumes": (OperationType.DESTROY, "volumes"),
}


class _BadRequest(Exception):
    pass


async def _fields(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.read())
        except ValueError as error:
            raise _BadRequest(f"the body is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise _BadRequest("the JSON body must be an object")
        return body
    form = await request.post()
    fields: dict[str, Any] = {}
    for name, value in form.items():
        if not isinstance(value, str):
            raise _BadRequest(f"field {name!r} must be text")
        fields[name] = value
    return fields


def _operation(kind: OperationType, field: str, fields: dict[str, Any]) -> tuple[str, Operation]:
    agent_id = fields.get("slaveId", fields.get("agentId"))
    if not isinstance(agent_id, str) or not agent_id:
        raise _BadRequest("missing 'slaveId'")
    value = fields.get(field)
    if value is None:
        raise _BadRequest(f"missing {field!r}")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise _BadRequest(f"{field!r} is not JSON: {error}") from None
    try:
        resources = resources_from_v1(value, field)
    except ApiError as error:
        raise _BadRequest(str(error)) from None
    if not resources:
        raise _BadRequest(f"{field!r} names no resources")
    return agent_id, Operation(type=kind, resources=tuple(resources.to_list()))


def add_volume_routes(app: web.Application, master_pid: PID, node: Node) -> None:
    """Add the four endpoints (bare and under `/master/`) to `app`."""

    def endpoint(kind: OperationType, field: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            try:
                agent_id, operation = _operation(kind, field, await _fields(request))
            except _BadRequest as error:
                return web.Response(status=400, text=str(error))
            try:
                status, text = await node.dispatch(
                    master_pid, "operator_operation", agent_id, operation, http_principal(request)
                )
            except ProcessTerminated:
                return web.Response(status=503, text="master is not running")
            return web.Response(status=status, text=text)

        return handle

    for name, (kind, field) in ENDPOINTS.items():
        for prefix in ("", "/master"):
            app.router.add_post(f"{prefix}/{name}", endpoint(kind, field))
