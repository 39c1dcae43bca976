"""`POST /api/v1/executor` on the agent: Mesos's v1 executor API (JSON only).

SUBSCRIBE (naming the executor's framework and executor ids, as the
environment gave them) opens the executor's event stream, served by an
`HttpExecutor` actor that speaks to the agent as an actor executor would.
UPDATE and MESSAGE come on other connections and are answered 202 at once;
the agent acknowledges an update on the stream (ACKNOWLEDGED) once it has
taken it. Answers: 400 for a malformed call, 403 for an executor the agent
does not run or that has no open subscription; 415/406/413 as in
zmesos.v1.http.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent.v1.http_executor import HttpExecutor
from libprocess import PID, Node, ProcessTerminated
from zmesos.errors import ApiError
from zmesos.protocol import ExecutorToFramework, StatusUpdate, StatusUpdateMessage
from zmesos.v1.http import EventStream, Refused, read_call
from zmesos.v1.objects import task_info_from_v1, task_status_from_v1
from zmesos.v1.reader import array, b64, id_value, obj

__all__ = ["ExecutorApi"]

MAX_UNACKNOWLEDGED = 10_000


class ExecutorApi:
    """The endpoint for the agent at `agent_pid` on `node`; `handle` is the aiohttp handler."""

    def __init__(self, agent_pid: PID, node: Node) -> None:
        self.agent_pid = agent_pid
        self.node = node
        self.subscriptions: dict[tuple[str, str], HttpExecutor] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        call = await read_call(request)
        kind = call["type"]
        framework_id = id_value(call, "framework_id", "call", required=True)
        executor_id = id_value(call, "executor_id", "call", required=True)
        if kind == "SUBSCRIBE":
            return await self._subscribe(request, call, framework_id, executor_id)
        if kind == "UPDATE":
            update = obj(call.get("update"), "update")
            status = task_status_from_v1(update.get("status"), "update.status")
            message: Any = StatusUpdateMessage(
                update=StatusUpdate(
                    framework_id=framework_id,
                    status=status,
                    executor_id=executor_id,
                    timestamp=status.timestamp,
                    uuid=status.uuid,
                )
            )
        elif kind == "MESSAGE":
            body = obj(call.get("message"), "message")
            message = ExecutorToFramework(
                agent_id="",
                framework_id=framework_id,
                executor_id=executor_id,
                data=b64(body, "data", "message"),
            )
        else:
            raise Refused(400, f"Unknown call type {kind[:64]!r}")
        subscription = self.subscriptions.get((framework_id, executor_id))
        if subscription is None or subscription.terminated or not subscription.subscribed:
            raise Refused(403, f"Executor {executor_id[:128]!r} is not subscribed")
        if isinstance(message, StatusUpdateMessage):
            message = StatusUpdateMessage(update=message.update, pid=str(subscription.pid))
        subscription.forward(message)
        return web.Response(status=202)

    async def _subscribe(
        self, request: web.Request, call: dict[str, Any], framework_id: str, executor_id: str
    ) -> web.StreamResponse:
        subscribe = obj(call.get("subscribe") or {}, "subscribe")
        tasks = array(subscribe, "unacknowledged_tasks", "subscribe")
        updates = array(subscribe, "unacknowledged_updates", "subscribe")
        if len(tasks) > MAX_UNACKNOWLEDGED or len(updates) > MAX_UNACKNOWLEDGED:
            raise ApiError(f"subscribe: more than {MAX_UNACKNOWLEDGED} unacknowledged items")
        task_infos = tuple(
            task_info_from_v1(task, f"subscribe.unacknowledged_tasks[{index}]")
            for index, task in enumerate(tasks)
        )
        status_updates = []
        for index, entry in enumerate(updates):
            where = f"subscribe.unacknowledged_updates[{index}]"
            status = task_status_from_v1(obj(entry, where).get("status"), f"{where}.status")
            status_updates.append(
                StatusUpdate(
                    framework_id=framework_id,
                    status=status,
                    executor_id=executor_id,
                    timestamp=status.timestamp,
                    uuid=status.uuid,
                )
            )
        try:
            expected = await self.node.dispatch(
                self.agent_pid, "http_executor_expected", framework_id, executor_id
            )
        except ProcessTerminated:
            raise Refused(503, "the agent is not running") from None
        if expected is None:
            raise Refused(403, f"Executor {executor_id[:128]!r} is not an executor of this agent")
        stream = EventStream()
        executor = HttpExecutor(
            self.agent_pid,
            stream,
            framework_id=framework_id,
            executor_id=executor_id,
            container_id=expected["container_id"],
            reregister=expected["reregister"],
            tasks=task_infos,
            updates=tuple(status_updates),
        )
        key = (framework_id, executor_id)
        old = self.subscriptions.get(key)
        if old is not None:
            old.stream.close("a newer subscription replaced it")
        self.subscriptions[key] = executor
        stream.on_close(lambda _: self._unsubscribed(key, executor))
        self.node.spawn(executor)
        return await stream.serve(request, {})

    def _unsubscribed(self, key: tuple[str, str], executor: HttpExecutor) -> None:
        if self.subscriptions.get(key) is executor:
            del self.subscriptions[key]
