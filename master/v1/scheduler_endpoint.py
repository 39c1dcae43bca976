"""`POST /api/v1/scheduler`: Mesos's v1 scheduler API on the master's HTTP address.

SUBSCRIBE opens the framework's event stream (200, chunked, `Mesos-Stream-Id`,
RecordIO JSON events) served by an `HttpScheduler` actor, the adapter that
speaks to the master as an actor scheduler would. Every other call comes on
another connection, names its framework and carries that stream id; it is
checked here, turned into the master's message (master.v1.scheduler_calls)
and answered 202 at once -- the master's verdict, if any, arrives on the
stream as Mesos's would (an UPDATE with TASK_DROPPED, an ERROR, ...).

Answers: 400 for a malformed or invalid call, a missing or wrong stream id;
403 for a framework with no open subscription; 415/406/413 as in
zmesos.v1.http. A master that does not lead answers 307 to the leader
(master.http's middleware, for every path).

Calls answered at once mostly arrive by the HTTP server's fast path
(zmesos.http.fast_path), which asks `answer_fast`; the rest, and all of them
on a connection the fast path handed over, come through aiohttp to `handle`.
Both answer alike: one `_answer_at_once` decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from libprocess import PID, Node, ProcessTerminated
from master.v1.http_scheduler import HttpScheduler
from master.v1.scheduler_calls import CALLS, UNSUPPORTED_CALLS, read_acknowledge
from zmesos.errors import ApiError
from zmesos.http import http_principal
from zmesos.http.fast_path import FastAnswer, FastRequest
from zmesos.v1.http import (
    EventStream,
    Refused,
    check_call_headers,
    decode_call,
    read_call_body,
    refusal,
)
from zmesos.v1.objects import framework_info_from_v1
from zmesos.v1.reader import array, id_value, obj

__all__ = ["SchedulerApi"]

STREAM_ID = "Mesos-Stream-Id"


class SchedulerApi:
    """The endpoint for the master at `master_pid` on `node`; `handle` is the aiohttp handler.

    `subscriptions` maps a framework id to its open subscription (one at a
    time: a newer SUBSCRIBE fails the older over).
    """

    def __init__(self, master_pid: PID, node: Node, master_ip: str) -> None:
        self.master_pid = master_pid
        self.node = node
        self.master_ip = master_ip
        self.subscriptions: dict[str, HttpScheduler] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await read_call_body(request)
        outcome = self._answer_at_once(request.headers, body)
        if isinstance(outcome, int):
            return web.Response(status=outcome)
        if outcome["type"] == "SUBSCRIBE":
            return await self._subscribe(request, outcome)
        return await self._update_framework(outcome, _stream_id(request.headers))

    def answer_fast(self, request: FastRequest) -> FastAnswer | None:
        """A call that came by the fast path (zmesos.http.fast_path), answered as `handle`
        would; None for SUBSCRIBE and UPDATE_FRAMEWORK, which `handle` serves."""
        try:
            check_call_headers(request.headers)
            outcome = self._answer_at_once(request.headers, request.body)
        except (ApiError, Refused) as error:
            status, reason = refusal("scheduler", error)
            return FastAnswer(status=status, text=reason)
        return FastAnswer(status=outcome) if isinstance(outcome, int) else None

    def _answer_at_once(self, headers: Mapping[str, str], body: bytes) -> int | dict[str, Any]:
        """Forward a call answered at once and its status (202); the decoded call for
        SUBSCRIBE and UPDATE_FRAMEWORK, left to the caller untouched; Refused or ApiError."""
        acknowledgement = read_acknowledge(body)
        if acknowledgement is not None:  # most calls: their own fast path
            framework_id, acknowledge = acknowledgement
            self._subscription(framework_id, _stream_id(headers)).forward(acknowledge)
            return 202
        call = decode_call(body)
        kind = call["type"]
        if kind in ("SUBSCRIBE", "UPDATE_FRAMEWORK"):
            return call
        stream_id = _stream_id(headers)
        if kind in UNSUPPORTED_CALLS:
            raise Refused(400, f"{kind} is not supported by zmesos")
        reader = CALLS.get(kind)
        if reader is None:
            raise Refused(400, f"Unknown call type {kind[:64]!r}")
        framework_id = id_value(call, "framework_id", "call", required=True)
        message = reader(call, framework_id)
        subscription = self._subscription(framework_id, stream_id)
        if message is not None:
            subscription.forward(message)
        if kind == "TEARDOWN":
            subscription.stream.close("the framework tore itself down")
        return 202

    def _subscription(self, framework_id: str, stream_id: str) -> HttpScheduler:
        """The framework's open subscription, if `stream_id` is its stream; Refused else."""
        subscription = self.subscriptions.get(framework_id)
        if subscription is None or subscription.terminated:
            raise Refused(403, f"Framework {framework_id[:128]!r} is not subscribed")
        if subscription.stream_id != stream_id:
            raise Refused(
                400,
                f"The stream ID '{stream_id[:128]}' included in this request didn't match"
                f" the stream ID currently associated with framework ID {framework_id}",
            )
        return subscription

    async def _update_framework(self, call: dict[str, Any], stream_id: str) -> web.Response:
        """UPDATE_FRAMEWORK: answered 200 once the master applied it, 400 with its reason."""
        framework_id = id_value(call, "framework_id", "call", required=True)
        body = obj(call.get("update_framework"), "update_framework")
        info = framework_info_from_v1(body.get("framework_info"), "update_framework.framework_info")
        if info.id and info.id != framework_id:
            raise ApiError("'framework_id' differs from 'update_framework.framework_info.id'")
        suppressed = array(body, "suppressed_roles", "update_framework")
        if not all(isinstance(role, str) for role in suppressed):
            raise ApiError("update_framework.suppressed_roles: expected strings")
        subscription = self._subscription(framework_id, stream_id)
        try:
            problem = await self.node.dispatch(
                self.master_pid,
                "update_framework_info",
                framework_id,
                subscription.pid,
                info,
                tuple(suppressed),
            )
        except ProcessTerminated:
            raise Refused(503, "the master is not running") from None
        if problem is not None:
            raise Refused(400, problem)
        return web.Response(status=200)

    async def _subscribe(self, request: web.Request, call: dict[str, Any]) -> web.StreamResponse:
        if request.headers.get(STREAM_ID):
            raise Refused(400, f"Subscribe calls should not include the '{STREAM_ID}' header")
        subscribe = obj(call.get("subscribe"), "subscribe")
        framework = framework_info_from_v1(
            subscribe.get("framework_info"), "subscribe.framework_info"
        )
        framework_id = id_value(call, "framework_id", "call")
        if framework_id != framework.id:
            raise ApiError("'framework_id' differs from 'subscribe.framework_info.id'")
        suppressed = array(subscribe, "suppressed_roles", "subscribe")
        if not all(isinstance(role, str) and role in framework.roles for role in suppressed):
            raise ApiError("subscribe.suppressed_roles must be roles of the framework")
        stream = EventStream()
        stream_id = str(uuid.uuid4())
        scheduler = HttpScheduler(
            self.master_pid,
            stream,
            framework,
            stream_id=stream_id,
            suppressed_roles=tuple(suppressed),
            master_ip=self.master_ip,
            on_subscribed=self._subscribed,
            principal=http_principal(request),
        )
        stream.on_close(lambda _: self._unsubscribed(scheduler))
        self.node.spawn(scheduler)
        return await stream.serve(request, {STREAM_ID: stream_id})

    def _subscribed(self, scheduler: HttpScheduler) -> None:
        self.subscriptions[scheduler.framework_id] = scheduler

    def _unsubscribed(self, scheduler: HttpScheduler) -> None:
        if self.subscriptions.get(scheduler.framework_id) is scheduler:
            del self.subscriptions[scheduler.framework_id]


def _stream_id(headers: Mapping[str, str]) -> str:
    stream_id = headers.get("mesos-stream-id")
    if not stream_id:
        raise Refused(400, f"All non-subscribe calls should include the '{STREAM_ID}' header")
    return stream_id
