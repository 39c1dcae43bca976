"""Security on, as a user runs it: a master that authenticates frameworks and agents, an agent
and `zmesos execute` with credentials, and strangers refused (real processes, loopback)."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from tests.e2e.cluster import eventually_json, free_port
from zmesos.cli.local import LocalCluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _write(path, document: object) -> str:
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    return str(path)


async def _execute(master: str, *extra: str) -> tuple[int, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "zmesos.cli",
        "execute",
        "--master",
        master,
        "--command",
        "echo hello",
        "--timeout",
        "60",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    output, _ = await asyncio.wait_for(child.communicate(), 90)
    assert child.returncode is not None
    return child.returncode, output.decode()


@pytest.mark.timeout(150)
async def test_security_authenticated_cluster_runs_tasks_only_for_credentials(tmp_path):
    credentials = _write(
        tmp_path / "credentials.json",
        {
            "credentials": [
                {"principal": "ops", "secret": "ops-secret"},
                {"principal": "agent", "secret": "agent-secret"},
            ]
        },
    )
    agent_credential = _write(
        tmp_path / "agent.json", {"principal": "agent", "secret": "agent-secret"}
    )
    ops = _write(tmp_path / "ops.json", {"principal": "ops", "secret": "ops-secret"})
    wrong = _write(tmp_path / "wrong.json", {"principal": "ops", "secret": "guess"})
    cluster = LocalCluster("127.0.0.1", free_port(), tmp_path, "cpus:2;mem:1024;disk:1024")
    try:
        await cluster.start_master(
            "--allocation-interval",
            "0.2",
            "--credentials",
            credentials,
            "--authenticate-frameworks",
            "--authenticate-agents",
        )
        await cluster.start_agent(0, "--credential", agent_credential)
        await cluster.wait_for_agents(1)
        # An agent without a credential (say, a fake one advertising cpus:1000) is refused.
        await cluster.spawn(
            "stranger",
            "agent",
            "--master",
            cluster.master,
            "--port",
            "0",
            "--work-dir",
            str(tmp_path / "stranger"),
            "--resources",
            "cpus:1000;mem:1000",
        )

        status, output = await _execute(cluster.master, "--credential", ops)
        assert status == 0, output
        assert "TASK_FINISHED" in output

        status, output = await _execute(cluster.master)
        assert status == 1
        assert "is not authenticated" in output

        status, output = await _execute(cluster.master, "--credential", wrong)
        assert status == 1
        assert "Master refused authentication" in output

        metrics = await eventually_json(
            f"{cluster.url}/metrics/snapshot",
            lambda m: m.get("master/agent_authentication_refusals", 0) >= 1,
        )
        assert metrics["master/slaves_active"] == 1
        assert metrics["master/framework_authentication_refusals"] >= 1
        assert metrics["master/authentication_failures"] >= 1
        state = await eventually_json(f"{cluster.url}/state", lambda s: True)
        assert [agent["resources"]["cpus"] for agent in state["slaves"]] == [2.0]
    finally:
        await cluster.stop()
