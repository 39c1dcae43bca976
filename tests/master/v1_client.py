"""A v1 HTTP scheduler client made of nothing but aiohttp, as a Mesos user would write one.

It parses RecordIO itself (length line, then that many bytes), so the tests
check zmesos's stream against Mesos's format, not against zmesos's own reader.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


class V1Scheduler:
    """One subscription: `events` fills as the stream is read; `call` posts other calls."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = f"{url}/api/v1/scheduler"
        self.session = session
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self.stream_id = ""
        self.framework_id = ""
        self.response: aiohttp.ClientResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def subscribe(self, framework_info: dict[str, Any], **subscribe: Any) -> dict[str, Any]:
        """SUBSCRIBE; returns the first event (SUBSCRIBED, or ERROR)."""
        call: dict[str, Any] = {
            "type": "SUBSCRIBE",
            "subscribe": {"framework_info": framework_info, **subscribe},
        }
        if "id" in framework_info:
            call["framework_id"] = framework_info["id"]
        self.response = await self.session.post(
            self.url,
            json=call,
            headers={"Accept": "application/json", "Connection": "close"},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        )
        assert self.response.status == 200, await self.response.text()
        assert self.response.headers.get("Transfer-Encoding") == "chunked"
        self.stream_id = self.response.headers["Mesos-Stream-Id"]
        self._reader = asyncio.ensure_future(self._read())
        first = await self.next_event()
        if first["type"] == "SUBSCRIBED":
            self.framework_id = first["subscribed"]["framework_id"]["value"]
        return first

    async def _read(self) -> None:
        assert self.response is not None
        content = self.response.content
        try:
            while True:
                line = await content.readline()
                if not line:
                    break
                record = await content.readexactly(int(line))
                event = json.loads(record)
                self.seen.append(event)
                await self.events.put(event)
        except (aiohttp.ClientError, asyncio.IncompleteReadError, ConnectionError):
            pass
        await self.events.put({"type": "<closed>"})

    async def next_event(self, *skip: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next event whose type is not in `skip` (HEARTBEAT is always skipped)."""
        while True:
            event = await asyncio.wait_for(self.events.get(), timeout)
            if event["type"] not in ("HEARTBEAT", *skip):
                return event

    async def call(self, kind: str, body: dict[str, Any] | None = None, **headers: str) -> int:
        """Any other call; returns the HTTP status."""
        call: dict[str, Any] = {"type": kind, "framework_id": {"value": self.framework_id}}
        if body is not None:
            call[kind.lower()] = body
        async with self.session.post(
            self.url,
            json=call,
            headers={"Mesos-Stream-Id": self.stream_id, **headers},
        ) as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        if self.response is not None:
            self.response.close()
        if self._reader is not None:
            self._reader.cancel()


def launch(offer: dict[str, Any], task_id: str, command: str = "true", **resources: float) -> dict:
    """An ACCEPT body launching one command task on `offer`."""
    return {
        "offer_ids": [offer["id"]],
        "operations": [
            {
                "type": "LAUNCH",
                "launch": {
                    "task_infos": [task_info(offer, task_id, command, **resources)],
                },
            }
        ],
        "filters": {"refuse_seconds": 0.0},
    }


def task_info(offer: dict[str, Any], task_id: str, command: str = "true", **amounts: float) -> dict:
    amounts = amounts or {"cpus": 0.1, "mem": 32.0}
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "command": {"shell": True, "value": command},
        "resources": [
            {"name": name, "type": "SCALAR", "scalar": {"value": value}, "role": "*"}
            for name, value in amounts.items()
        ],
    }


def default_executor(executor_id: str = "pod", **amounts: float) -> dict[str, Any]:
    """A DEFAULT executor (the agent's default executor runs the group)."""
    amounts = amounts or {"cpus": 0.1, "mem": 32.0, "disk": 32.0}
    return {
        "type": "DEFAULT",
        "executor_id": {"value": executor_id},
        "resources": [
            {"name": name, "type": "SCALAR", "scalar": {"value": value}, "role": "*"}
            for name, value in amounts.items()
        ],
    }


def launch_group(
    offer: dict[str, Any], executor: dict[str, Any], tasks: list[dict[str, Any]]
) -> dict[str, Any]:
    """An ACCEPT body launching `tasks` as one group on `executor`."""
    return {
        "offer_ids": [offer["id"]],
        "operations": [
            {
                "type": "LAUNCH_GROUP",
                "launch_group": {"executor": executor, "task_group": {"tasks": tasks}},
            }
        ],
        "filters": {"refuse_seconds": 0.0},
    }
