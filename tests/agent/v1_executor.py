"""A custom executor written against Mesos's v1 executor API with nothing but aiohttp
(`python -m tests.agent.v1_executor`), as a Mesos user would write one.

It reads the environment Mesos gives executors, subscribes at
MESOS_AGENT_ENDPOINT, runs each launched task's shell command (its `data`,
else its command: each task of a LAUNCH_GROUP too), and reports TASK_RUNNING
(saying "in a group of N" for a group's) then TASK_FINISHED or TASK_FAILED by
exit status (TASK_KILLED when killed). Every update carries a fresh uuid and is kept until the agent
ACKNOWLEDGEs it; framework messages come back prefixed with `echo:`. When
its framework checkpoints and the stream breaks (the agent restarted), it
subscribes again every MESOS_SUBSCRIPTION_BACKOFF_MAX for up to
MESOS_RECOVERY_TIMEOUT, handing back its unacknowledged tasks and updates, as
Mesos's docs ask. It exits 0 on SHUTDOWN, 3 when an environment variable
Mesos sets is missing.
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
        self.unacknowledged_tasks: dict[str, dict[str, Any]] = {}
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

    async def run(self, task: dict[str, Any], group_size: int = 0) -> None:
        task_id = task["task_id"]["value"]
        self.unacknowledged_tasks[task_id] = task
        command = task.get("data") and base64.b64decode(task["data"]).decode()
        command = command or task.get("command", {}).get("value")
        process = await asyncio.create_subprocess_shell(command or "true")
        self.processes[task_id] = process
        await self.update(
            task_id, "TASK_RUNNING", f"in a group of {group_size}" if group_size else ""
        )
        status = await process.wait()
        if task_id in self.killed:
            await self.update(task_id, "TASK_KILLED")
        elif status == 0:
            await self.update(task_id, "TASK_FINISHED")
        else:
            await self.update(task_id, "TASK_FAILED", f"exited with status {status}")

    async def serve(self) -> int:
        """Subscribe, and again after a disconnection while the framework checkpoints."""
        checkpoint = os.environ["MESOS_CHECKPOINT"] == "1"
        backoff = _seconds(os.environ.get("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"))
        deadline = time.monotonic() + _seconds(os.environ.get("MESOS_RECOVERY_TIMEOUT", "0secs"))
        while True:
            try:
                status = await self.subscription()
            except (aiohttp.ClientError, ConnectionError, asyncio.IncompleteReadError):
                status = 5
            if status != 5 or not checkpoint or time.monotonic() > deadline:
                return status
            await asyncio.sleep(backoff / 4)  # several tries within the agent's patience

    async def subscription(self) -> int:
        subscribe = {
            "type": "SUBSCRIBE",
            **self.ids,
            "subscribe": {
                "unacknowledged_updates": [
                    {"framework_id": self.ids["framework_id"], "status": status}
                    for status in self.unacknowledged.values()
                ],
                "unacknowledged_tasks": list(self.unacknowledged_tasks.values()),
            },
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
                if kind in ("LAUNCH", "LAUNCH_GROUP"):
                    if kind == "LAUNCH":
                        launched = [(event["launch"]["task"], 0)]
                    else:
                        tasks = event["launch_group"]["task_group"]["tasks"]
                        launched = [(task, len(tasks)) for task in tasks]
                    for task_info, group_size in launched:
                        task = asyncio.ensure_future(self.run(task_info, group_size))
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
                    self.unacknowledged_tasks.pop(event["acknowledged"]["task_id"]["value"], None)
                elif kind == "MESSAGE":
                    data = base64.b64decode(event["message"]["data"])
                    await self.call("MESSAGE", {"data": base64.b64encode(b"echo:" + data).decode()})
                elif kind in ("SHUTDOWN", "ERROR"):
                    for process in self.processes.values():
                        if process.returncode is None:
                            process.kill()
                    return 0 if kind == "SHUTDOWN" else 4
        return 5  # the stream ended


def _seconds(duration: str) -> float:
    """Mesos's `5secs`, `1mins`, `250ms` -> seconds."""
    for unit, factor in (("ms", 0.001), ("secs", 1.0), ("mins", 60.0), ("hrs", 3600.0)):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * factor
    return float(duration)


async def main() -> int:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        print(f"missing {missing}", file=sys.stderr)
        return 3
    async with aiohttp.ClientSession() as session:
        return await V1Executor(session).serve()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
