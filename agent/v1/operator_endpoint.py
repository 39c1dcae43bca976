"""`POST /api/v1` on the agent: Mesos's v1 operator API, the agent's calls (agent.proto).

GET_HEALTH, GET_VERSION, GET_FLAGS, GET_METRICS, GET_STATE, GET_FRAMEWORKS,
GET_EXECUTORS, GET_TASKS, GET_CONTAINERS, LIST_FILES and READ_FILE. The state
calls render the same snapshot as `/state` (agent.views); GET_METRICS answers
what `/metrics/snapshot` does, to whom get_endpoints lets GET that path.
Files are those of the agent's sandboxes and volumes, confined as `/files`
confines them (agent.files: a path is resolved, symlinks included, and refused
when it leads elsewhere), so LIST_FILES and READ_FILE never show the rest of
the machine. READ_FILE returns at most `MAX_READ` bytes per call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.files import FilesError, SandboxFiles
from agent.views import (
    collect,
    flags_view,
    get_executors,
    get_frameworks,
    get_state,
    get_tasks,
    metrics_view,
)
from libprocess import PID, Node, ProcessTerminated
from zmesos.http import guard_snapshot, http_principal, json_response
from zmesos.v1.http import Refused, read_call
from zmesos.v1.objects import b64_text, metrics_to_v1, read_get_metrics
from zmesos.v1.reader import number, obj, string
from zmesos.version import version_json

__all__ = ["AgentOperatorApi"]

MAX_READ = 16 * 1024 * 1024
METRICS_ENDPOINT = "/metrics/snapshot"  # whose ACL (get_endpoints) GET_METRICS answers to


# The state calls: the answer's key and how it renders the snapshot.
STATE_CALLS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "GET_STATE": get_state,
    "GET_FRAMEWORKS": get_frameworks,
    "GET_EXECUTORS": get_executors,
    "GET_TASKS": get_tasks,
}


class AgentOperatorApi:
    """The operator endpoint of the agent at `agent_pid`, its files those `files` shows."""

    def __init__(self, agent_pid: PID, node: Node, files: SandboxFiles) -> None:
        self.agent_pid = agent_pid
        self.node = node
        self.files = files

    async def _ask(self, function: Callable[..., Any]) -> Any:
        try:
            return await self.node.dispatch(self.agent_pid, function)
        except ProcessTerminated:
            raise Refused(503, "the agent is not running") from None

    async def metrics_snapshot(self, app: web.Application) -> dict[str, float]:
        """What `/metrics/snapshot` and GET_METRICS answer, by name: the agent's metrics and
        the refusals of the HTTP guard `app` is served behind."""
        snapshot = await self._ask(metrics_view)
        snapshot.update(guard_snapshot(app, "slave"))
        return dict(sorted(snapshot.items()))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        call = await read_call(request)
        kind = call["type"]
        if kind == "GET_HEALTH":
            answer: dict[str, Any] = {"healthy": True}
        elif kind == "GET_VERSION":
            answer = {"version_info": version_json()}
        elif kind == "GET_FLAGS":
            principal = http_principal(request)
            if not await self._ask(lambda agent: agent.may_view_flags(principal)):
                raise Refused(403, "Not authorized to view the flags")
            flags = (await self._ask(flags_view))["flags"]
            answer = {"flags": [{"name": name, "value": value} for name, value in flags.items()]}
        elif kind == "GET_METRICS":
            read_get_metrics(call)
            principal = http_principal(request)
            if not await self._ask(
                lambda agent: agent.may_get_endpoint(principal, METRICS_ENDPOINT)
            ):
                raise Refused(403, f"Not authorized to GET {METRICS_ENDPOINT}")
            answer = metrics_to_v1(await self.metrics_snapshot(request.app))
        elif kind in STATE_CALLS:
            answer = STATE_CALLS[kind](await self._ask(collect))
        elif kind == "GET_CONTAINERS":
            answer = {"containers": await self._ask(_containers)}
        elif kind == "LIST_FILES":
            body = obj(call.get("list_files"), "list_files")
            await self._may_access(request, string(body, "path", "list_files", required=True))
            answer = self._list_files(body)
        elif kind == "READ_FILE":
            body = obj(call.get("read_file"), "read_file")
            await self._may_access(request, string(body, "path", "read_file", required=True))
            answer = self._read_file(body)
        else:
            raise Refused(400, f"Unsupported call type {kind[:64]!r}")
        return json_response({"type": kind, kind.lower(): answer})

    async def _may_access(self, request: web.Request, text: str) -> None:
        """403 unless the ACLs (access_sandboxes) let the request's principal see `text`."""
        path = self._resolve(text)
        principal = http_principal(request)
        if not await self._ask(lambda agent: agent.may_access_sandbox(principal, path)):
            raise Refused(403, "Not authorized to access this sandbox")

    def _resolve(self, text: str) -> Path:
        try:
            return self.files.resolve(text)
        except FilesError as error:
            raise Refused(error.status, str(error)) from None

    def _list_files(self, body: dict[str, Any]) -> dict[str, Any]:
        directory = self._resolve(string(body, "path", "list_files", required=True))
        if not directory.is_dir():
            return {"file_infos": [_file_info(directory)]}
        return {"file_infos": [_file_info(entry) for entry in sorted(directory.iterdir())]}

    def _read_file(self, body: dict[str, Any]) -> dict[str, Any]:
        path = self._resolve(string(body, "path", "read_file", required=True))
        if not path.is_file():
            raise Refused(400, f"{path} is not a file")
        offset = int(number(body, "offset", "read_file"))
        length = int(number(body, "length", "read_file", MAX_READ))
        if offset < 0 or length < 0:
            raise Refused(400, "read_file: offset and length must not be negative")
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            file.seek(offset)
            data = file.read(min(length, MAX_READ))
        return {"size": size, "data": b64_text(data)}


def _containers(agent: Any) -> Any:
    return agent.containers()


def _file_info(path: Path) -> dict[str, Any]:
    info = path.lstat()
    return {
        "path": str(path),
        "nlink": info.st_nlink,
        "size": info.st_size,
        "mtime": {"nanoseconds": info.st_mtime_ns},
        "mode": info.st_mode,
        "uid": str(info.st_uid),
        "gid": str(info.st_gid),
    }
