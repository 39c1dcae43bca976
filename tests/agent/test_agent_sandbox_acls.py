"""access_sandboxes at the agent: /files and the v1 LIST_FILES / READ_FILE of a sandbox are
answered only when the ACLs let the request see the sandbox's user (403 otherwise)."""

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
from zmesos.errors import FlagsError
from zmesos.protocol import TaskState


@contextlib.asynccontextmanager
async def agent_with_acls(tmp_path: Path, users: dict[str, object]) -> AsyncIterator[AgentHandle]:
    acls = tmp_path / "acls.json"
    rule = {"principals": {"type": "ANY"}, "users": users}
    acls.write_text(json.dumps({"permissive": False, "access_sandboxes": [rule]}))
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
        handle = await run_agent(flags)
        try:
            await master.wait_for(lambda: master.agent is not None)
            master.run_task(command_task("sleeper", "echo out; sleep 30"))
            await master.wait_for(lambda: TaskState.RUNNING in master.states("sleeper"))
            yield handle
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


def test_agent_flags_refuse_bad_acls(tmp_path):
    acls = tmp_path / "acls.json"
    acls.write_text('{"access_sandbox": []}')
    with pytest.raises(FlagsError, match="--acls: unknown or unsupported ACL action"):
        AgentFlags(master="127.0.0.1:5050", work_dir=str(tmp_path), acls=str(acls))
