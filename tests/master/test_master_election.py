"""Masters electing a leader in a real ZooKeeper: one leads, the other refuses and redirects,
and takes over when the leader goes."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable

import aiohttp

from libprocess import Node
from master import MasterFlags, run_master
from master.runner import MasterHandle
from tests.master.fakes import FakeAgent
from tests.zmesos.test_http_guard import _self_signed
from zmesos.node_security import SecurityFlags


async def _until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _master(zk_url: str, name: str, security: SecurityFlags | None = None) -> MasterHandle:
    flags = MasterFlags(ip="127.0.0.1", port=0, master_id=name, zk=zk_url, zk_session_timeout=3.0)
    return await run_master(flags, security=security)


async def test_master_election_one_leads_the_other_refuses_redirects_and_takes_over(zk_url):
    first = await _master(zk_url, "A")
    await _until(lambda: first.master.leading and first.master.recovered)
    second = await _master(zk_url, "B")
    try:
        await _until(lambda: second.master.leader is not None)
        assert not second.master.leading
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://{second.address}/state") as response:
                state = await response.json()
            assert state["leader"] == str(first.pid) and not state["elected"]
            assert state["leader_info"]["port"] == first.http.port
            for path in ("/weights", "/redirect", "/api/v1/scheduler"):
                async with session.get(
                    f"http://{second.address}{path}", allow_redirects=False
                ) as response:
                    assert response.status == 307, path
                    assert response.headers["Location"].startswith(f"http://{first.address}")
            async with session.post(  # a v1 call too, which the HTTP fast path leaves to it
                f"http://{second.address}/api/v1/scheduler",
                data=b'{"type": "REVIVE"}',
                headers={"Content-Type": "application/json"},
                allow_redirects=False,
            ) as response:
                assert response.status == 307
            async with session.get(f"http://{second.address}/actor") as response:
                assert (await response.json())["pid"] == str(first.pid)  # redirect followed

        async with Node() as node:
            # An agent sent to the one that does not lead is refused, the leader named.
            agent = FakeAgent(second.pid)
            node.spawn(agent)
            await _until(lambda: second.master.metrics["messages_not_leading"] >= 1)
            assert agent.agent_id == ""

            await first.stop()  # the leader goes; its session ends with it
            await _until(lambda: second.master.leading and second.master.recovered)
            assert second.master.registrar.registry.generation == 2
            agent.master = second.pid
            agent.send(second.pid, agent.registration())
            await _until(lambda: agent.agent_id.startswith("B-0002-"))
    finally:
        await second.stop()
        await first.stop()


async def _zmesos(*arguments: str) -> tuple[int, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "zmesos.cli",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(child.communicate(), 30)
    return child.returncode or 0, output.decode()


async def test_master_election_operator_commands_find_the_leader_through_zookeeper(zk_url):
    """`zmesos agent gone --master zk://...`, `volumes list` and `agents` reach the leader;
    with no leader at the path they say so in one line and exit 1."""
    for command in (("volumes", "list"), ("tasks",)):
        status, output = await _zmesos(*command, "--master", f"{zk_url}-nobody")
        assert (status, len(output.strip().splitlines())) == (1, 1), output
        assert "no master leads" in output
    first = await _master(zk_url, "A")
    await _until(lambda: first.master.leading and first.master.recovered)
    second = await _master(zk_url, "B")
    try:
        await _until(lambda: second.master.leader is not None)
        async with Node() as node:
            agent = FakeAgent(first.pid)
            node.spawn(agent)
            await _until(lambda: bool(agent.agent_id))
            status, output = await _zmesos("volumes", "list", "--master", zk_url)
            assert status == 0 and output.startswith("AGENT\t"), output
            status, output = await _zmesos("agents", "--master", zk_url)
            assert status == 0 and agent.agent_id in output, output
            status, output = await _zmesos("agent", "gone", agent.agent_id, "--master", zk_url)
            assert status == 0, output
            assert agent.agent_id in first.master.registrar.registry.gone
            node.terminate(agent.pid)
    finally:
        await second.stop()
        await first.stop()


async def test_master_election_operator_commands_follow_a_leader_serving_https(zk_url, tmp_path):
    """Masters with TLS and HTTP authentication: `zk://` finds the leader's https address,
    and a POST to the one that does not lead is redirected to the leader's https, where
    the credential goes along."""
    cert, key = _self_signed(tmp_path)
    credentials = tmp_path / "http.json"
    credentials.write_text(json.dumps({"credentials": [{"principal": "ops", "secret": "pw"}]}))
    credentials.chmod(0o600)
    credential = tmp_path / "ops.json"
    credential.write_text(json.dumps({"principal": "ops", "secret": "pw"}))
    credential.chmod(0o600)
    security = SecurityFlags(
        ssl_cert=cert,
        ssl_key=key,
        http_credentials=str(credentials),
        authenticate_http_readonly=True,
        authenticate_http_readwrite=True,
    )
    access = ("--http-credential", str(credential), "--ca-cert", cert)
    first = await _master(zk_url, "A", security)
    await _until(lambda: first.master.leading and first.master.recovered)
    second = await _master(zk_url, "B", security)
    try:
        await _until(lambda: second.master.leader is not None)
        async with Node() as node:
            agent = FakeAgent(first.pid)
            node.spawn(agent)
            await _until(lambda: bool(agent.agent_id))
            status, output = await _zmesos("agents", "--master", zk_url, *access)
            assert status == 0 and agent.agent_id in output, output
            follower = f"https://{second.address}"
            status, output = await _zmesos(
                "agent", "gone", agent.agent_id, "--master", follower, *access
            )
            assert status == 0, output
            assert agent.agent_id in first.master.registrar.registry.gone
            node.terminate(agent.pid)
    finally:
        await second.stop()
        await first.stop()
