"""The agent's HTTP over real sockets: /state (Mesos's shape), /flags, /metrics/snapshot,
/monitor/statistics, /files/* (with hostile paths), and the v1 state calls, with a
real task running in a real sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from agent import AgentFlags, run_agent
from agent.runner import AgentHandle
from libprocess import Node
from tests.agent.fakes import AGENT_RESOURCES, FRAMEWORK, FakeMaster, command_task, master_address
from tests.agent.test_agent_acls import running_agent
from tests.zmesos.test_http_guard import _basic
from zmesos.http.guard import SNAPSHOT_NAMES
from zmesos.node_security import SecurityFlags
from zmesos.protocol import TaskState

# Fields of Mesos's agent /state (src/slave/http.cpp), its frameworks, executors and tasks.
MESOS_STATE = {
    "version",
    "start_time",
    "id",
    "pid",
    "hostname",
    "capabilities",
    "resources",
    "reserved_resources",
    "unreserved_resources",
    "reserved_resources_full",
    "unreserved_resources_full",
    "reserved_resources_allocated",
    "unreserved_resources_allocated",
    "attributes",
    "master_hostname",
    "flags",
    "frameworks",
    "completed_frameworks",
}
MESOS_FRAMEWORK = {
    "id",
    "name",
    "user",
    "failover_timeout",
    "checkpoint",
    "hostname",
    "role",
    "executors",
    "completed_executors",
}
MESOS_EXECUTOR = {
    "id",
    "name",
    "source",
    "container",
    "directory",
    "resources",
    "tasks",
    "queued_tasks",
    "completed_tasks",
}
MESOS_TASK = {"id", "name", "framework_id", "executor_id", "slave_id", "state", "resources"}
MESOS_STATISTICS = {"timestamp", "cpus_user_time_secs", "cpus_system_time_secs", "mem_rss_bytes"}


@contextlib.asynccontextmanager
async def agent_with_task(
    work_dir: Path,
) -> AsyncIterator[tuple[FakeMaster, AgentHandle, aiohttp.ClientSession]]:
    """A real agent (fake master) running `sleeper`, which printed to stdout and stderr."""
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        flags = AgentFlags(
            master=master_address(node),
            resources=AGENT_RESOURCES,
            work_dir=str(work_dir),
            port=0,
            executor_shutdown_grace_period=2.0,
        )
        handle = await run_agent(flags)
        try:
            await master.wait_for(lambda: master.agent is not None)
            master.run_task(command_task("sleeper", "echo out; echo err >&2; sleep 30"))
            await master.wait_for(lambda: TaskState.RUNNING in master.states("sleeper"))
            async with aiohttp.ClientSession() as session:
                yield master, handle, session
        finally:
            await handle.stop()


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any, Any]:
    async with session.get(url) as response:
        if response.content_type == "application/json":
            return response.status, await response.json(), response.headers
        return response.status, await response.read(), response.headers


async def _until_read(session: aiohttp.ClientSession, url: str, text: str) -> dict[str, Any]:
    """Poll /files/read until the file holds `text` (the task's output is asynchronous)."""
    for _ in range(200):
        status, body, _ = await _get(session, url)
        if status == 200 and text in body["data"]:
            return body
        await _sleep()
    raise AssertionError(f"{url} never read {text!r}")


async def _sleep() -> None:
    await asyncio.sleep(0.05)


async def test_agent_http_state_flags_metrics_and_monitor_in_mesos_shapes(tmp_path):
    async with agent_with_task(tmp_path) as (master, handle, session):
        url = handle.http.url
        status, state, headers = await _get(session, f"{url}/state")
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
        assert set(state) >= MESOS_STATE
        assert state["id"] == "agent-1" and state["pid"] == str(handle.pid)
        assert state["resources"]["cpus"] == 2.0
        assert state["flags"]["executor_shutdown_grace_period"] == "2secs"
        assert state["flags"]["port"] == str(handle.http.port)
        [framework] = state["frameworks"]
        assert set(framework) >= MESOS_FRAMEWORK and framework["id"] == FRAMEWORK.id
        [executor] = framework["executors"]
        assert set(executor) >= MESOS_EXECUTOR
        directory = Path(executor["directory"])
        assert directory.is_dir() and directory.name == executor["container"]
        assert (directory.parent / "latest").resolve() == directory.resolve()
        [task] = executor["tasks"]
        assert set(task) >= MESOS_TASK
        assert task["id"] == "sleeper" and task["state"] == "TASK_RUNNING"
        assert [s["state"] for s in task["statuses"]][-1] == "TASK_RUNNING"

        status, flags, _ = await _get(session, f"{url}/flags")
        assert status == 200 and flags["flags"] == state["flags"]

        status, metrics, _ = await _get(session, f"{url}/metrics/snapshot")
        assert status == 200
        assert metrics["slave/registered"] == 1 and metrics["slave/tasks_running"] == 1
        assert metrics["slave/executors_running"] == 1 and metrics["slave/cpus_total"] == 2
        assert all(isinstance(value, int | float) for value in metrics.values())

        status, usage, _ = await _get(session, f"{url}/monitor/statistics")
        assert status == 200
        [entry] = usage
        assert entry["executor_id"] == executor["id"] and entry["framework_id"] == FRAMEWORK.id
        assert set(entry["statistics"]) >= MESOS_STATISTICS
        assert entry["statistics"]["mem_rss_bytes"] > 0
        assert entry["statistics"]["processes"] >= 2  # the executor and its task's shell

        # The v1 operator calls render the same records.
        async with session.post(f"{url}/api/v1", json={"type": "GET_STATE"}) as response:
            assert response.status == 200
            v1 = (await response.json())["get_state"]
        [launched] = v1["get_tasks"]["launched_tasks"]
        assert launched["task_id"] == {"value": "sleeper"} and launched["state"] == "TASK_RUNNING"
        [v1_framework] = v1["get_frameworks"]["frameworks"]
        assert v1_framework["framework_info"]["id"] == {"value": FRAMEWORK.id}
        [v1_executor] = v1["get_executors"]["executors"]
        assert v1_executor["executor_info"]["executor_id"] == {"value": executor["id"]}
        for call in ("GET_TASKS", "GET_FRAMEWORKS", "GET_EXECUTORS"):
            async with session.post(f"{url}/api/v1", json={"type": call}) as response:
                assert (await response.json())[call.lower()] == v1[call.lower()]

        master.kill_task("sleeper")
        await master.wait_for(lambda: master.terminal("sleeper") is not None)
        for _ in range(200):
            _, state, _ = await _get(session, f"{url}/state")
            if state["completed_frameworks"]:
                break
            await _sleep()
        [done] = state["completed_frameworks"]
        [ended] = done["completed_executors"]
        assert [t["state"] for t in ended["completed_tasks"]] == ["TASK_KILLED"]


async def test_agent_http_files_browse_read_download_tail_and_refuse_hostile_paths(tmp_path):
    async with agent_with_task(tmp_path) as (_, handle, session):
        url = handle.http.url
        _, state, _ = await _get(session, f"{url}/state")
        directory = Path(state["frameworks"][0]["executors"][0]["directory"])
        latest = directory.parent / "latest"

        status, listing, headers = await _get(session, f"{url}/files/browse?path={latest}")
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
        assert {"stdout", "stderr"} <= {Path(info["path"]).name for info in listing}

        stdout = f"{url}/files/read?path={latest}/stdout"
        body = await _until_read(session, f"{stdout}&offset=0", "out\n")
        assert body == {"data": "out\n", "offset": 0}
        _, size, _ = await _get(session, f"{stdout}&offset=-1")
        assert size == {"data": "", "offset": 4}
        _, tail, _ = await _get(session, f"{stdout}&offset=1&length=2")
        assert tail == {"data": "ut", "offset": 1}
        await _until_read(
            session, f"{url}/files/read.json?path={directory}/stderr&offset=0", "err\n"
        )

        status, data, headers = await _get(session, f"{url}/files/download?path={latest}/stdout")
        assert status == 200 and data == b"out\n"
        assert headers["Content-Type"] == "application/octet-stream"
        assert "attachment" in headers["Content-Disposition"]

        # Bytes that are not UTF-8 (and a character cut by the page) come back exact.
        raw = b"caf\xc3\xa9 \xff\xfe end\n"
        (directory / "binary").write_bytes(raw)
        _, cut, _ = await _get(session, f"{url}/files/read?path={latest}/binary&offset=0&length=4")
        _, rest, _ = await _get(session, f"{url}/files/read?path={latest}/binary&offset=4")
        pieces = [page["data"].encode("utf-8", "surrogateescape") for page in (cut, rest)]
        assert b"".join(pieces) == raw and len(pieces[0]) == 4

        for query in ("offset=x", "offset=-2", "length=1.5", "length=-7"):
            status, text, _ = await _get(session, f"{stdout}&{query}")
            assert status == 400 and text.decode().count("\n") == 1, query

        (directory / "escape").symlink_to("/etc")
        (directory / "meta").symlink_to(tmp_path / "meta")
        hostile = [
            "/etc/passwd",
            "etc/passwd",
            f"{directory}/../../../../../../../../../../../etc/passwd",
            f"{directory}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            f"{directory}/%252e%252e/%252e%252e/etc/passwd",
            f"{directory}/escape/passwd",
            f"{directory}/meta",
            f"{tmp_path}/meta",
            f"{directory}/stdout%00",
            f"{tmp_path}",
            "",
        ]
        for path in hostile:
            for endpoint in ("browse", "read", "download"):
                async with session.get(f"{url}/files/{endpoint}?path={path}&offset=0") as answer:
                    body = await answer.read()
                    assert answer.status in (400, 404), (endpoint, path, answer.status)
                    assert b"root:" not in body and b"checkpoint" not in body


async def test_agent_http_guard_refusals_show_in_metrics_snapshot(tmp_path):
    credentials = tmp_path / "http.json"
    credentials.write_text(json.dumps({"credentials": [{"principal": "ops", "secret": "pw"}]}))
    credentials.chmod(0o600)
    security = SecurityFlags(http_credentials=str(credentials), authenticate_http_readonly=True)
    async with running_agent(tmp_path, {}, security) as (_, handle):
        url = handle.http.url
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/state") as response:
                assert response.status == 401
            async with session.get(f"{url}/metrics/snapshot", headers=_basic("ops", "pw")) as r:
                metrics = await r.json()
            call = {"type": "GET_METRICS"}
            async with session.post(f"{url}/api/v1", json=call, headers=_basic("ops", "pw")) as r:
                v1 = {m["name"]: m["value"] for m in (await r.json())["get_metrics"]["metrics"]}
    # The agent's GET_METRICS answers what its /metrics/snapshot does, guard counters included.
    assert {name: v1[f"slave/{name}"] for name in SNAPSHOT_NAMES} == {
        name: metrics[f"slave/{name}"] for name in SNAPSHOT_NAMES
    }
    assert set(v1) == set(metrics)
    assert {name: metrics[f"slave/{name}"] for name in SNAPSHOT_NAMES} == {
        "http_requests_refused/unauthenticated": 1.0,
        "http_requests_refused/too_large": 0.0,
        "http_requests_timed_out": 0.0,
        "http_connections_refused": 0.0,
    }
