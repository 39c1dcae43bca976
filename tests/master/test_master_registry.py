"""The master and its registry: ids never reissued, admission only once durable,
messages held while the registry is read, weights and quota kept across restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from frameworks import SchedulerDriver
from libprocess import Node
from libprocess.testing import settle
from master import Master, MasterFlags
from master.registry import InMemoryStore
from tests.master.fakes import FakeAgent, Recorder, command_task, framework_info, start_cluster
from tests.master.test_registry import GatedStore
from zmesos.protocol import ReportedTask, ReregisterAgent, TaskState


async def _eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until `predicate()` holds: the file store's writes run in threads settle cannot see."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await settle()
        await asyncio.sleep(0.01)


async def test_master_restarted_with_the_same_id_never_reissues_agent_or_framework_ids(tmp_path):
    flags = MasterFlags(master_id="M", work_dir=str(tmp_path))
    async with Node() as node:
        cluster = await start_cluster(node, flags)
        await _eventually(lambda: bool(cluster.scheduler.offers))
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await _eventually(lambda: TaskState.RUNNING in cluster.scheduler.states("t1"))
        first_agent, first_framework = cluster.agent.agent_id, cluster.scheduler.framework_id
        info = cluster.agent.info()
        task = cluster.agent.launched[0]
        node.terminate(cluster.master_pid)
        await settle()

        # The same id, the same work dir: a restart.
        restarted = Master(flags)
        master_pid = node.spawn(restarted)
        cluster.agent.send(
            master_pid,
            ReregisterAgent(
                agent=info,
                tasks=(
                    ReportedTask(
                        framework_id=task.framework.id, task=task.task, state=TaskState.RUNNING
                    ),
                ),
                frameworks=(task.framework,),
                framework_pids={task.framework.id: task.framework_pid},
            ),
        )
        newcomer = FakeAgent(master_pid, hostname="host2")
        node.spawn(newcomer)
        scheduler = Recorder()
        node.spawn(SchedulerDriver(scheduler, framework_info("second"), master_pid))
        await _eventually(lambda: bool(newcomer.agent_id and scheduler.framework_id))
        assert newcomer.agent_id != first_agent
        assert scheduler.framework_id != first_framework
        state = restarted.state()
        [recovered] = [f for f in state["frameworks"] if f["id"] == first_framework]
        assert [t["id"] for t in recovered["tasks"]] == ["t1"]
        assert state["registry"]["generation"] == 2


async def test_master_refuses_an_agent_while_the_registry_cannot_write_it():
    store = GatedStore()
    async with Node() as node:
        master = Master(MasterFlags(master_id="M"), store=store)
        master_pid = node.spawn(master)
        await _eventually(lambda: master.recovered)
        store.fail = True
        agent = FakeAgent(master_pid)
        node.spawn(agent)
        await _eventually(lambda: master.metrics["registrar/failed_operations"] == 1)
        assert agent.agent_id == "" and not master.cluster.agents  # never acknowledged
        agent.send(master_pid, agent_registration(agent))  # the agent's retry
        await _eventually(lambda: bool(agent.agent_id))
        assert list(master.registrar.registry.agents) == [agent.agent_id]


def agent_registration(agent: FakeAgent):
    from zmesos.protocol import RegisterAgent

    return RegisterAgent(agent=agent.info())


async def test_master_holds_messages_until_the_registry_is_read_then_serves_them_in_order():
    store = GatedStore()
    store.gate.clear()  # the recovery's write waits
    async with Node() as node:
        master = Master(MasterFlags(master_id="M"), store=store)
        master_pid = node.spawn(master)
        agent = FakeAgent(master_pid)
        node.spawn(agent)
        await settle()
        agent.send(master_pid, agent.registration())  # a retry: it replaces the one held
        await settle()
        assert not master.recovered and agent.agent_id == ""
        store.gate.set()
        await _eventually(lambda: bool(agent.agent_id))
        assert agent.agent_id == f"{master.id_prefix}-S0"
        assert master.metrics["messages_register_agent"] == 1


async def test_master_keeps_weights_and_quota_across_a_restart_and_refuses_bad_ones():
    store = InMemoryStore()
    async with Node() as node:
        master = Master(MasterFlags(master_id="M"), store=store)
        pid = node.spawn(master)
        await settle()
        assert await node.dispatch(pid, "update_weights", {"eng": 2.5}) is None
        assert await node.dispatch(pid, "set_quota", "eng", {"cpus": 2.0}, {"cpus": 4.0}) is None
        assert "positive" in await node.dispatch(pid, "update_weights", {"eng": -1.0})
        assert "only" in await node.dispatch(pid, "set_quota", "eng", {"ports": 2.0}, {})
        assert "exceeds" in await node.dispatch(
            pid, "set_quota", "eng", {"cpus": 5.0}, {"cpus": 1.0}
        )
        assert "nested" in await node.dispatch(pid, "set_quota", "eng/web", {"cpus": 1.0}, {})
        assert "invalid role" in await node.dispatch(pid, "update_weights", {"a b": 2.0})
        assert "no quota" in await node.dispatch(pid, "remove_quota", "ops")
        node.terminate(pid)
        await settle()
        restarted = Master(MasterFlags(master_id="M"), store=store)
        pid = node.spawn(restarted)
        await settle()
        assert await node.dispatch(pid, "weights") == {"eng": 2.5}
        quota = await node.dispatch(pid, "quota")
        assert quota["eng"].guarantee == {"cpus": 2.0} and quota["eng"].limit == {"cpus": 4.0}
        await settle()
        roles = node.processes[restarted.allocator.name].allocator.roles
        assert roles.weights["eng"] == 2.5
        assert roles.quotas["eng"].guarantee == {"cpus": 2.0}


async def test_master_drops_a_reregistration_from_a_pid_whose_admission_is_in_flight():
    """Two agents must never share a pid: the newcomer's admission waits on the registry
    while another agent's re-registration arrives from the same pid (forged or confused)."""
    store = GatedStore()
    async with Node() as node:
        master = Master(MasterFlags(master_id="M"), store=store)
        master_pid = node.spawn(master)
        first = FakeAgent(master_pid)
        node.spawn(first)
        await _eventually(lambda: bool(first.agent_id))
        store.gate.clear()
        newcomer = FakeAgent(master_pid, hostname="host2")
        node.spawn(newcomer)
        await settle()
        newcomer.send(master_pid, ReregisterAgent(agent=first.info()))
        await settle()
        store.gate.set()
        await _eventually(lambda: bool(newcomer.agent_id))
        cluster = master.cluster
        assert cluster.agents[first.agent_id].pid == first.pid
        assert cluster.agents_by_pid[first.pid].id == first.agent_id
        assert cluster.agents_by_pid[newcomer.pid].id == newcomer.agent_id
