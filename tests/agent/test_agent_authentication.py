"""The agent authenticates with --credential before it registers, and again after the master
forgets it; a wrong credential or a refused registration is logged and retried."""

from __future__ import annotations

import json
import random

import pytest

from agent import Agent, AgentFlags
from libprocess import Node, clock
from libprocess.testing import settle
from master import Master, MasterFlags
from tests.agent.test_agent_registration import flags_for
from zmesos.errors import FlagsError


def write(tmp_path, name: str, document: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    return str(path)


def secure_master(tmp_path) -> Master:
    table = {"credentials": [{"principal": "agent-1", "secret": "s3cret"}]}
    credentials = write(tmp_path, "credentials.json", table)
    return Master(MasterFlags(master_id="M", credentials=credentials, authenticate_agents=True))


async def settle_a_while(seconds: int = 0) -> None:
    for _ in range(max(seconds, 3)):
        clock.advance(1 if seconds else 0)
        await settle()


async def test_agent_authenticates_then_registers_and_again_after_reconnecting(tmp_path):
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        master = secure_master(tmp_path)
        node.spawn(master)
        credential = write(tmp_path, "agent.json", {"principal": "agent-1", "secret": "s3cret"})
        agent = Agent(flags_for(node, tmp_path / "work", credential=credential))
        node.spawn(agent)
        await settle_a_while()
        assert agent.connected
        assert master.cluster.agents[agent.agent_id].principal == "agent-1"
        assert agent.metrics["authentication_attempts"] == 1
        agent._master_lost()  # as when the master's link breaks: authenticate anew
        await settle_a_while(5)
        assert agent.connected and agent.metrics["authentication_attempts"] == 2
        assert master.metrics["agent_reregistrations"] == 1


async def test_agent_with_a_wrong_secret_keeps_retrying_and_is_not_admitted(tmp_path):
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        master = secure_master(tmp_path)
        node.spawn(master)
        credential = write(tmp_path, "agent.json", {"principal": "agent-1", "secret": "guess"})
        agent = Agent(
            flags_for(node, tmp_path / "work", credential=credential), rng=random.Random(1)
        )
        node.spawn(agent)
        await settle_a_while(30)
        assert not agent.connected and not master.cluster.agents
        assert agent.metrics["authentication_failures"] >= 2
        assert master.metrics["authentication_failures"] >= 2


async def test_agent_without_credential_is_refused_and_told(tmp_path):
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        master = secure_master(tmp_path)
        node.spawn(master)
        agent = Agent(flags_for(node, tmp_path / "work"))
        node.spawn(agent)
        await settle_a_while()
        assert not agent.connected and not master.cluster.agents
        assert agent.metrics["registrations_refused"] == 1


def test_agent_flags_refuse_a_bad_credential_file(tmp_path):
    bad = write(tmp_path, "agent.json", {"principal": "has space", "secret": "x"})
    with pytest.raises(FlagsError, match=r"--credential: .*principal"):
        AgentFlags(master="127.0.0.1:5050", work_dir=str(tmp_path), credential=bad)
    with pytest.raises(FlagsError, match="--authentication-timeout"):
        AgentFlags(master="127.0.0.1:5050", work_dir=str(tmp_path), authentication_timeout=0.0)
