"""A custom executor written against Mesos's v1 executor API with nothing but aiohttp
(`python -m tests.agent.v1_executor`), as a Mesos user would write one.

It reads the environment Mesos gives executors, subscribes at
MESOS_AGENT_ENDPOINT, runs each launched task's shell command, and reports
TASK_RUNNING then TASK_FINISHED or TASK_FAILED by exit status (TASK_KILLED
when killed). Every update carries a fresh uuid and is kept until the agent
ACKNOWLEDGEs it; framework messages come back prefixed with `echo:`. It exits
0 on SHUTDOWN, 3 when an environment variable Mesos sets is missing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
import uuid
from typing import Any

import aiohttp

REQUIRED = (
    "MESOS_FRAMEWORK_ID",
    "MESOS_EXECUTOR_ID",
    "MESOS_AGENT_ENDPOINT",
    "MESOS_SANDBOX",
    "MESOS_DIRECTORY",
    "MESOS_CHECKPOINT",
    "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
)


class V1Executor:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.url = f"http://{os.environ['MESOS_AGENT_ENDPOINT']}/api/v1/executor"
        self.ids = {
            "framework_id": {"value": os.environ["MESOS_FRAMEWORK_ID"]},
            "executor_id": {"value": os.environ["MESOS_EXECUTOR_ID"]},
        }
        self.unacknowledged: dict[str, dict[str, Any]] = {}
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.killed: set[str] = set()

    async def call(self, kind: str, body: dict[str, Any]) -> None:
        call = {"type": kind, **self.ids, kind.lower(): body}
        async with self.session.post(self.url, json=call) as response:
            if response.status != 202:
                raise RuntimeError(f"{kind} answered {response.status}: {await response.text()}")

    async def update(self, task_id: str, state: str, message: str = "") -> None:
        update_uuid = base64.b64encode(uuid.uuid4().bytes).decode()
        status = {
            "task_id": {"value": task_id},
            "state": state,
            "source": "SOURCE_EXECUTOR",
            "message": message,
            "uuid": update_uuid,
            "timestamp": time.time(),
        }
        self.unacknowledged[update_uuid] = status
        await self.call("UPDATE", {"status": status})

    async def run(self, task: dict[str, Any]) -> None:
        task_id = task["task_id"]["value"]
        command = task.get("data") and base64.b64decode(task["data"]).decode()
        process = await asyncio.create_subprocess_shell(command or "true")
        self.processes[task_id] = process
        await self.update(task_id, "TASK_RUNNING")
        status = await process.wait()
        if task_id in self.killed:
            await self.update(task_id, "TASK_KILLED")
        elif status == 0:
            await self.update(task_id, "TASK_FINISHED")
        else:
            await self.update(task_id, "TASK_FAILED", f"exited with status {status}")

    async def serve(self) -> int:
        subscribe = {
            "type": "SUBSCRIBE",
            **self.ids,
            "subscribe": {"unacknowledged_updates": []},
        }
        running: set[asyncio.Task[None]] = set()
        async with self.session.post(
            self.url, json=subscribe, timeout=aiohttp.ClientTimeout(total=None)
        ) as stream:
            if stream.status != 200:
                return 2
            while line := await stream.content.readline():
                event = json.loads(await stream.content.readexactly(int(line)))
                kind = event["type"]
                if kind == "LAUNCH":
                    task = asyncio.ensure_future(self.run(event["launch"]["task"]))
                    running.add(task)
                    task.add_done_callback(running.discard)
                elif kind == "KILL":
                    task_id = event["kill"]["task_id"]["value"]
                    self.killed.add(task_id)
                    process = self.processes.get(task_id)
                    if process is not None and process.returncode is None:
                        process.terminate()
                elif kind == "ACKNOWLEDGED":
                    self.unacknowledged.pop(event["acknowledged"]["uuid"], None)
                elif kind == "MESSAGE":
                    data = base64.b64decode(event["message"]["data"])
                    await self.call("MESSAGE", {"data": base64.b64encode(b"echo:" + data).decode()})
                elif kind in ("SHUTDOWN", "ERROR"):
                    for process in self.processes.values():
                        if process.returncode is None:
                            process.kill()
                    return 0 if kind == "SHUTDOWN" else 4
        return 5  # the stream ended


async def main() -> int:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        print(f"missing {missing}", file=sys.stderr)
        return 3
    async with aiohttp.ClientSession() as session:
        return await V1Executor(session).serve()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
