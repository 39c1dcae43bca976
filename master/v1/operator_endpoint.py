"""`POST /api/v1` on the master: Mesos's v1 operator API (master.proto), JSON only.

Each call type has one handler in `OperatorApi.calls`; a handler reads the
call, asks the master by `dispatch` (one consistent moment, in the master's
serial context) and answers 200 with `{"type": T, "<t>": {...}}`, or 200 with
no body for an update. SUBSCRIBE answers a RecordIO event stream: SUBSCRIBED
with the whole state, then TASK_ADDED, TASK_UPDATED, FRAMEWORK_ADDED,
FRAMEWORK_UPDATED, FRAMEWORK_REMOVED, AGENT_ADDED, AGENT_REMOVED as they
happen, and HEARTBEATs. Unknown calls get 400 naming them; bad fields 400
naming the field (zmesos.v1.http has the rest: 415, 406, 413). The resource
operations (RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES,
DESTROY_VOLUMES, GROW_VOLUME, SHRINK_VOLUME) answer 202 once applied, 409
when the resources are not available on the agent, 400 for a broken rule,
each refusal with its reason, as Mesos answers them. GET_METRICS answers what
`/metrics/snapshot` does and, like it, only to whom get_endpoints allows that
path (Mesos leaves GET_METRICS unguarded; the numbers are the same).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from libprocess import PID, Node, ProcessTerminated
from master.authorization import Forbidden
from master.operator_operations import ACCEPTED
from zmesos.http import guard_snapshot, http_principal, json_response
from zmesos.v1.http import EventStream, Refused, read_call
from zmesos.v1.objects import metrics_to_v1, read_get_metrics
from zmesos.v1.operations import OPERATION_READERS
from zmesos.v1.reader import array, id_value, number, obj, string
from zmesos.version import version_json

__all__ = ["OperatorApi"]

Answer = dict[str, Any] | web.Response | None

METRICS_ENDPOINT = "/metrics/snapshot"  # whose ACL (get_endpoints) GET_METRICS answers to

# Operator call -> the offer operation it applies on one agent (master.operator_operations)
OPERATOR_OPERATIONS = {
    "RESERVE_RESOURCES": "RESERVE",
    "UNRESERVE_RESOURCES": "UNRESERVE",
    "CREATE_VOLUMES": "CREATE",
    "DESTROY_VOLUMES": "DESTROY",
    "GROW_VOLUME": "GROW_VOLUME",
    "SHRINK_VOLUME": "SHRINK_VOLUME",
}
CallHandler = Callable[[dict[str, Any]], Awaitable[Answer]]


class OperatorApi:
    """The operator endpoint of the master at `master_pid` on `node`."""

    def __init__(self, master_pid: PID, node: Node) -> None:
        self.master_pid = master_pid
        self.node = node
        self.calls: dict[str, CallHandler] = {
            "GET_HEALTH": self._health,
            "GET_FLAGS": self._flags,
            "GET_VERSION": self._version,
            "GET_METRICS": self._metrics,
            "GET_LOGGING_LEVEL": self._logging_level,
            "GET_STATE": self._view,
            "GET_AGENTS": self._view,
            "GET_FRAMEWORKS": self._view,
            "GET_EXECUTORS": self._view,
            "GET_TASKS": self._view,
            "GET_MASTER": self._view,
            "GET_ROLES": self._roles,
            "GET_WEIGHTS": self._weights,
            "UPDATE_WEIGHTS": self._update_weights,
            "GET_QUOTA": self._quota,
            "UPDATE_QUOTA": self._update_quota,
            "MARK_AGENT_GONE": self._mark_agent_gone,
            "TEARDOWN": self._teardown,
            **{call: self._operate for call in OPERATOR_OPERATIONS},
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        call = await read_call(request)
        kind = call["type"]
        if kind == "SUBSCRIBE":
            return await self._subscribe(request, http_principal(request))
        handler = self.calls.get(kind)
        if handler is None:
            raise Refused(400, f"Unsupported call type {kind[:64]!r}")
        call["__type"] = kind
        call["__principal"] = http_principal(request)
        call["__app"] = request.app
        try:
            answer = await handler(call)
        except ProcessTerminated:
            raise Refused(503, "the master is not running") from None
        if answer is None:
            return web.Response(status=200)
        if isinstance(answer, web.Response):
            return answer
        return json_response({"type": kind, kind.lower(): answer})

    async def _ask(self, method: str, *args: Any) -> Any:
        return await self.node.dispatch(self.master_pid, method, *args)

    # -- calls ----------------------------------------------------------------------

    async def _health(self, call: dict[str, Any]) -> Answer:
        await self._ask("allocator_pid")  # answers only while the master runs
        return {"healthy": True}

    async def _flags(self, call: dict[str, Any]) -> Answer:
        view = await self._ask("flags_view", call["__principal"])
        if view is None:
            raise Refused(403, "Not authorized to view the flags")
        return {"flags": [{"name": k, "value": v} for k, v in sorted(view["flags"].items())]}

    async def _version(self, call: dict[str, Any]) -> Answer:
        return {"version_info": version_json()}

    async def metrics_snapshot(self, app: web.Application) -> dict[str, float]:
        """What `/metrics/snapshot` and GET_METRICS answer, by name: the master's metrics,
        its allocator's, and the refusals of the HTTP guard `app` is served behind."""
        snapshot = await self._ask("metrics_snapshot")
        allocator = await self._ask("allocator_pid")
        snapshot.update(await self.node.dispatch(allocator, "metrics"))
        snapshot.update(guard_snapshot(app, "master"))
        return dict(sorted(snapshot.items()))

    async def _metrics(self, call: dict[str, Any]) -> Answer:
        """The numbers of /metrics/snapshot, so guarded as it is (get_endpoints)."""
        read_get_metrics(call)
        allowed = await self._ask("may_get_endpoint", call["__principal"], METRICS_ENDPOINT)
        if not allowed:
            raise Refused(403, f"Not authorized to GET {METRICS_ENDPOINT}")
        return metrics_to_v1(await self.metrics_snapshot(call["__app"]))

    async def _logging_level(self, call: dict[str, Any]) -> Answer:
        return {"level": 0}  # glog's verbosity in Mesos; zmesos has no verbose levels

    async def _view(self, call: dict[str, Any]) -> Answer:
        return await self._ask("operator_view", call["__type"], call["__principal"])

    async def _roles(self, call: dict[str, Any]) -> Answer:
        principal = call["__principal"]
        return await self._ask("roles_view", await self._ask("weights", principal), principal)

    async def _weights(self, call: dict[str, Any]) -> Answer:
        weights = await self._ask("weights", call["__principal"])
        return {"weight_infos": [{"role": r, "weight": w} for r, w in weights.items()]}

    async def _update_weights(self, call: dict[str, Any]) -> Answer:
        body = obj(call.get("update_weights"), "update_weights")
        weights: dict[str, float] = {}
        for index, entry in enumerate(array(body, "weight_infos", "update_weights")):
            where = f"update_weights.weight_infos[{index}]"
            info = obj(entry, where)
            weights[string(info, "role", where, required=True)] = number(info, "weight", where)
        _refused_if(await self._ask("update_weights", weights, call["__principal"]))
        return None

    async def _quota(self, call: dict[str, Any]) -> Answer:
        quotas = await self._ask("quota", call["__principal"])
        return {
            "status": {
                "infos": [
                    {"role": role, "guarantee": _scalars(record.guarantee)}
                    for role, record in quotas.items()
                ],
                "configs": [
                    {
                        "role": role,
                        "guarantees": _quantities(record.guarantee),
                        "limits": _quantities(record.limit),
                    }
                    for role, record in quotas.items()
                ],
            }
        }

    async def _update_quota(self, call: dict[str, Any]) -> Answer:
        body = obj(call.get("update_quota"), "update_quota")
        configs: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
        for index, entry in enumerate(array(body, "quota_configs", "update_quota")):
            where = f"update_quota.quota_configs[{index}]"
            config = obj(entry, where)
            configs[string(config, "role", where, required=True)] = (
                _read_quantities(config, "guarantees", where),
                _read_quantities(config, "limits", where),
            )
        principal = call["__principal"]
        quotas = await self._ask("quota")
        for role, (guarantees, limits) in configs.items():
            if guarantees or limits:
                _refused_if(await self._ask("set_quota", role, guarantees, limits, principal))
            elif role in quotas:
                _refused_if(await self._ask("remove_quota", role, principal))
        return None

    async def _mark_agent_gone(self, call: dict[str, Any]) -> Answer:
        body = obj(call.get("mark_agent_gone"), "mark_agent_gone")
        agent = obj(body.get("agent_id"), "mark_agent_gone.agent_id")
        agent_id = string(agent, "value", "mark_agent_gone.agent_id", required=True)
        principal = call["__principal"]
        _refused_if(await self._ask("mark_agent_gone", agent_id, principal))  # once durable
        return None

    async def _teardown(self, call: dict[str, Any]) -> Answer:
        body = obj(call.get("teardown"), "teardown")
        framework = obj(body.get("framework_id"), "teardown.framework_id")
        framework_id = string(framework, "value", "teardown.framework_id", required=True)
        _refused_if(await self._ask("teardown_framework", framework_id, call["__principal"]))
        return None

    async def _operate(self, call: dict[str, Any]) -> Answer:
        """RESERVE_RESOURCES, ..., SHRINK_VOLUME on one agent: 202 once applied, else 409
        (the resources are not available there), 400 (a rule broken) or 403 (the ACLs),
        with the reason."""
        kind = call["__type"]
        key = kind.lower()
        body = obj(call.get(key), key)
        agent_id = id_value(body, "agent_id", key, required=True)
        _, read = OPERATION_READERS[OPERATOR_OPERATIONS[kind]]
        status, reason = await self._ask(
            "operator_operation", agent_id, read(body, key), call["__principal"]
        )
        if status != ACCEPTED:
            raise Refused(status, reason)
        return web.Response(status=ACCEPTED)

    async def _subscribe(self, request: web.Request, principal: str | None) -> web.StreamResponse:
        stream = EventStream()
        try:
            await self._ask("subscribe_operator", stream, principal)
        except ProcessTerminated:
            raise Refused(503, "the master is not running") from None
        stream.on_close(lambda _: self._unsubscribe(stream))
        return await stream.serve(request, {})

    def _unsubscribe(self, stream: EventStream) -> None:
        future = self.node.dispatch(self.master_pid, "unsubscribe_operator", stream)
        future.add_done_callback(lambda done: done.cancelled() or done.exception())


def _refused_if(problem: str | None) -> None:
    """The master's verdict on an update: None, or the reason it refused (400; 403 when
    the ACLs refused the request's principal)."""
    if problem is not None:
        raise Refused(403 if isinstance(problem, Forbidden) else 400, problem)


def _read_quantities(config: dict[str, Any], key: str, where: str) -> dict[str, float]:
    holder = config.get(key)
    if holder is None:
        return {}
    amounts = obj(holder, f"{where}.{key}")
    quantities: dict[str, float] = {}
    for name, value in amounts.items():
        if isinstance(value, dict):  # Value.Scalar, {"value": n}
            quantities[name] = number(value, "value", f"{where}.{key}.{name}")
        else:
            quantities[name] = number(amounts, name, f"{where}.{key}")
    return quantities


def _quantities(amounts: dict[str, float]) -> dict[str, dict[str, float]]:
    return {name: {"value": amount} for name, amount in sorted(amounts.items())}


def _scalars(amounts: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"name": name, "type": "SCALAR", "scalar": {"value": amount}, "role": "*"}
        for name, amount in sorted(amounts.items())
    ]
