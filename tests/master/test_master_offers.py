"""Offers: decline filters, revive, suppress, offer timeout, rescinds (paused clock)."""

from __future__ import annotations

from libprocess import Node, clock
from libprocess.testing import settle
from master import MasterFlags
from tests.master.fakes import start_cluster
from zmesos.protocol import Filters, MinAllocatableResources, OfferFilters
from zmesos.resources import Resources


async def _advance(seconds: float) -> None:
    clock.advance(seconds)
    await settle()


async def test_master_offers_once_per_agent_and_keeps_them_outstanding():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        assert len(cluster.scheduler.offers) == 1
        await _advance(5)  # periodic runs offer nothing more: all is offered
        assert len(cluster.scheduler.events) == 2  # registered, one batch of offers
        assert len(cluster.master.offers) == 1


async def test_master_decline_filter_holds_for_refuse_seconds_then_expires():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.decline(offer.id, Filters(refuse_seconds=10))
        await settle()
        assert not cluster.scheduler.offers
        await _advance(9)
        assert not cluster.scheduler.offers
        await _advance(2)
        [again] = cluster.scheduler.take_offers()
        assert again.id != offer.id
        assert again.resources == offer.resources


async def test_master_decline_with_default_filters_refuses_five_seconds():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.decline(offer.id)
        await settle()
        await _advance(4)
        assert not cluster.scheduler.offers
        await _advance(2)
        assert len(cluster.scheduler.offers) == 1


async def test_master_decline_with_zero_refuse_offers_again_in_the_next_periodic_run():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.decline(offer.id, Filters(refuse_seconds=0))
        await settle()
        assert not cluster.scheduler.offers  # not at once: Mesos waits for the batch (MESOS-3078)
        await _advance(1)
        assert len(cluster.scheduler.offers) == 1


async def test_master_revive_clears_filters():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.decline(offer.id, Filters(refuse_seconds=3600))
        await settle()
        await _advance(2)
        assert not cluster.scheduler.offers
        cluster.driver.revive()
        await settle()
        assert len(cluster.scheduler.offers) == 1


async def test_master_suppress_stops_offers_until_revive():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.suppress()
        cluster.driver.decline(offer.id, Filters(refuse_seconds=0))
        await settle()
        await _advance(30)
        assert not cluster.scheduler.offers
        cluster.driver.revive()
        await settle()
        assert len(cluster.scheduler.offers) == 1


async def test_master_offer_timeout_rescinds_and_offers_again():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node, MasterFlags(master_id="M", offer_timeout=10))
        [offer] = cluster.scheduler.take_offers()
        await _advance(9)
        assert cluster.scheduler.rescinded == []
        await _advance(1)
        assert cluster.scheduler.rescinded == [offer.id]
        # Recovered without a filter: offered again in the next periodic run.
        await _advance(1)
        [again] = cluster.scheduler.take_offers()
        assert again.id != offer.id
        assert cluster.master.metrics["offers_timed_out"] == 1


async def test_master_accepting_a_rescinded_offer_drops_its_tasks():
    clock.pause()
    async with Node() as node:
        from tests.master.fakes import command_task

        cluster = await start_cluster(node, MasterFlags(master_id="M", offer_timeout=10))
        [offer] = cluster.scheduler.take_offers()
        await _advance(10)
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "late")])
        await settle()
        [status] = cluster.scheduler.statuses
        assert status.state == "TASK_DROPPED"
        assert status.reason == "REASON_INVALID_OFFERS"
        assert "no longer valid" in status.message
        assert cluster.agent.launched == []


async def test_master_agent_disconnect_rescinds_its_offers():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = list(cluster.scheduler.offers.values())
        node.terminate(cluster.agent.pid)
        await settle()
        assert cluster.scheduler.rescinded == [offer.id]
        assert len(cluster.master.offers) == 0
        agent = cluster.master.cluster.agents[cluster.agent.agent_id]
        assert not agent.connected  # removal waits for the ping timeouts


async def test_master_offers_split_between_two_frameworks():
    clock.pause()
    async with Node() as node:
        from frameworks import SchedulerDriver
        from tests.master.fakes import FakeAgent, Recorder, framework_info

        cluster = await start_cluster(node)
        second_agent = FakeAgent(cluster.master_pid, hostname="host2")
        node.spawn(second_agent)
        other = Recorder()
        node.spawn(SchedulerDriver(other, framework_info("other"), cluster.master_pid))
        await settle()
        # Each agent is offered to one framework; DRF gives the newcomer the second agent.
        assert len(cluster.scheduler.offers) == 1
        assert len(other.offers) == 1
        hosts = {o.hostname for o in [*cluster.scheduler.offers.values(), *other.offers.values()]}
        assert hosts == {"host1", "host2"}


async def test_master_gpu_agent_is_offered_only_to_a_gpu_capable_framework():
    clock.pause()
    async with Node() as node:
        from frameworks import SchedulerDriver
        from tests.master.fakes import Recorder, framework_info

        cluster = await start_cluster(node, resources="cpus:4;mem:4096;gpus:2")
        assert not cluster.scheduler.offers  # no GPU_RESOURCES: never offered
        await _advance(3)
        assert not cluster.scheduler.offers
        capable = Recorder()
        info = framework_info("ml", capabilities=("GPU_RESOURCES",))
        node.spawn(SchedulerDriver(capable, info, cluster.master_pid))
        await settle()
        [offer] = capable.offers.values()
        assert Resources.from_list(offer.resources).gpus == 2


async def test_master_gpu_filter_off_offers_gpu_agents_to_anyone():
    clock.pause()
    async with Node() as node:
        flags = MasterFlags(master_id="M", filter_gpu_resources=False)
        cluster = await start_cluster(node, flags, resources="cpus:4;mem:4096;gpus:2")
        assert len(cluster.scheduler.offers) == 1


async def test_master_framework_offer_filters_set_its_own_minimum_allocatable():
    clock.pause()
    async with Node() as node:
        from tests.master.fakes import framework_info

        picky = OfferFilters(
            min_allocatable_resources=MinAllocatableResources(quantities=({"cpus": 8.0},))
        )
        info = framework_info(offer_filters={"*": picky})
        cluster = await start_cluster(node, framework=info)  # the agent has 4 cpus
        assert cluster.scheduler.events[0][0] == "registered"
        await _advance(2)
        assert not cluster.scheduler.offers
        # Another framework, without the filter, takes the same agent.
        from frameworks import SchedulerDriver
        from tests.master.fakes import Recorder

        other = Recorder()
        node.spawn(SchedulerDriver(other, framework_info("other"), cluster.master_pid))
        await settle()
        assert len(other.offers) == 1


async def test_master_refuses_malformed_offer_filters():
    clock.pause()
    async with Node() as node:
        from frameworks import SchedulerDriver
        from master import Master
        from tests.master.fakes import Recorder, framework_info

        master_pid = node.spawn(Master(MasterFlags(master_id="M")))
        for bad, reason in [
            ({"cpus": -1.0}, "invalid quantity"),
            ({"cpus": float("nan")}, "invalid quantity"),
            ({}, "at least one"),
        ]:
            scheduler = Recorder()
            filters = OfferFilters(
                min_allocatable_resources=MinAllocatableResources(quantities=(bad,))
            )
            info = framework_info(offer_filters={"*": filters})
            node.spawn(SchedulerDriver(scheduler, info, master_pid))
            await settle()
            assert scheduler.errors and reason in scheduler.errors[0], scheduler.errors
