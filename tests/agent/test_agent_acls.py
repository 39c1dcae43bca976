"""ACLs at the agent. access_sandboxes: /files and the v1 LIST_FILES / READ_FILE of a
sandbox are answered only when the ACLs let the request see the sandbox's user (403
otherwise). get_endpoints: /metrics/snapshot (and GET_METRICS) and /monitor/statistics
likewise. view_flags:
/flags and GET_FLAGS (403), and the flags in /state (left out)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from agent import AgentFlags, run_agent
from agent.runner import AgentHandle
from libprocess import Node
from tests.agent.fakes import AGENT_RESOURCES, FRAMEWORK, FakeMaster, command_task, master_address
from tests.zmesos.test_http_guard import _basic
from zmesos.errors import FlagsError
from zmesos.node_security import SecurityFlags
from zmesos.protocol import TaskState

ANY = {"type": "ANY"}


@contextlib.asynccontextmanager
async def agent_with_acls(tmp_path: Path, users: dict[str, object]) -> AsyncIterator[AgentHandle]:
    document = {
        "permissive": False,
        "access_sandboxes": [{"principals": ANY, "users": users}],
        "get_endpoints": [{"principals": ANY, "paths": ANY}],
    }
    async with running_agent(tmp_path, document) as (master, handle):
        master.run_task(command_task("sleeper", "echo out; sleep 30"))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("sleeper"))
        yield handle


@contextlib.asynccontextmanager
async def running_agent(
    tmp_path: Path, document: dict[str, object], security: SecurityFlags | None = None
) -> AsyncIterator[tuple[FakeMaster, AgentHandle]]:
    """An agent with `--acls` of `document` (and `security`), registered with a fake master."""
    acls = tmp_path / "acls.json"
    acls.write_text(json.dumps(document))
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        flags = AgentFlags(
            master=master_address(node),
            resources=AGENT_RESOURCES,
            work_dir=str(tmp_path / "work"),
            port=0,
            executor_shutdown_grace_period=2.0,
            acls=str(acls),
        )
        handle = await run_agent(flags, security)
        try:
            await master.wait_for(lambda: master.agent is not None)
            yield master, handle
        finally:
            await handle.stop()


async def _sandbox(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(f"{url}/state") as response:
        state = await response.json()
    return state["frameworks"][0]["executors"][0]["directory"]


@pytest.mark.parametrize("allowed", [True, False])
async def test_agent_acl_access_sandboxes(tmp_path, allowed):
    users = {"values": [FRAMEWORK.user]} if allowed else {"values": ["someone-else"]}
    async with agent_with_acls(tmp_path, users) as handle, aiohttp.ClientSession() as session:
        url = handle.http.url
        directory = await _sandbox(session, url)
        expected = 200 if allowed else 403
        for path in ("/files/browse", "/files/read", "/files/download"):
            target = directory if path == "/files/browse" else f"{directory}/stdout"
            async with session.get(f"{url}{path}", params={"path": target}) as response:
                assert response.status == expected, (path, await response.text())
        call = {"type": "LIST_FILES", "list_files": {"path": directory}}
        async with session.post(f"{url}/api/v1", json=call) as response:
            assert response.status == expected
        async with session.get(f"{url}/metrics/snapshot") as response:
            metrics = await response.json()
        denials = metrics.get("slave/authorization_denials/access_sandboxes", 0.0)
        assert denials == (0.0 if allowed else 4.0)


async def test_agent_acl_get_endpoints(tmp_path):
    document = {
        "permissive": False,
        "get_endpoints": [{"principals": ANY, "paths": {"values": ["/metrics/snapshot"]}}],
    }
    async with running_agent(tmp_path, document) as (_, handle), aiohttp.ClientSession() as session:
        url = handle.http.url
        for path in ("/monitor/statistics", "/slave(1)/monitor/statistics.json"):
            async with session.get(f"{url}{path}") as response:
                assert response.status == 403, path
                assert "Not authorized to GET /monitor/statistics" in await response.text()
        async with session.get(f"{url}/state") as response:
            assert response.status == 200  # not an endpoint get_endpoints guards
        async with session.get(f"{url}/agent/metrics/snapshot") as response:
            assert response.status == 200
            metrics = await response.json()
        assert metrics["slave/authorization_denials/get_endpoints"] == 2.0


@pytest.mark.parametrize("allowed", [True, False])
async def test_agent_acl_get_metrics(tmp_path, allowed):
    """GET_METRICS answers the numbers of /metrics/snapshot, to whom get_endpoints lets GET it."""
    paths = ["/metrics/snapshot"] if allowed else ["/monitor/statistics"]
    document = {
        "permissive": False,
        "get_endpoints": [{"principals": ANY, "paths": {"values": paths}}],
    }
    async with running_agent(tmp_path, document) as (_, handle), aiohttp.ClientSession() as session:
        url = f"{handle.http.url}/api/v1"
        async with session.post(url, json={"type": "GET_METRICS"}) as response:
            assert response.status == (200 if allowed else 403)
            if allowed:
                metrics = (await response.json())["get_metrics"]["metrics"]
                assert {"slave/uptime_secs", "slave/http_requests_refused/unauthenticated"} <= {
                    metric["name"] for metric in metrics
                }
            else:
                assert "Not authorized to GET /metrics/snapshot" in await response.text()
        bad = {"type": "GET_METRICS", "get_metrics": {"timeout": []}}
        async with session.post(url, json=bad) as response:
            assert response.status == 400
            assert "get_metrics.timeout" in await response.text()
        assert handle.agent.metrics["authorization_denials/get_endpoints"] == (0 if allowed else 1)


async def test_agent_acl_view_flags(tmp_path):
    document = {
        "view_flags": [
            {"principals": {"values": ["ops"]}, "flags": ANY},
            {"principals": ANY, "flags": {"type": "NONE"}},
        ]
    }
    credentials = tmp_path / "http.json"
    users = [{"principal": name, "secret": "pw"} for name in ("ops", "dev")]
    credentials.write_text(json.dumps({"credentials": users}))
    credentials.chmod(0o600)
    security = SecurityFlags(
        http_credentials=str(credentials),
        authenticate_http_readonly=True,
        authenticate_http_readwrite=True,
    )
    async with running_agent(tmp_path, document, security) as (_, handle):
        url = handle.http.url
        for principal, allowed in (("ops", True), ("dev", False)):
            headers = _basic(principal, "pw")
            async with aiohttp.ClientSession(headers=headers) as session:
                async with session.get(f"{url}/flags") as response:
                    assert (response.status == 200) is allowed, principal
                call = {"type": "GET_FLAGS"}
                async with session.post(f"{url}/api/v1", json=call) as response:
                    assert (response.status == 200) is allowed, principal
                async with session.get(f"{url}/state") as response:
                    assert ("flags" in await response.json()) is allowed, principal
        assert handle.agent.metrics["authorization_denials/view_flags"] == 3


def test_agent_flags_refuse_bad_acls(tmp_path):
    acls = tmp_path / "acls.json"
    acls.write_text('{"access_sandbox": []}')
    with pytest.raises(FlagsError, match="--acls: unknown or unsupported ACL action"):
        AgentFlags(master="127.0.0.1:5050", work_dir=str(tmp_path), acls=str(acls))
