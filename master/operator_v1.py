"""The master's side of the v1 operator API: views and operator event streams.

Methods here are called by `dispatch` from the HTTP side (master.v1), so
each runs in the master's serial context and answers one consistent moment.
Weights and quota are master.operator_calls's.

Operator SUBSCRIBE streams observe the cluster (master.state observers):
each change becomes a v1 event at the moment it happens, and every
subscriber hears a HEARTBEAT each `OPERATOR_HEARTBEAT_INTERVAL` seconds on
the runtime clock.
"""

from __future__ import annotations

from typing import Any

from master.authorization import Viewer
from master.base import MasterBase
from master.state import MasterAgent, MasterFramework, MasterTask
from master.v1 import operator_views as views
from zmesos.v1.http import EventStream
from zmesos.v1.objects import framework_info_to_v1, ident, task_status_to_v1

__all__ = ["OPERATOR_HEARTBEAT_INTERVAL", "OperatorV1Handlers"]

OPERATOR_HEARTBEAT_INTERVAL = 15.0

_VIEWS = {
    "GET_STATE": views.get_state,
    "GET_AGENTS": views.get_agents,
    "GET_FRAMEWORKS": views.get_frameworks,
    "GET_EXECUTORS": views.get_executors,
    "GET_TASKS": views.get_tasks,
    "GET_MASTER": views.get_master,
}


class OperatorV1Handlers(MasterBase):
    """v1 operator views and event streams (see the module docstring)."""

    # -- views -------------------------------------------------------------------------

    def operator_view(self, call: str, principal: str | None = None) -> dict[str, Any]:
        """GET_STATE, GET_AGENTS, ... as Mesos's JSON (a KeyError for anything else), as
        `principal` (the request's; None: unknown) may see them under the ACLs."""
        viewer = self._viewer(principal)
        view = _VIEWS[call](self, viewer)  # type: ignore[arg-type]
        self._viewed(viewer, principal, call)
        return view

    def roles_view(self, weights: dict[str, float], principal: str | None = None) -> dict[str, Any]:
        """GET_ROLES as `principal` may see it (view_roles); `weights` as
        master.operator_calls's `weights()` gives them."""
        viewer = self._viewer(principal)
        view = views.get_roles(self, weights, viewer)  # type: ignore[arg-type]
        self._viewed(viewer, principal, "GET_ROLES")
        return view

    # -- event streams -----------------------------------------------------------------

    def subscribe_operator(self, stream: EventStream, principal: str | None = None) -> None:
        """Start `stream` with SUBSCRIBED (the whole state), then every change, in order;
        all as `principal` may see them under the ACLs."""
        viewer = self._viewer(principal)
        stream.send(
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "get_state": views.get_state(self, viewer),  # type: ignore[arg-type]
                    "heartbeat_interval_seconds": OPERATOR_HEARTBEAT_INTERVAL,
                },
            }
        )
        stream.send({"type": "HEARTBEAT"})

        self._viewed(viewer, principal, "SUBSCRIBE")

        def observe(event: str, record: MasterTask | MasterFramework | MasterAgent) -> None:
            if self._visible(viewer, record):
                stream.send(self._operator_event(event, record, viewer))

        self.operator_streams[stream] = observe
        self.cluster.observers.append(observe)
        if self._operator_heartbeat is None:
            self._operator_heartbeat = self.delay(
                OPERATOR_HEARTBEAT_INTERVAL, self._beat_operator_streams
            )

    def unsubscribe_operator(self, stream: EventStream) -> None:
        observe = self.operator_streams.pop(stream, None)
        if observe is not None:
            self.cluster.observers.remove(observe)

    def _beat_operator_streams(self) -> None:
        self._operator_heartbeat = None
        if not self.operator_streams:
            return
        for stream in list(self.operator_streams):
            stream.send({"type": "HEARTBEAT"})
        self._operator_heartbeat = self.delay(
            OPERATOR_HEARTBEAT_INTERVAL, self._beat_operator_streams
        )

    def _visible(self, viewer: Viewer, record: MasterTask | MasterFramework | MasterAgent) -> bool:
        if isinstance(record, MasterTask):
            framework = self.cluster.frameworks.get(record.framework_id)
            return viewer.task(record.info, framework.info if framework is not None else None)
        if isinstance(record, MasterFramework):
            return viewer.framework(record.info)
        return viewer.agent(record.hostname)

    def _operator_event(
        self, event: str, record: MasterTask | MasterFramework | MasterAgent, viewer: Viewer
    ) -> dict[str, Any]:
        key = event.lower()
        if isinstance(record, MasterTask):
            if event == "TASK_ADDED":
                return {"type": event, key: {"task": views.task_v1(record)}}
            status = record.status
            updated: dict[str, Any] = {
                "framework_id": ident(record.framework_id),
                "agent_id": ident(record.agent_id),
                "state": str(record.state),
            }
            if record.info.executor is not None:
                updated["executor_id"] = ident(record.executor_id)
            if status is not None:
                updated["status"] = task_status_to_v1(status)
            return {"type": event, key: updated}
        if isinstance(record, MasterFramework):
            if event == "FRAMEWORK_REMOVED":
                return {"type": event, key: {"framework_info": framework_info_to_v1(record.info)}}
            framework = views.framework_v1(self, record, viewer=viewer)  # type: ignore[arg-type]
            return {"type": event, key: {"framework": framework}}
        if event == "AGENT_REMOVED":
            return {"type": event, key: {"agent_id": ident(record.id)}}
        return {"type": event, key: {"agent": views.agent_v1(self, record, viewer)}}  # type: ignore[arg-type]
