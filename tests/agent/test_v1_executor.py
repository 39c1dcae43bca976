"""The agent's v1 executor and operator APIs: a custom v1 executor (an OS process speaking
HTTP) runs tasks with reliable updates; files and containers over POST /api/v1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from agent import AgentFlags, run_agent
from agent.runner import AgentHandle
from libprocess import Node
from tests.agent.fakes import AGENT_RESOURCES, FRAMEWORK, FakeMaster, master_address
from tests.e2e.cluster import free_port
from zmesos.protocol import (
    CommandInfo,
    ExecutorInfo,
    ExecutorToFramework,
    ExitedExecutor,
    FrameworkToExecutor,
    Source,
    TaskInfo,
    TaskState,
)

V1_EXECUTOR = CommandInfo(
    value=sys.executable, shell=False, arguments=("-m", "tests.agent.v1_executor")
)
FRAMEWORK_ID = "framework-1"  # tests.agent.fakes.FRAMEWORK


def v1_task(task_id: str, command: str) -> TaskInfo:
    return TaskInfo(
        name=task_id,
        task_id=task_id,
        agent_id="agent-1",
        executor=ExecutorInfo(executor_id="v1", command=V1_EXECUTOR),
        data=command.encode(),
    )


def _flags(node: Node, work_dir: Path, port: int = 0) -> AgentFlags:
    return AgentFlags(
        master=master_address(node),
        resources=AGENT_RESOURCES,
        work_dir=str(work_dir),
        port=port,
        executor_shutdown_grace_period=2.0,
    )


@contextlib.asynccontextmanager
async def v1_agent(work_dir: Path) -> AsyncIterator[tuple[FakeMaster, AgentHandle, Any]]:
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        flags = _flags(node, work_dir)
        handle = await run_agent(flags)
        try:
            await master.wait_for(lambda: master.agent is not None)
            async with aiohttp.ClientSession() as session:
                yield master, handle, session
        finally:
            await handle.stop()


async def test_v1_executor_runs_tasks_with_reliable_updates_messages_and_kill(tmp_path):
    async with v1_agent(tmp_path) as (master, _, _):
        master.run_task(v1_task("done", "true"))
        master.run_task(v1_task("sleeper", "sleep 30"))
        await master.wait_for(lambda: master.terminal("done") is not None)
        assert master.states("done") == [TaskState.RUNNING, TaskState.FINISHED]
        finished = master.terminal("done")
        assert finished is not None and finished.status.source is Source.EXECUTOR
        assert finished.uuid is not None  # reliable: acknowledged by the scheduler side

        master.send(
            master.agent,
            FrameworkToExecutor(
                agent_id="agent-1", framework_id=FRAMEWORK_ID, executor_id="v1", data=b"ping"
            ),
        )
        await master.wait_for(lambda: master.of_type(ExecutorToFramework))
        assert master.of_type(ExecutorToFramework)[0].data == b"echo:ping"

        await master.wait_for(lambda: TaskState.RUNNING in master.states("sleeper"))
        master.kill_task("sleeper")
        await master.wait_for(lambda: master.terminal("sleeper") is not None)
        assert master.terminal("sleeper").status.state is TaskState.KILLED

        # Every update the executor sent came back ACKNOWLEDGED: nothing is resent.
        await master.wait_for(lambda: len(master.updates) == 4)
        assert len({u.uuid for u in master.updates}) == 4

        master.shutdown_framework()
        await master.wait_for(lambda: master.of_type(ExitedExecutor))
        assert master.of_type(ExitedExecutor)[0].status == 0  # it exited on SHUTDOWN


async def test_v1_executor_outlives_an_agent_restart_and_hands_back_its_updates(tmp_path):
    """A checkpointing framework's v1 executor keeps running while the agent is down,
    subscribes again with the update it could not deliver, and still obeys a kill."""
    framework = msgspec.structs.replace(FRAMEWORK, checkpoint=True)
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        port = free_port()
        first = await run_agent(_flags(node, tmp_path, port))
        try:
            await master.wait_for(lambda: master.agent is not None)
            master.run_task(v1_task("quick", "sleep 1"), framework)
            master.run_task(v1_task("sleeper", "sleep 30"), framework)
            await master.wait_for(
                lambda: (
                    master.states("quick") == [TaskState.RUNNING]
                    and master.states("sleeper") == [TaskState.RUNNING]
                )
            )
        finally:
            await first.stop()  # the executor stays; "quick" ends while nobody listens
        await asyncio.sleep(1.5)
        second = await run_agent(_flags(node, tmp_path, port))
        try:
            await master.wait_for(lambda: master.terminal("quick") is not None)
            assert master.states("quick") == [TaskState.RUNNING, TaskState.FINISHED]
            master.kill_task("sleeper", framework_id=framework.id)
            await master.wait_for(lambda: master.terminal("sleeper") is not None)
            killed = master.terminal("sleeper")
            assert killed is not None and killed.status.state is TaskState.KILLED
            master.shutdown_framework()  # it outlives agents: end it, leave nothing behind
            await master.wait_for(lambda: master.of_type(ExitedExecutor))
        finally:
            await second.stop()


async def _post(session: aiohttp.ClientSession, url: str, call: dict[str, Any]) -> tuple[int, str]:
    async with session.post(
        url, data=msgspec.json.encode(call), headers={"Content-Type": "application/json"}
    ) as response:
        return response.status, await response.text()


@pytest.mark.parametrize(
    ("call", "status", "reason"),
    [
        ({"type": "SUBSCRIBE"}, 400, "framework_id"),
        (
            {"type": "SUBSCRIBE", "framework_id": {"value": "f"}, "executor_id": {"value": "e"}},
            403,
            "not an executor of this agent",
        ),
        (
            {
                "type": "UPDATE",
                "framework_id": {"value": "f"},
                "executor_id": {"value": "e"},
                "update": {
                    "status": {
                        "task_id": {"value": "t"},
                        "state": "TASK_RUNNING",
                        "uuid": "AAAAAAAAAAAAAAAAAAAAAA==",
                    }
                },
            },
            403,
            "not subscribed",
        ),
        (
            {
                "type": "UPDATE",
                "framework_id": {"value": "f"},
                "executor_id": {"value": "e"},
                "update": {"status": {"task_id": {"value": "t"}, "state": "TASK_BORED"}},
            },
            400,
            "unknown task state",
        ),
        (
            {"type": "LAUNCH", "framework_id": {"value": "f"}, "executor_id": {"value": "e"}},
            400,
            "Unknown call",
        ),
    ],
)
async def test_v1_executor_bad_calls_get_a_clear_status(tmp_path, call, status, reason):
    async with v1_agent(tmp_path) as (_, handle, session):
        answer = await _post(session, f"{handle.http.url}/api/v1/executor", call)
        assert answer[0] == status and reason in answer[1]


async def test_v1_agent_operator_lists_and_reads_sandbox_files_and_containers(tmp_path):
    async with v1_agent(tmp_path) as (master, handle, session):
        master.run_task(v1_task("sleeper", "echo out; sleep 30"))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("sleeper"))
        url = f"{handle.http.url}/api/v1"
        status, text = await _post(session, url, {"type": "GET_CONTAINERS"})
        [container] = msgspec.json.decode(text)["get_containers"]["containers"]
        assert container["executor_id"] == {"value": "v1"} and status == 200
        [sandbox] = [
            run
            for run in tmp_path.glob("agents/*/frameworks/*/executors/v1/runs/*")
            if run.name != "latest"
        ]
        status, text = await _post(
            session, url, {"type": "LIST_FILES", "list_files": {"path": str(sandbox)}}
        )
        names = {
            Path(info["path"]).name
            for info in msgspec.json.decode(text)["list_files"]["file_infos"]
        }
        assert {"stdout", "stderr"} <= names
        read = {"type": "READ_FILE", "read_file": {"path": str(sandbox / "stdout"), "offset": 0}}
        await master.wait_for(lambda: (sandbox / "stdout").read_text() == "out\n")
        status, text = await _post(session, url, read)
        answer = msgspec.json.decode(text)["read_file"]
        assert base64.b64decode(answer["data"]) == b"out\n" and answer["size"] == 4
        for outside in ("/etc/passwd", str(Path(sandbox, *[".."] * 9, "etc", "passwd"))):
            status, text = await _post(
                session, url, {"type": "READ_FILE", "read_file": {"path": outside}}
            )
            assert status in (400, 404), text
        for call in ("GET_HEALTH", "GET_VERSION", "GET_FLAGS"):
            assert (await _post(session, url, {"type": call}))[0] == 200
        master.kill_task("sleeper")
        await master.wait_for(lambda: master.terminal("sleeper") is not None)
