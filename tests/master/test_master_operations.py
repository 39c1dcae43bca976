"""Offer operations in Accept: RESERVE, UNRESERVE, CREATE, DESTROY, GROW and SHRINK.

Each valid operation changes the offers, the agent's checkpointed resources and
the allocator alike; each invalid one is refused by its rule, counted, and
leaves the rest of the Accept and the cluster as they were.
"""

from __future__ import annotations

import msgspec
import pytest

from frameworks import SchedulerDriver
from libprocess import Node, clock
from libprocess.testing import settle
from master import MasterFlags
from tests.master.fakes import Recorder, command_task, framework_info, start_cluster
from zmesos.protocol import Filters, Offer, Operation, OperationType, TaskState
from zmesos.resources import SCALAR, DiskInfo, Resource, Resources

AGENT = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"
RESERVED = (
    "cpus(db DYNAMIC principal=p):1;mem(db DYNAMIC principal=p):256;"
    "disk(db DYNAMIC principal=p):1000"
)
VOLUME = "disk(db DYNAMIC principal=p)[v1:data principal=p]:500"
PLAIN_DISK = "disk(db DYNAMIC principal=p):500"


def op(kind: OperationType, text: str = "", **fields: object) -> Operation:
    return Operation(type=kind, resources=tuple(Resources.parse(text).to_list()), **fields)  # type: ignore[arg-type]


def offered(offer: Offer) -> Resources:
    return Resources(offer.resources)


async def _cluster(node, **framework_fields):
    fields = {"roles": ("db",), "principal": "p", **framework_fields}
    flags = MasterFlags(master_id="M", allocation_interval=1.0)
    return await start_cluster(node, flags, framework=framework_info(**fields), resources=AGENT)


async def _accept(cluster, operations, refuse: float = 0.0) -> Offer:
    """Accept the one outstanding offer with `operations`; return the next (left outstanding)."""
    [offer] = cluster.scheduler.take_offers()
    cluster.driver.accept([offer.id], operations, Filters(refuse_seconds=refuse))
    await settle()
    clock.advance(1.0)
    await settle()
    offers = list(cluster.scheduler.offers.values())
    assert len(offers) == 1, offers
    return offers[0]


async def _reserved_with_volume(cluster) -> Offer:
    return await _accept(
        cluster, [op(OperationType.RESERVE, RESERVED), op(OperationType.CREATE, VOLUME)]
    )


async def test_master_reserve_and_create_show_in_offers_and_checkpoint():
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node)
        offer = await _reserved_with_volume(cluster)
        expected = Resources.parse(RESERVED) - Resources.parse(PLAIN_DISK) + Resources.parse(VOLUME)
        assert offered(offer).reserved("db") == expected
        assert cluster.agent.checkpoints[-1] == expected
        assert offered(offer).unreserved() == Resources.parse(AGENT) - Resources.parse(
            "cpus:1;mem:256;disk:1000"
        )
        assert cluster.master.metrics["operations_applied"] == 2
        assert cluster.master.cluster.agents[offer.agent_id].total == offered(offer)


async def test_master_launch_uses_volume_created_in_same_accept_and_volume_returns():
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node)
        [offer] = cluster.scheduler.take_offers()
        task = command_task(offer, "t1", f"cpus(db DYNAMIC principal=p):0.5;{VOLUME}")
        cluster.driver.accept(
            [offer.id],
            [
                op(OperationType.RESERVE, RESERVED),
                op(OperationType.CREATE, VOLUME),
                Operation(type=OperationType.LAUNCH, tasks=(task,)),
            ],
            Filters(refuse_seconds=0),
        )
        await settle()
        assert [run.task.task_id for run in cluster.agent.launched] == ["t1"]
        assert cluster.agent.checkpoints, "checkpoint must precede the launch"
        clock.advance(1.0)
        await settle()
        [during] = cluster.scheduler.take_offers()
        assert not offered(during).persistent_volumes()
        cluster.agent.update(cluster.scheduler.framework_id, "t1", TaskState.FINISHED)
        await settle()
        clock.advance(1.0)
        await settle()
        [after] = cluster.scheduler.take_offers() or [during]
        cluster.driver.decline(during.id, Filters(refuse_seconds=0))
        await settle()
        clock.advance(1.0)
        await settle()
        offers = cluster.scheduler.take_offers()
        volumes = sum((offered(o).persistent_volumes() for o in [*offers, after]), Resources())
        assert volumes == Resources.parse(VOLUME)


async def test_master_destroy_and_unreserve_give_back_plain_resources():
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node)
        await _reserved_with_volume(cluster)
        offer = await _accept(
            cluster,
            [op(OperationType.DESTROY, VOLUME), op(OperationType.UNRESERVE, RESERVED)],
        )
        assert offered(offer) == Resources.parse(AGENT)
        assert cluster.agent.checkpoints[-1] == Resources()


async def test_master_partial_unreserve_keeps_the_rest_reserved():
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node)
        await _accept(cluster, [op(OperationType.RESERVE, RESERVED)])
        offer = await _accept(
            cluster, [op(OperationType.UNRESERVE, "cpus(db DYNAMIC principal=p):0.5")]
        )
        assert offered(offer).reserved("db").cpus == 0.5
        assert offered(offer).cpus == 4


async def test_master_grow_and_shrink_volume_keep_its_identity():
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node)
        await _reserved_with_volume(cluster)
        volume = Resources.parse(VOLUME).to_list()[0]
        addition = Resources.parse("disk(db DYNAMIC principal=p):200").to_list()[0]
        offer = await _accept(
            cluster, [Operation(type=OperationType.GROW_VOLUME, volume=volume, addition=addition)]
        )
        [grown] = offered(offer).persistent_volumes()
        assert grown.scalar == 700
        offer = await _accept(
            cluster, [Operation(type=OperationType.SHRINK_VOLUME, volume=grown, subtract=600)]
        )
        [shrunk] = offered(offer).persistent_volumes()
        assert shrunk.scalar == 100
        assert offered(offer).reserved("db").disk == 1000
        assert cluster.agent.checkpoints[-1].persistent_volumes() == Resources([shrunk])


DB = "(db DYNAMIC principal=p)"


def _volume(text: str) -> Operation:
    return op(OperationType.CREATE, text)


def _one(text: str) -> Resource:
    [resource] = Resources.parse(text).to_list()
    return resource


def _unreserved_volume() -> Operation:
    disk = DiskInfo(persistence_id="v2", container_path="data")
    return Operation(
        type=OperationType.CREATE, resources=(Resource("disk", SCALAR, scalar=10.0, disk=disk),)
    )


def _negative_reserve() -> Operation:
    negative = msgspec.structs.replace(_one(f"cpus{DB}:1"), scalar=-1.0)
    return Operation(type=OperationType.RESERVE, resources=(negative,))


def _shrink_all() -> Operation:
    return Operation(type=OperationType.SHRINK_VOLUME, volume=_one(VOLUME), subtract=500)


def _grow_unreserved() -> Operation:
    return Operation(type=OperationType.GROW_VOLUME, volume=_one(VOLUME), addition=_one("disk:10"))


REFUSALS = [
    ("reserve_not_dynamic", lambda: op(OperationType.RESERVE, "cpus:1")),
    ("role_not_subscribed", lambda: op(OperationType.RESERVE, "cpus(web DYNAMIC principal=p):1")),
    ("principal_mismatch", lambda: op(OperationType.RESERVE, "cpus(db DYNAMIC principal=q):1")),
    ("not_offered", lambda: op(OperationType.RESERVE, f"cpus{DB}:100")),
    ("unreserve_not_dynamic", lambda: op(OperationType.UNRESERVE, "cpus:1")),
    ("unreserve_volume", lambda: op(OperationType.UNRESERVE, VOLUME)),
    ("create_unreserved_disk", _unreserved_volume),
    ("create_not_volume", lambda: _volume(PLAIN_DISK)),
    ("persistence_id_in_use", lambda: _volume(f"disk{DB}[v1:other principal=p]:10")),
    ("invalid_container_path", lambda: _volume(f"disk{DB}[v2:../up principal=p]:10")),
    ("invalid_container_path", lambda: _volume(f"disk{DB}[v2:/abs principal=p]:10")),
    ("invalid_persistence_id", lambda: _volume(f"disk{DB}[..:data principal=p]:10")),
    ("principal_mismatch", lambda: _volume(f"disk{DB}[v2:data principal=q]:10")),
    ("shared_not_allowed", lambda: _volume(f"disk{DB}[v2:data principal=p]<SHARED>:10")),
    ("destroy_not_volume", lambda: op(OperationType.DESTROY, PLAIN_DISK)),
    ("unknown_volume", lambda: op(OperationType.DESTROY, f"disk{DB}[zz:data principal=p]:500")),
    ("shrink_invalid_amount", _shrink_all),
    ("grow_invalid_addition", _grow_unreserved),
    ("invalid_resources", _negative_reserve),
]


@pytest.mark.parametrize(("rule", "make"), REFUSALS, ids=[rule for rule, _ in REFUSALS])
async def test_master_invalid_operation_is_refused_by_its_rule_and_nothing_else_moves(rule, make):
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node)
        before = await _reserved_with_volume(cluster)
        checkpoints = len(cluster.agent.checkpoints)
        task = command_task(before, "after", "cpus:0.5;mem:64")
        after = await _accept(
            cluster, [make(), Operation(type=OperationType.LAUNCH, tasks=(task,))]
        )
        metrics = cluster.master.metrics
        assert metrics[f"operations_refused/{rule}"] == 1
        assert metrics["operations_refused"] == 1
        assert [run.task.task_id for run in cluster.agent.launched] == ["after"]
        assert len(cluster.agent.checkpoints) == checkpoints
        assert offered(after) == offered(before) - Resources.parse("cpus:0.5;mem:64")


async def test_master_destroy_of_a_volume_in_use_is_refused():
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node, capabilities=("SHARED_RESOURCES",))
        shared = "disk(db DYNAMIC principal=p)[s1:data principal=p]<SHARED>:500"
        [offer] = cluster.scheduler.take_offers()
        task = command_task(offer, "t1", f"cpus(db DYNAMIC principal=p):0.5;{shared}")
        cluster.driver.accept(
            [offer.id],
            [
                op(OperationType.RESERVE, RESERVED),
                op(OperationType.CREATE, shared),
                Operation(type=OperationType.LAUNCH, tasks=(task,)),
                op(OperationType.DESTROY, shared),
            ],
        )
        await settle()
        assert cluster.master.metrics["operations_refused/volume_in_use"] == 1
        assert cluster.agent.checkpoints[-1].persistent_volumes() == Resources.parse(shared)


async def test_master_volume_is_offered_only_to_its_role_and_sub_roles():
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node)
        await _reserved_with_volume(cluster)
        others: dict[str, tuple[Recorder, SchedulerDriver]] = {}
        for role in ("web", "db/x"):
            recorder = Recorder()
            driver = SchedulerDriver(
                recorder, framework_info(role, roles=(role,)), cluster.master_pid
            )
            node.spawn(driver)
            others[role] = (recorder, driver)
        await settle()
        [offer] = cluster.scheduler.take_offers()  # the creator steps aside for a long while
        cluster.driver.decline(offer.id, Filters(refuse_seconds=1000))
        seen = {role: Resources() for role in others}
        for _ in range(6):  # each sees what it may get; db/x steps aside after its first look
            await settle()
            clock.advance(1.0)
            for role, (recorder, driver) in others.items():
                for got in recorder.take_offers():
                    seen[role] = seen[role] + offered(got)
                    driver.decline(got.id, Filters(refuse_seconds=1000 if role == "db/x" else 0))
        assert seen["web"] and not seen["web"].reserved()
        # db/x may see the volume again in a larger offer than it declined (the
        # filter covers only what was declined), but it does see it.
        assert seen["db/x"].persistent_volumes().contains(Resources.parse(VOLUME))


async def test_master_reregistering_agent_with_other_checkpoint_gets_the_masters_view():
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node)
        await _reserved_with_volume(cluster)
        mine = cluster.agent.checkpoints[-1]
        agent = cluster.master.cluster.agents[cluster.agent.agent_id]
        total = agent.total
        # The agent lost the last CheckpointResources (say): it reports none.
        cluster.agent.reregister(checkpointed_resources=())
        await settle()
        assert cluster.master.metrics["checkpointed_resources_reconciled"] == 1
        assert cluster.agent.checkpoints[-1] == mine
        assert agent.total == total
        # An agent that agrees is not sent anything.
        sent = len(cluster.agent.checkpoints)
        cluster.agent.reregister(checkpointed_resources=tuple(mine.to_list()))
        await settle()
        assert len(cluster.agent.checkpoints) == sent


async def test_master_two_tasks_of_one_accept_share_a_volume_offered_while_in_use():
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node, capabilities=("SHARED_RESOURCES",))
        shared = "disk(db DYNAMIC principal=p)[s1:data principal=p]<SHARED>:500"
        [offer] = cluster.scheduler.offers.values()
        tasks = tuple(
            command_task(offer, task_id, f"cpus(db DYNAMIC principal=p):0.5;{shared}")
            for task_id in ("t1", "t2")
        )
        during = await _accept(
            cluster,
            [
                op(OperationType.RESERVE, RESERVED),
                op(OperationType.CREATE, shared),
                Operation(type=OperationType.LAUNCH, tasks=tasks),
            ],
        )
        assert [run.task.task_id for run in cluster.agent.launched] == ["t1", "t2"]
        # A shared volume stays in offers while in use (one copy an offer cycle).
        assert offered(during).persistent_volumes() == Resources.parse(shared)
        framework_id = cluster.scheduler.framework_id
        for task_id in ("t1", "t2"):
            cluster.agent.update(framework_id, task_id, TaskState.FINISHED)
            await settle()
            volumes = cluster.master.cluster.agents[offer.agent_id].used.persistent_volumes()
            assert len(volumes) == (1 if task_id == "t1" else 0)
        cluster.driver.decline(during.id, Filters(refuse_seconds=0))
        await settle()
        clock.advance(1.0)
        await settle()
        cluster.scheduler.offers.pop(during.id)
        offers = cluster.scheduler.take_offers()
        after = sum((offered(o) for o in offers), Resources())
        # Each cycle's offer may carry a copy of the shared volume; nothing else is doubled.
        assert all(len(offered(o).shared()) <= 1 for o in offers)
        assert set(after.persistent_volumes()) == set(Resources.parse(shared))
        assert after.non_shared().cpus == 4


async def test_master_tasks_of_two_accepts_use_a_shared_volume_at_once_without_a_leak():
    """The volume in use comes back in the next offer; a second task launched from it
    uses it beside the first. The allocator holds one copy for the framework's tasks
    (the offer's second copy goes back), and all of it returns when both end."""
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node, capabilities=("SHARED_RESOURCES",))
        shared = "disk(db DYNAMIC principal=p)[s1:data principal=p]<SHARED>:500"
        uses = f"cpus(db DYNAMIC principal=p):0.5;{shared}"
        [offer] = cluster.scheduler.offers.values()
        during = await _accept(
            cluster,
            [
                op(OperationType.RESERVE, RESERVED),
                op(OperationType.CREATE, shared),
                Operation(type=OperationType.LAUNCH, tasks=(command_task(offer, "t1", uses),)),
            ],
        )
        assert offered(during).shared() == Resources.parse(shared)
        after = await _accept(
            cluster,
            [Operation(type=OperationType.LAUNCH, tasks=(command_task(during, "t2", uses),))],
        )
        assert [run.task.task_id for run in cluster.agent.launched] == ["t1", "t2"]
        framework_id = cluster.scheduler.framework_id
        allocator = node.processes[cluster.master.allocator.name].allocator
        held = allocator.allocation(framework_id, offer.agent_id)["db"]
        assert held.shared() == Resources.parse(shared) + offered(after).shared()
        for task_id in ("t1", "t2"):
            cluster.agent.update(framework_id, task_id, TaskState.FINISHED)
            await settle()
        # No task holds anything: the allocator's view of the framework is its offers.
        outstanding = sum((offered(o) for o in cluster.scheduler.offers.values()), Resources())
        assert allocator.allocation(framework_id, offer.agent_id) == {"db": outstanding}
        assert len(outstanding.shared()) == len(cluster.scheduler.offers)


async def test_master_task_using_a_refused_volume_fails_naming_the_rule():
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node)
        [offer] = cluster.scheduler.offers.values()
        bad = "disk(db DYNAMIC principal=p)[v9:../out principal=p]:100"
        task = command_task(offer, "t1", f"cpus:0.5;{bad}")
        await _accept(
            cluster,
            [
                op(OperationType.RESERVE, RESERVED),
                op(OperationType.CREATE, bad),
                Operation(type=OperationType.LAUNCH, tasks=(task,)),
            ],
        )
        [status] = [s for s in cluster.scheduler.statuses if s.task_id == "t1"]
        assert status.state == TaskState.ERROR
        assert "CREATE refused (invalid_container_path)" in status.message
        assert cluster.agent.launched == []


async def test_master_destroy_of_a_shared_volume_rescinds_the_other_offers_holding_it():
    """A shared volume is offered while another offer holds it; when one framework
    destroys it, the other framework's offer of it is rescinded (Mesos does so)."""
    clock.pause()
    async with Node() as node:
        cluster = await _cluster(node, capabilities=("SHARED_RESOURCES",))
        shared = "disk(db DYNAMIC principal=p)[s1:data principal=p]<SHARED>:500"
        [offer] = cluster.scheduler.take_offers()
        operations = [
            op(OperationType.RESERVE, RESERVED),
            op(OperationType.CREATE, shared),
            Operation(
                type=OperationType.LAUNCH,
                tasks=(command_task(offer, "t1", "cpus(db DYNAMIC principal=p):0.5"),),
            ),
        ]
        cluster.driver.accept([offer.id], operations, Filters(refuse_seconds=1000))
        other = Recorder()
        info = framework_info("other", roles=("db",), capabilities=("SHARED_RESOURCES",))
        node.spawn(SchedulerDriver(other, info, cluster.master_pid))
        await settle()
        clock.advance(1.0)
        await settle()
        [held] = other.offers.values()
        assert offered(held).shared() == Resources.parse(shared)

        cluster.driver.revive()
        cluster.agent.update(cluster.scheduler.framework_id, "t1", TaskState.FINISHED)
        await settle()
        clock.advance(1.0)
        await settle()
        [mine] = cluster.scheduler.take_offers()
        assert offered(mine).shared() == Resources.parse(shared)
        cluster.driver.accept([mine.id], [op(OperationType.DESTROY, shared)])
        await settle()

        assert other.rescinded == [held.id]
        assert cluster.agent.checkpoints[-1].persistent_volumes() == Resources()
        clock.advance(1.0)
        await settle()
        offers = [*cluster.scheduler.offers.values(), *other.offers.values()]
        after = sum((offered(o) for o in offers), Resources())
        assert after.persistent_volumes() == Resources()
        assert after.cpus == 4
