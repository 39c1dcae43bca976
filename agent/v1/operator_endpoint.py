"""`POST /api/v1` on the agent: Mesos's v1 operator API, the agent's calls (agent.proto).

GET_HEALTH, GET_VERSION, GET_FLAGS, GET_CONTAINERS, LIST_FILES and
READ_FILE. Files are those under the agent's work directory (sandboxes,
volumes): a path is resolved, symlinks included, and refused (404) when it
leads outside it, so LIST_FILES and READ_FILE never show the rest of the
machine. READ_FILE returns at most `MAX_READ` bytes per call.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from libprocess import PID, Node, ProcessTerminated
from zmesos.http import json_response
from zmesos.v1.http import Refused, read_call
from zmesos.v1.objects import b64_text
from zmesos.v1.reader import number, obj, string
from zmesos.version import version_json

__all__ = ["AgentOperatorApi"]

MAX_READ = 16 * 1024 * 1024


class AgentOperatorApi:
    """The operator endpoint of the agent at `agent_pid`, files under `work_dir`."""

    def __init__(self, agent_pid: PID, node: Node, work_dir: str, flags: object) -> None:
        self.agent_pid = agent_pid
        self.node = node
        self.root = Path(work_dir).resolve()
        self.flags = flags

    async def handle(self, request: web.Request) -> web.StreamResponse:
        call = await read_call(request)
        kind = call["type"]
        if kind == "GET_HEALTH":
            answer: dict[str, Any] = {"healthy": True}
        elif kind == "GET_VERSION":
            answer = {"version_info": version_json()}
        elif kind == "GET_FLAGS":
            answer = {"flags": _flags(self.flags)}
        elif kind == "GET_CONTAINERS":
            try:
                answer = {"containers": await self.node.dispatch(self.agent_pid, "containers")}
            except ProcessTerminated:
                raise Refused(503, "the agent is not running") from None
        elif kind == "LIST_FILES":
            answer = self._list_files(obj(call.get("list_files"), "list_files"))
        elif kind == "READ_FILE":
            answer = self._read_file(obj(call.get("read_file"), "read_file"))
        else:
            raise Refused(400, f"Unsupported call type {kind[:64]!r}")
        return json_response({"type": kind, kind.lower(): answer})

    def _resolve(self, text: str) -> Path:
        """`text` inside the work directory, or Refused(404)."""
        path = Path(text)
        if not path.is_absolute():
            path = self.root / path
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise Refused(404, f"{text[:256]!r} does not exist") from None
        if resolved != self.root and self.root not in resolved.parents:
            raise Refused(404, f"{text[:256]!r} is not under the agent's work directory")
        return resolved

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
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            file.seek(offset)
            data = file.read(min(length, MAX_READ))
        return {"size": size, "data": b64_text(data)}


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


def _flags(flags: object) -> list[dict[str, str]]:
    if not dataclasses.is_dataclass(flags):
        return []
    return [
        {"name": field.name, "value": "" if value is None else str(value)}
        for field in dataclasses.fields(flags)
        for value in [getattr(flags, field.name)]
    ]
