"""Registration: retries with backoff (paused clock), re-registration after the master
goes and comes back, and the status updates that wait for it."""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path

from kazoo.client import KazooClient

from agent import Agent, AgentFlags
from libprocess import Node, clock
from libprocess.testing import settle
from tests.agent.fakes import AGENT_RESOURCES, FakeMaster, command_task, master_address
from zmesos.protocol import (
    AgentRegistered,
    Pong,
    RegisterAgent,
    ReregisterAgent,
    TaskState,
)
from zmesos.resources import Resources
from zmesos.zookeeper import ELECTION_PREFIX, LeaderInfo, encode_leader_info, parse_zk_url


class HighestRandom(random.Random):
    """Jitter that always picks the top of its range: the backoff schedule shows plainly."""

    def uniform(self, a: float, b: float) -> float:
        return b


def flags_for(node: Node, work_dir: Path, **overrides: object) -> AgentFlags:
    overrides.setdefault("master", master_address(node))
    return AgentFlags(
        resources=AGENT_RESOURCES,
        attributes="rack:r1;zone:z2",
        work_dir=str(work_dir),
        hostname="host-a",
        **overrides,  # type: ignore[arg-type]
    )


class TimedMaster(FakeMaster):
    """Records when each registration attempt arrived, on the runtime clock."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.attempts: list[float] = []

    def on_register(self, sender, message) -> None:
        self.attempts.append(clock.now())
        super().on_register(sender, message)


async def test_agent_registration_backs_off_doubling_to_a_minute(tmp_path):
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        master = TimedMaster(answer=False)
        node.spawn(master)
        start = clock.now()
        flags = flags_for(node, tmp_path, registration_backoff_factor=1.0)
        node.spawn(Agent(flags, rng=HighestRandom()))
        await settle()
        for _ in range(300):
            clock.advance(1)
            await settle()

        gaps = [round(b - a) for a, b in itertools.pairwise(master.attempts)]
        assert master.attempts[0] == start
        assert gaps[:8] == [1, 2, 4, 8, 16, 32, 60, 60]


async def test_agent_keeps_registering_until_the_master_appears(tmp_path):
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        agent = Agent(flags_for(node, tmp_path), rng=random.Random(5))
        node.spawn(agent)
        await settle()
        for _ in range(5):  # nobody is there: every attempt is dropped
            clock.advance(60)
            await settle()
        assert not agent.connected

        master = FakeMaster()
        node.spawn(master)
        clock.advance(60)
        await settle()

        assert agent.connected and agent.agent_id == "agent-1"
        [registration] = master.of_type(RegisterAgent)
        info = registration.agent
        assert (info.hostname, info.port, info.attributes) == (
            "host-a",
            5051,  # its HTTP port, the address it advertises
            {"rack": "r1", "zone": "z2"},
        )
        assert Resources.from_list(info.resources) == Resources.parse(AGENT_RESOURCES)
        clock.advance(3600)
        await settle()
        assert len(master.of_type(RegisterAgent)) == 1  # no attempts once registered


async def test_agent_ignores_registration_answers_from_others(tmp_path):
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        impostor = FakeMaster(name="impostor")
        node.spawn(impostor)
        agent = Agent(flags_for(node, tmp_path))
        agent_pid = node.spawn(agent)
        impostor.send(agent_pid, AgentRegistered(agent_id="agent-x"))
        await settle()
        assert not agent.connected and agent.metrics["invalid_messages"] == 1


async def test_agent_reregisters_with_its_tasks_when_the_master_returns(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        first = FakeMaster()
        node.spawn(first)
        agent = Agent(flags_for(node, tmp_path, registration_backoff_factor=0.05))
        node.spawn(agent)
        await first.wait_for(lambda: first.agent is not None)
        first.run_task(command_task("t1", "sleep 60"))
        await first.wait_for(lambda: TaskState.RUNNING in first.states("t1"))

        node.terminate(first.pid)
        await node.wait(first.pid)
        second = FakeMaster()
        node.spawn(second)
        await second.wait_for(lambda: second.agent is not None)

        [message] = second.of_type(ReregisterAgent)
        assert message.agent.id == "agent-1"
        [reported] = message.tasks
        assert reported.task.task_id == "t1"
        assert reported.state is TaskState.RUNNING
        assert reported.framework_id == "framework-1"
        assert [framework.id for framework in message.frameworks] == ["framework-1"]
        assert message.executors == ()  # command executors are the agent's own
        assert not second.of_type(RegisterAgent)

        second.kill_task("t1")
        await second.wait_for(lambda: second.terminal("t1"))
        assert second.states("t1") == [TaskState.KILLED]


async def test_agent_resends_unacknowledged_updates_to_the_returning_master(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        first = FakeMaster(auto_ack=False)
        node.spawn(first)
        agent = Agent(flags_for(node, tmp_path, registration_backoff_factor=0.05))
        node.spawn(agent)
        await first.wait_for(lambda: first.agent is not None)
        first.run_task(command_task("t1", "echo hi"))
        await first.wait_for(lambda: first.states("t1"))
        # Only the head of the stream leaves until it is acknowledged; wait for the rest to queue.
        await first.wait_for(lambda: len(agent.status_updates.pending("framework-1", "t1")) == 3)
        assert first.states("t1") == [TaskState.STARTING]

        node.terminate(first.pid)
        await node.wait(first.pid)
        second = FakeMaster()
        node.spawn(second)
        await second.wait_for(lambda: second.terminal("t1"))

        assert second.states("t1") == [TaskState.STARTING, TaskState.RUNNING, TaskState.FINISHED]
        await second.wait_for(lambda: not agent.frameworks)


async def test_agent_reregisters_when_pings_stop(tmp_path):
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster(ping_interval=15.0)
        node.spawn(master)
        agent = Agent(flags_for(node, tmp_path), rng=random.Random(3))
        node.spawn(agent)
        await settle()
        for _ in range(10):  # pings keep it connected
            clock.advance(15)
            master.ping()
            await settle()
        assert agent.connected and not master.of_type(ReregisterAgent)

        clock.advance(5 * 15)  # five ping intervals of silence
        await settle()
        assert master.of_type(ReregisterAgent)
        assert agent.connected  # the fake master answered at once


async def test_agent_reregisters_when_the_master_pings_as_if_it_did_not_know_it(tmp_path):
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        agent = Agent(flags_for(node, tmp_path))
        node.spawn(agent)
        await settle()
        master.ping(connected=False)
        await settle()
        assert len(master.of_type(ReregisterAgent)) == 1
        assert master.of_type(Pong)


async def test_agent_follows_the_zookeeper_leader_after_mesos_random_delay(
    tmp_path, zookeeper, zk_url
):
    """zk://: the watch names the new leader; the agent registers there after a random delay
    within the backoff factor (the top of it here), not at once, and not by polling."""
    path = parse_zk_url(zk_url).path
    client = KazooClient(hosts=zookeeper.hosts)
    client.start(timeout=10)
    clock.pause()
    try:
        async with Node(host="127.0.0.1", port=0) as node:
            first, second = FakeMaster(name="first"), FakeMaster(name="second")
            znodes = [
                client.create(
                    f"{path}/{ELECTION_PREFIX}",
                    encode_leader_info(
                        LeaderInfo(id=name, pid=str(node.spawn(master)), hostname="h", port=1)
                    ),
                    ephemeral=True,
                    sequence=True,
                    makepath=True,
                )
                for name, master in (("first", first), ("second", second))
            ]
            flags = flags_for(node, tmp_path, registration_backoff_factor=2.0, master=zk_url)
            agent = Agent(flags, rng=HighestRandom())
            node.spawn(agent)
            await _eventually(lambda: agent.connected and agent.master == first.pid)

            client.delete(znodes[0])  # the leader's session expired: its znode went
            await _eventually(lambda: agent.metrics["leader_changes"] == 1)
            clock.advance(1.9)
            await settle()
            assert not second.received  # Mesos's random delay, within the factor
            clock.advance(0.1)
            await _eventually(lambda: agent.connected and agent.master == second.pid)
            [message] = second.of_type(ReregisterAgent)
            assert message.agent.id == "agent-1"
    finally:
        client.stop()
        client.close()


async def _eventually(predicate, timeout: float = 10.0) -> None:
    """Until `predicate()`: ZooKeeper answers in real time while the runtime clock is paused."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await settle()
        await asyncio.sleep(0.02)
