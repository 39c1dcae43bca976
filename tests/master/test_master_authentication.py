"""Authentication of frameworks and agents at the master: the exchange, refusals, throttling,
and the principal check on re-registration (a framework or agent id cannot be taken over)."""

from __future__ import annotations

import json

import pytest

from frameworks import SchedulerDriver
from libprocess import Node, Process, clock
from libprocess.testing import settle
from master import Master, MasterFlags
from tests.master.fakes import FakeAgent, Recorder, command_task, framework_info
from zmesos.authentication import Credential, authenticate
from zmesos.errors import AuthenticationRefused, FlagsError
from zmesos.protocol import (
    AgentRegistrationRefused,
    Authenticate,
    AuthenticationChallenge,
    AuthenticationFailed,
    AuthenticationProof,
    FrameworkError,
    ReregisterAgent,
    ReregisterFramework,
    TaskState,
)

ALICE = Credential("alice", "alice-secret")
MALLORY = Credential("mallory", "mallory-secret")
AGENT = Credential("agent-1", "agent-secret")


def credentials_file(tmp_path, *credentials: Credential) -> str:
    path = tmp_path / "credentials.json"
    entries = [{"principal": c.principal, "secret": c.secret} for c in credentials]
    path.write_text(json.dumps({"credentials": entries}))
    path.chmod(0o600)
    return str(path)


def secure_flags(tmp_path, **fields: object) -> MasterFlags:
    defaults: dict[str, object] = {"authenticate_frameworks": True, "authenticate_agents": True}
    return MasterFlags(
        master_id="M",
        credentials=credentials_file(tmp_path, ALICE, MALLORY, AGENT),
        **{**defaults, **fields},  # type: ignore[arg-type]
    )


class Listener(Process):
    """Records what the master answers a hand-made client."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[object] = []

    def initialize(self) -> None:
        for kind in (
            AuthenticationChallenge,
            AuthenticationFailed,
            FrameworkError,
            AgentRegistrationRefused,
        ):
            self.install(kind, lambda sender, message: self.received.append(message))


async def authenticated_agent(node: Node, master_pid, credential: Credential, **kw) -> FakeAgent:
    agent = FakeAgent(master_pid, register=False, **kw)
    node.spawn(agent)
    await authenticate(node, master_pid, agent.pid, credential)
    agent.send(master_pid, agent.registration())
    await settle()
    return agent


async def test_master_authenticated_framework_and_agent_run_a_task(tmp_path):
    clock.pause()
    async with Node() as node:
        master = Master(secure_flags(tmp_path))
        master_pid = node.spawn(master)
        agent = await authenticated_agent(node, master_pid, AGENT)
        scheduler = Recorder()
        driver = SchedulerDriver(scheduler, framework_info(), master_pid, credential=ALICE)
        node.spawn(driver)
        for _ in range(3):
            await settle()
        assert agent.agent_id and scheduler.framework_id
        framework = master.cluster.frameworks[scheduler.framework_id]
        assert framework.info.principal == "alice" and framework.authenticated
        assert master.cluster.agents[agent.agent_id].principal == "agent-1"
        assert master.authenticated[driver.pid] == "alice"
        [offer] = scheduler.take_offers()
        driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await settle()
        assert scheduler.states("t1") == [TaskState.RUNNING]
        assert master.metrics["authentication_successes"] == 2


async def test_master_refuses_unauthenticated_framework_with_an_error(tmp_path):
    clock.pause()
    async with Node() as node:
        master = Master(secure_flags(tmp_path))
        master_pid = node.spawn(master)
        scheduler = Recorder()
        driver = SchedulerDriver(scheduler, framework_info(), master_pid)
        node.spawn(driver)
        await settle()
        assert scheduler.errors == [f"Framework at {driver.pid} is not authenticated"]
        assert not master.cluster.frameworks
        assert master.metrics["framework_authentication_refusals"] == 1


async def test_master_refuses_framework_claiming_another_principal(tmp_path):
    clock.pause()
    async with Node() as node:
        master = Master(secure_flags(tmp_path))
        master_pid = node.spawn(master)
        scheduler = Recorder()
        info = framework_info(principal="alice")
        driver = SchedulerDriver(scheduler, info, master_pid, credential=MALLORY)
        node.spawn(driver)
        for _ in range(3):
            await settle()
        assert "does not match the authenticated principal 'mallory'" in scheduler.errors[0]
        assert not master.cluster.frameworks


async def test_master_wrong_secret_aborts_the_driver(tmp_path):
    clock.pause()
    async with Node() as node:
        master = Master(secure_flags(tmp_path))
        master_pid = node.spawn(master)
        scheduler = Recorder()
        wrong = Credential("alice", "guess")
        driver = SchedulerDriver(scheduler, framework_info(), master_pid, credential=wrong)
        node.spawn(driver)
        for _ in range(3):
            await settle()
        assert scheduler.errors == ["Master refused authentication: authentication failed"]
        assert master.metrics["authentication_failures"] == 1
        assert not master.authenticated and not master.cluster.frameworks


async def test_master_unknown_principal_fails_like_a_wrong_secret(tmp_path):
    clock.pause()
    async with Node() as node:
        master_pid = node.spawn(Master(secure_flags(tmp_path)))
        listener = Listener()
        node.spawn(listener)
        with pytest.raises(AuthenticationRefused, match=r"^authentication failed$"):
            await authenticate(node, master_pid, listener.pid, Credential("nobody", "x"))


async def test_master_without_credentials_refuses_authentication(tmp_path):
    clock.pause()
    async with Node() as node:
        master_pid = node.spawn(Master(MasterFlags(master_id="M")))
        listener = Listener()
        node.spawn(listener)
        with pytest.raises(AuthenticationRefused, match="not enabled"):
            await authenticate(node, master_pid, listener.pid, ALICE)


async def test_master_throttles_a_peer_that_keeps_failing(tmp_path):
    clock.pause()
    async with Node() as node:
        master = Master(secure_flags(tmp_path))
        master_pid = node.spawn(master)
        listener = Listener()
        node.spawn(listener)
        wrong = Credential("alice", "guess")
        for _ in range(3):
            with pytest.raises(AuthenticationRefused, match="authentication failed"):
                await authenticate(node, master_pid, listener.pid, wrong)
        with pytest.raises(AuthenticationRefused, match="too many failed attempts"):
            await authenticate(node, master_pid, listener.pid, ALICE)
        assert master.metrics["authentication_throttled"] == 1
        clock.advance(1.5)
        assert await authenticate(node, master_pid, listener.pid, ALICE) == "alice"


async def test_master_session_expires_and_its_nonce_serves_once(tmp_path):
    clock.pause()
    async with Node() as node:
        master = Master(secure_flags(tmp_path))
        master_pid = node.spawn(master)
        client = Listener()
        node.spawn(client)
        client.send(
            master_pid, Authenticate(pid=str(client.pid), principal="alice", nonce=b"n" * 24)
        )
        await settle()
        [challenge] = client.received
        assert isinstance(challenge, AuthenticationChallenge)
        proof = AuthenticationProof(pid=str(client.pid), nonce=challenge.nonce, proof=b"p" * 32)
        client.send(master_pid, proof)
        client.send(master_pid, proof)  # replayed: the session is gone
        await settle()
        assert [type(m).__name__ for m in client.received[1:]] == ["AuthenticationFailed"] * 2
        client.send(
            master_pid, Authenticate(pid=str(client.pid), principal="alice", nonce=b"m" * 24)
        )
        await settle()
        clock.advance(master.flags.authentication_timeout + 1)
        await settle()
        assert client.received[-1] == AuthenticationFailed(reason="authentication timed out")
        assert not master.authenticator.sessions
        assert master.metrics["authentication_timeouts"] == 1


async def test_master_refuses_vouching_for_a_process_of_another_node(tmp_path):
    clock.pause()
    async with Node() as node:
        master_pid = node.spawn(Master(secure_flags(tmp_path)))
        client = Listener()
        node.spawn(client)
        other = "scheduler(1)@127.0.0.9:9"
        client.send(master_pid, Authenticate(pid=other, principal="alice", nonce=b"n" * 24))
        await settle()
        assert client.received == [AuthenticationFailed(reason="refused")]


async def test_master_forgets_an_authentication_when_its_process_exits(tmp_path):
    clock.pause()
    async with Node() as node:
        master = Master(secure_flags(tmp_path))
        master_pid = node.spawn(master)
        client = Listener()
        node.spawn(client)
        await authenticate(node, master_pid, client.pid, ALICE)
        await settle()
        assert master.authenticated == {client.pid: "alice"}
        node.terminate(client.pid)
        await settle()
        assert not master.authenticated


def test_master_flags_authentication_needs_credentials(tmp_path):
    with pytest.raises(FlagsError, match="--authenticate-agents needs --credentials"):
        MasterFlags(authenticate_agents=True)
    bad = tmp_path / "bad.json"
    bad.write_text('{"credentials": [{"principal": "a"}]}')
    with pytest.raises(FlagsError, match=r"--credentials: .*has no secret"):
        MasterFlags(credentials=str(bad))
    with pytest.raises(FlagsError, match="--credentials: cannot read"):
        MasterFlags(credentials=str(tmp_path / "missing.json"))


# -- attacks: taking over what belongs to another principal -------------------------


async def test_master_refuses_framework_takeover_by_another_principal(tmp_path):
    clock.pause()
    async with Node() as node:
        master = Master(secure_flags(tmp_path))
        master_pid = node.spawn(master)
        agent = await authenticated_agent(node, master_pid, AGENT)
        victim = Recorder()
        driver = SchedulerDriver(victim, framework_info(), master_pid, credential=ALICE)
        node.spawn(driver)
        for _ in range(3):
            await settle()
        [offer] = victim.take_offers()
        driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await settle()
        framework = master.cluster.frameworks[victim.framework_id]
        # The attacker authenticates as itself and re-registers with the victim's id.
        attacker = Listener()
        node.spawn(attacker)
        await authenticate(node, master_pid, attacker.pid, MALLORY)
        stolen = framework_info(id=victim.framework_id, principal="mallory")
        attacker.send(master_pid, ReregisterFramework(framework=stolen, failover=True))
        # Without authenticating, claiming the victim's principal.
        intruder = Listener()
        node.spawn(intruder)
        claimed = framework_info(id=victim.framework_id, principal="alice")
        intruder.send(master_pid, ReregisterFramework(framework=claimed, failover=True))
        await settle()
        [refusal] = attacker.received
        assert "belongs to principal 'alice', not 'mallory'" in refusal.message
        assert intruder.received == [
            FrameworkError(message=f"Framework at {intruder.pid} is not authenticated")
        ]
        assert framework.pid == driver.pid and framework.connected
        assert not victim.errors
        assert master.metrics["framework_takeovers_refused"] == 1
        assert agent.kills == []
        assert master.cluster.frameworks[victim.framework_id].tasks["t1"].state == TaskState.RUNNING


async def test_master_refuses_framework_takeover_without_authentication_enabled():
    """Security off still binds a framework to its principal: a different one is refused."""
    clock.pause()
    async with Node() as node:
        master = Master(MasterFlags(master_id="M"))
        master_pid = node.spawn(master)
        victim = Recorder()
        driver = SchedulerDriver(victim, framework_info(principal="alice"), master_pid)
        node.spawn(driver)
        await settle()
        intruder = Listener()
        node.spawn(intruder)
        stolen = framework_info(id=victim.framework_id, principal="mallory")
        intruder.send(master_pid, ReregisterFramework(framework=stolen, failover=True))
        await settle()
        assert "belongs to principal 'alice'" in intruder.received[0].message
        assert master.cluster.frameworks[victim.framework_id].pid == driver.pid


async def test_master_refuses_unauthenticated_fake_agent(tmp_path):
    clock.pause()
    async with Node() as node:
        master = Master(secure_flags(tmp_path))
        master_pid = node.spawn(master)
        fake = FakeAgent(master_pid, "cpus:1000;mem:1000000", register=False)
        listener = Listener()
        node.spawn(fake)
        node.spawn(listener)
        listener.send(master_pid, fake.registration())
        await settle()
        assert listener.received == [
            AgentRegistrationRefused(message=f"Agent at {listener.pid} is not authenticated")
        ]
        assert not master.cluster.agents
        assert master.metrics["agent_authentication_refusals"] == 1


async def test_master_refuses_agent_id_theft_and_the_real_agent_keeps_its_tasks(tmp_path):
    clock.pause()
    async with Node() as node:
        master = Master(secure_flags(tmp_path, authenticate_frameworks=False))
        master_pid = node.spawn(master)
        real = await authenticated_agent(node, master_pid, AGENT)
        scheduler = Recorder()
        driver = SchedulerDriver(scheduler, framework_info(), master_pid)
        node.spawn(driver)
        await settle()
        [offer] = scheduler.take_offers()
        driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await settle()
        # A thief (authenticated under another principal, then not at all) re-registers
        # with the real agent's id, reporting no tasks.
        thief = Listener()
        node.spawn(thief)
        await authenticate(node, master_pid, thief.pid, MALLORY)
        info = real.info()
        thief.send(master_pid, ReregisterAgent(agent=info))
        stranger = Listener()
        node.spawn(stranger)
        stranger.send(master_pid, ReregisterAgent(agent=info))
        await settle()
        assert "belongs to principal 'agent-1', not 'mallory'" in thief.received[0].message
        assert "is not authenticated" in stranger.received[0].message
        agent = master.cluster.agents[real.agent_id]
        assert agent.pid == real.pid and agent.connected
        assert agent.tasks[(scheduler.framework_id, "t1")].state == TaskState.RUNNING
        assert scheduler.states("t1") == [TaskState.RUNNING]
        assert master.metrics["agent_takeovers_refused"] == 1


async def test_master_refuses_agent_id_theft_after_a_master_failover(tmp_path):
    """The registry keeps the principal each agent proved: a new leader refuses the id to
    another principal, and takes the real agent back."""
    from tests.master.test_master_registry import _eventually

    work_dir = str(tmp_path / "master")
    async with Node() as node:
        first = Master(secure_flags(tmp_path, work_dir=work_dir))
        master_pid = node.spawn(first)
        real = FakeAgent(master_pid, register=False)
        node.spawn(real)
        await authenticate(node, master_pid, real.pid, AGENT)
        real.send(master_pid, real.registration())
        await _eventually(lambda: bool(real.agent_id))
        assert first.registrar.registry.principals == {real.agent_id: "agent-1"}
        node.terminate(master_pid)
        await settle()

        second = Master(secure_flags(tmp_path, work_dir=work_dir))
        node.spawn(second)
        await _eventually(lambda: second.recovered)
        thief = Listener()
        node.spawn(thief)
        await authenticate(node, master_pid, thief.pid, MALLORY)
        thief.send(master_pid, ReregisterAgent(agent=real.info()))
        await _eventually(lambda: bool(thief.received))
        assert "belongs to principal 'agent-1', not 'mallory'" in thief.received[0].message
        assert real.agent_id not in second.cluster.agents

        await authenticate(node, master_pid, real.pid, AGENT)
        real.reregister()
        await _eventually(lambda: real.agent_id in second.cluster.agents)
        assert second.cluster.agents[real.agent_id].principal == "agent-1"
        assert second.metrics["agent_takeovers_refused"] == 1
