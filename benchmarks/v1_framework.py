"""A batch framework on Mesos's v1 HTTP scheduler API, for the cluster benchmark.

What a v1 framework author would write with an HTTP client: SUBSCRIBE and
read the RecordIO stream; pack pending tasks into each offer and ACCEPT (or
DECLINE); ACKNOWLEDGE every update with a uuid; SUPPRESS when nothing is left
to launch; TEARDOWN when every task has ended. Calls never wait on the event
stream: they queue for `HttpCalls`, a few keep-alive HTTP/1.1 connections
that pipeline what is queued (one write, then the answers in order), as an
efficient client in any language would; aiohttp's client costs the Python
process more per call than the master spends answering it. The event stream
is likewise read in bulk, its RecordIO framing split by zmesos.v1.recordio.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import aiohttp
import msgspec

from zmesos.v1.recordio import RecordReader

__all__ = ["V1BatchFramework"]

TERMINAL = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
}


class HttpCalls:
    """POSTs of JSON calls over `connections` pipelined keep-alive connections.

    Answers are read in bulk from each connection's buffer, not line by line;
    `failed` counts calls answered other than 202 (or lost with a connection).
    """

    def __init__(self, host: str, port: int, path: str, connections: int) -> None:
        self.host, self.port, self.path = host, port, path
        self.connections = connections
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.headers: dict[str, str] = {}
        self.outstanding = 0
        self.failed = 0
        self._idle = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._workers = [asyncio.ensure_future(self._work()) for _ in range(self.connections)]

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    def post(self, body: bytes) -> None:
        """Queue one call."""
        self.outstanding += 1
        self._idle.clear()
        self.queue.put_nowait(body)

    async def answered(self) -> None:
        """Until every call posted so far has its answer."""
        if self.outstanding:
            await self._idle.wait()

    def _answer(self, status: int) -> None:
        if status != 202:
            self.failed += 1
        self.outstanding -= 1
        if not self.outstanding:
            self._idle.set()

    async def _work(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        head = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        prefix = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\n{head}"
        ).encode()
        buffer = b""
        try:
            while True:
                batch = [await self.queue.get()]
                while not self.queue.empty() and len(batch) < 64:
                    batch.append(self.queue.get_nowait())
                writer.write(
                    b"".join(
                        b"%sContent-Length: %d\r\n\r\n%s" % (prefix, len(body), body)
                        for body in batch
                    )
                )
                waiting = len(batch)
                while waiting:
                    end = buffer.find(b"\r\n\r\n")
                    if end < 0:
                        buffer = await self._more(reader, buffer)
                        continue
                    length = _content_length(buffer[:end])
                    if len(buffer) < end + 4 + length:
                        buffer = await self._more(reader, buffer)
                        continue
                    self._answer(int(buffer[9:12]))
                    buffer = buffer[end + 4 + length :]
                    waiting -= 1
        except BaseException:
            for _ in range(self.outstanding):  # nothing more will be answered here
                self._answer(0)
            raise
        finally:
            writer.close()

    @staticmethod
    async def _more(reader: asyncio.StreamReader, buffer: bytes) -> bytes:
        data = await reader.read(1 << 16)
        if not data:
            raise ConnectionError("the master closed the connection")
        return buffer + data


def _content_length(head: bytes) -> int:
    start = head.lower().find(b"\r\ncontent-length:")
    if start < 0:
        return 0
    start += len(b"\r\ncontent-length:")
    end = head.find(b"\r\n", start)
    return int(head[start : end if end >= 0 else len(head)])


class V1BatchFramework:
    """Runs `task_ids` (each `cpus` and `mem`, command `true`) on the master at `url`."""

    def __init__(
        self,
        url: str,
        task_ids: list[str],
        *,
        cpus: float = 1.0,
        mem: float = 128.0,
        refuse_seconds: float = 1.0,
        name: str = "bench-v1",
        connections: int = 4,
    ) -> None:
        self.url = f"{url}/api/v1/scheduler"
        self.cpus, self.mem = cpus, mem
        self.refuse_seconds = refuse_seconds
        self.name = name
        self.connections = connections
        self.pending = collections.deque(task_ids)
        self.launched_at: dict[str, float] = {}
        self.running_latency: dict[str, float] = {}
        self.states: dict[str, str] = {}
        self.remaining = len(task_ids)
        self.framework_id = ""
        self.stream_id = ""
        self.failed_calls = 0
        self._http: HttpCalls | None = None
        self._decoder = msgspec.json.Decoder()

    @property
    def finished(self) -> int:
        return sum(1 for state in self.states.values() if state == "TASK_FINISHED")

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            subscribe = {
                "type": "SUBSCRIBE",
                "subscribe": {"framework_info": {"user": "bench", "name": self.name}},
            }
            async with session.post(
                self.url, json=subscribe, timeout=aiohttp.ClientTimeout(total=None)
            ) as stream:
                if stream.status != 200:
                    raise RuntimeError(f"SUBSCRIBE answered {stream.status}")
                self.stream_id = stream.headers["Mesos-Stream-Id"]
                url = stream.url
                assert url.host is not None and url.port is not None
                self._http = HttpCalls(url.host, url.port, url.path, self.connections)
                self._http.headers["Mesos-Stream-Id"] = self.stream_id
                self._http.start()
                records = RecordReader()
                while self.remaining:
                    chunk = await stream.content.readany()
                    if not chunk:
                        raise RuntimeError("the event stream ended")
                    for record in records.feed(chunk):
                        self._event(self._decoder.decode(record))
                await self._http.answered()
                self._call("TEARDOWN", None)  # after the others: connections do not keep order
                await self._http.answered()
                await self._http.close()
                self.failed_calls = self._http.failed

    # -- events --------------------------------------------------------------------------

    def _event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "SUBSCRIBED":
            self.framework_id = event["subscribed"]["framework_id"]["value"]
        elif kind == "OFFERS":
            for offer in event["offers"]["offers"]:
                self._offer(offer)
            if not self.pending:
                self._call("SUPPRESS", {})
        elif kind == "UPDATE":
            self._update(event["update"]["status"])
        elif kind == "ERROR":
            raise RuntimeError(event["error"]["message"])

    def _offer(self, offer: dict[str, Any]) -> None:
        cpus = mem = 0.0
        for resource in offer["resources"]:
            if resource["name"] == "cpus":
                cpus += resource["scalar"]["value"]
            elif resource["name"] == "mem":
                mem += resource["scalar"]["value"]
        tasks = []
        now = time.monotonic()
        while self.pending and cpus >= self.cpus and mem >= self.mem:
            task_id = self.pending.popleft()
            cpus -= self.cpus
            mem -= self.mem
            self.launched_at[task_id] = now
            tasks.append(
                {
                    "name": task_id,
                    "task_id": {"value": task_id},
                    "agent_id": offer["agent_id"],
                    "command": {"shell": True, "value": "true"},
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": self.cpus}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": self.mem}},
                    ],
                }
            )
        filters = {"refuse_seconds": self.refuse_seconds}
        if tasks:
            operations = [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]
            body = {"offer_ids": [offer["id"]], "operations": operations, "filters": filters}
            self._call("ACCEPT", body)
        else:
            self._call("DECLINE", {"offer_ids": [offer["id"]], "filters": filters})

    def _update(self, status: dict[str, Any]) -> None:
        task_id = status["task_id"]["value"]
        state = status["state"]
        if state == "TASK_RUNNING" and task_id in self.launched_at:
            self.running_latency.setdefault(task_id, time.monotonic() - self.launched_at[task_id])
        if "uuid" in status:
            acknowledge = {
                "agent_id": status["agent_id"],
                "task_id": status["task_id"],
                "uuid": status["uuid"],
            }
            self._call("ACKNOWLEDGE", acknowledge)
        if state in TERMINAL and self.states.get(task_id) not in TERMINAL:
            self.remaining -= 1
        self.states[task_id] = state

    # -- calls ---------------------------------------------------------------------------

    def _call(self, kind: str, body: dict[str, Any] | None) -> None:
        assert self._http is not None
        call: dict[str, Any] = {"type": kind, "framework_id": {"value": self.framework_id}}
        if body is not None:
            call[kind.lower()] = body
        self._http.post(msgspec.json.encode(call))
