"""LAUNCH_GROUP at the master (actor API): a valid group goes to the agent whole, in one
RunTaskGroup; an invalid or unauthorized one is refused whole, TASK_ERROR for each task;
the executor's resources are taken on its first launch only."""

from __future__ import annotations

import msgpack
import msgspec
import pytest

from libprocess import Node, clock
from libprocess.testing import settle
from master import MasterFlags
from master.views import framework_json
from tests.master.fakes import Cluster, command_task, framework_info, start_cluster
from tests.master.test_master_authorization import acls_file, only_alice
from tests.master.test_master_edge import _send_raw
from zmesos.protocol import (
    AcceptOffers,
    ExecutorInfo,
    ExecutorType,
    Filters,
    Offer,
    Operation,
    OperationType,
    Reason,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
)
from zmesos.resources import Resources

EXECUTOR_RESOURCES = "cpus:0.5;mem:64;disk:100"


def executor(executor_id: str = "pod", **fields: object) -> ExecutorInfo:
    fields.setdefault("type", ExecutorType.DEFAULT)
    fields.setdefault("resources", tuple(Resources.parse(EXECUTOR_RESOURCES).to_list()))
    return ExecutorInfo(executor_id=executor_id, **fields)  # type: ignore[arg-type]


def tasks(offer: Offer, *ids: str, resources: str = "cpus:1;mem:128") -> list[TaskInfo]:
    return [command_task(offer, task_id, resources, command="sleep 1") for task_id in ids]


def offered(cluster: Cluster) -> Resources:
    [offer] = cluster.scheduler.take_offers()
    return Resources.from_list(offer.resources)


def errors(cluster: Cluster) -> dict[str, tuple[TaskState, Reason | None, str]]:
    return {s.task_id: (s.state, s.reason, s.message) for s in cluster.scheduler.statuses}


async def test_master_launch_group_sends_the_group_whole_and_takes_the_executor_once():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_group(
            [offer.id], executor(), tasks(offer, "a", "b", "c"), Filters(refuse_seconds=0)
        )
        await settle()

        [run] = cluster.agent.launched_groups
        assert not cluster.agent.launched
        framework_id = cluster.scheduler.framework_id
        assert run.executor.framework_id == framework_id and run.executor.is_default
        assert run.task_group.task_ids == ("a", "b", "c")
        assert all(task.executor == run.executor for task in run.task_group.tasks)
        framework = cluster.master.cluster.frameworks[framework_id]
        assert {t.executor_id for t in framework.tasks.values()} == {"pod"}
        assert all(t.state is TaskState.RUNNING for t in framework.tasks.values())
        await cluster.next_allocation()
        [offer] = cluster.scheduler.take_offers()
        left = Resources.parse("cpus:0.5;mem:3648;disk:9900;ports:[31000-32000]")
        assert Resources.from_list(offer.resources) == left
        [shown] = framework_json(cluster.master, framework, False)["executors"]
        assert (shown["executor_id"], shown["type"]) == ("pod", "DEFAULT")

        # A second group on the same executor: only its tasks' resources are taken.
        cluster.driver.launch_group(
            [offer.id], executor(), tasks(offer, "d", resources="cpus:0.5;mem:64")
        )
        await settle()
        assert [g.task_group.task_ids for g in cluster.agent.launched_groups][-1] == ("d",)
        assert cluster.master.metrics["task_groups_launched"] == 2


@pytest.mark.parametrize(
    ("group", "group_executor", "expected"),
    [
        (("a", "a"), executor(), "Task group has duplicate task ID: a"),
        (("a", "b"), executor(type=ExecutorType.CUSTOM), "CommandInfo has an empty value"),
        (("a", "b"), executor(type=None), "'ExecutorInfo.type' must be set"),
        # The tasks fit (4 cpus) but not with the new executor's 0.5 more.
        (("a", "b", "c", "d"), executor(), "required by task group and its executor"),
    ],
)
async def test_master_launch_group_invalid_refuses_every_task(group, group_executor, expected):
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_group(
            [offer.id], group_executor, tasks(offer, *group), Filters(refuse_seconds=0)
        )
        await settle()

        assert not cluster.agent.launched_groups
        seen = errors(cluster)
        assert set(seen) == set(group)
        for state, reason, message in seen.values():
            assert (state, reason) == (TaskState.ERROR, Reason.TASK_GROUP_INVALID)
            assert expected in message
        framework = cluster.master.cluster.frameworks[cluster.scheduler.framework_id]
        assert not framework.tasks and not framework.executors
        await cluster.next_allocation()
        assert offered(cluster) == Resources.from_list(offer.resources)  # all of it back


async def test_master_launch_group_unauthorized_task_refuses_the_group(tmp_path):
    clock.pause()
    async with Node() as node:
        flags = MasterFlags(master_id="M", acls=acls_file(tmp_path, only_alice("run_tasks")))
        cluster = await start_cluster(node, flags, framework=framework_info(principal="mallory"))
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_group([offer.id], executor(), tasks(offer, "a", "b"))
        await settle()

        assert not cluster.agent.launched_groups
        for state, reason, message in errors(cluster).values():
            assert (state, reason) == (TaskState.ERROR, Reason.TASK_GROUP_UNAUTHORIZED)
            assert "is not authorized to launch as user" in message


async def test_master_launch_group_with_invalid_offers_drops_its_tasks():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_group(["no-such-offer"], executor(), tasks(offer, "a", "b"))
        await settle()
        assert {s.task_id: (s.state, s.reason) for s in cluster.scheduler.statuses} == {
            "a": (TaskState.DROPPED, Reason.INVALID_OFFERS),
            "b": (TaskState.DROPPED, Reason.INVALID_OFFERS),
        }


async def test_master_accept_launch_then_group_compete_for_the_offer_in_order():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        launch = Operation(
            type=OperationType.LAUNCH, tasks=(command_task(offer, "alone", "cpus:3;mem:128"),)
        )
        group = Operation(
            type=OperationType.LAUNCH_GROUP,
            executor=executor(),
            task_group=TaskGroupInfo(tasks=tuple(tasks(offer, "g1"))),
        )
        cluster.driver.accept([offer.id], [launch, group])
        await settle()
        seen = errors(cluster)
        assert seen["alone"][0] is TaskState.RUNNING
        state, reason, message = seen["g1"]
        assert (state, reason) == (TaskState.ERROR, Reason.TASK_GROUP_INVALID)
        assert "more than available" in message


async def test_master_launch_group_empty_is_refused_as_an_operation():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_group([offer.id], executor(), [], Filters(refuse_seconds=0))
        await settle()
        assert not cluster.agent.launched_groups and not cluster.scheduler.statuses
        assert cluster.master.metrics["operations_refused/empty_group"] == 1


async def test_master_launch_group_malformed_on_the_wire_is_refused_at_decoding():
    """A LAUNCH_GROUP without its executor or group, with an executor type nobody knows, or
    a group over the size bound never reaches the handler; the offer stays usable."""
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        sender = str(cluster.driver.pid)
        good = Operation(
            type=OperationType.LAUNCH_GROUP,
            executor=executor(),
            task_group=TaskGroupInfo(tasks=tuple(tasks(offer, "a"))),
        )
        body = msgpack.unpackb(msgspec.msgpack.encode(good))
        task = body["task_group"]["tasks"][0]
        hostile = [
            {**body, "executor": None},
            {**body, "task_group": None},
            {**body, "executor": {**body["executor"], "type": "DOCKER"}},
            {**body, "task_group": {"tasks": [task] * 1025}},
            {**body, "task_group": {"tasks": "a"}},
        ]
        accept = AcceptOffers(
            framework_id=cluster.scheduler.framework_id, offer_ids=(offer.id,), operations=()
        )
        refused = node.metrics["invalid_messages"]
        for operation in hostile:
            await _send_raw(node, sender, accept, operations=[operation])
        assert node.metrics["invalid_messages"] == refused + len(hostile)
        assert node.metrics["handler_errors"] == 0
        assert not cluster.agent.launched_groups
        cluster.driver.launch_group([offer.id], executor(), tasks(offer, "a"))
        await settle()
        [run] = cluster.agent.launched_groups
        assert run.task_group.task_ids == ("a",)
