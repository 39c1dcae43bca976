"""The allocator actor: coalesced runs after events, periodic runs, allocations to the master."""

from __future__ import annotations

from collections.abc import Iterable

from libprocess import Node, Process, clock
from libprocess.testing import settle
from master.allocator.records import Allocation
from master.allocator_process import AllocatorProcess
from zmesos.resources import Resources


class Sink(Process):
    """Stands in for the master: collects what the allocator sends."""

    def __init__(self) -> None:
        super().__init__("sink")
        self.batches: list[list] = []

    def receive_allocations(self, allocations: list) -> None:
        self.batches.append(allocations)


async def _actor(node: Node) -> tuple[Sink, AllocatorProcess]:
    sink = Sink()
    node.spawn(sink)
    actor = AllocatorProcess(sink.pid, allocation_interval=1.0)
    node.spawn(actor)
    return sink, actor


async def test_allocator_process_burst_of_events_is_one_run():
    clock.pause()
    async with Node() as node:
        sink, actor = await _actor(node)
        for number in range(5):
            node.dispatch(actor.pid, AllocatorProcess.add_agent, f"A{number}", _r(), {})
        node.dispatch(actor.pid, AllocatorProcess.add_framework, "F", ("*",), {}, True)
        await settle()
        assert actor.runs == 1
        [batch] = sink.batches
        assert sorted(a.agent_id for a in batch) == [f"A{n}" for n in range(5)]
        assert {a.framework_id for a in batch} == {"F"}


async def test_allocator_process_runs_every_interval_and_offers_recovered_in_the_next():
    clock.pause()
    async with Node() as node:
        sink, actor = await _actor(node)
        node.dispatch(actor.pid, AllocatorProcess.add_agent, "A", _r(), {})
        node.dispatch(actor.pid, AllocatorProcess.add_framework, "F", ("*",), {}, True)
        await settle()
        runs = actor.runs
        for _ in range(3):
            clock.advance(1)
            await settle()
        assert actor.runs == runs + 3
        [[allocation]] = sink.batches
        node.dispatch(
            actor.pid, AllocatorProcess.recover_resources, "F", "A", allocation.resources, 0.0, "*"
        )
        await settle()
        assert actor.runs == runs + 3  # no run of its own: Mesos waits for the batch (MESOS-3078)
        clock.advance(1)
        await settle()
        assert len(sink.batches) == 2


async def test_allocator_process_short_filter_outlives_the_next_batch():
    """MESOS-4302 on the paused clock: refuse_seconds below the interval lasts one batch."""
    clock.pause()
    async with Node() as node:
        sink, actor = await _actor(node)
        node.dispatch(actor.pid, AllocatorProcess.add_agent, "A", _r(), {})
        node.dispatch(actor.pid, AllocatorProcess.add_framework, "F", ("*",), {}, True)
        await settle()
        [[allocation]] = sink.batches
        node.dispatch(
            actor.pid, AllocatorProcess.recover_resources, "F", "A", allocation.resources, 0.5, "*"
        )
        await settle()
        clock.advance(1)  # the first batch since the decline: still filtered
        await settle()
        assert len(sink.batches) == 1
        clock.advance(1)
        await settle()
        assert len(sink.batches) == 2


async def test_allocator_process_inactive_framework_gets_nothing_until_activated():
    clock.pause()
    async with Node() as node:
        sink, actor = await _actor(node)
        node.dispatch(actor.pid, AllocatorProcess.add_agent, "A", _r(), {})
        node.dispatch(actor.pid, AllocatorProcess.add_framework, "F", ("*",), {}, False)
        await settle()
        clock.advance(2)
        await settle()
        assert sink.batches == []
        node.dispatch(actor.pid, AllocatorProcess.activate_framework, "F")
        await settle()
        assert len(sink.batches) == 1


async def test_allocator_process_metrics_are_numbers():
    clock.pause()
    async with Node() as node:
        _, actor = await _actor(node)
        metrics = await node.dispatch(actor.pid, AllocatorProcess.metrics)
        assert "allocator/allocation_runs" in metrics
        assert all(isinstance(value, float) for value in metrics.values())


def _r() -> Resources:
    return Resources.parse("cpus:2;mem:1024")


async def test_allocator_process_agent_event_visits_only_the_agents_it_changed():
    clock.pause()
    async with Node() as node:
        sink, actor = await _actor(node)
        visited: list[list[str] | None] = []
        allocate = actor.allocator.allocate

        def spy(
            now: float, agent_ids: Iterable[str] | None = None, *, batch: bool = True
        ) -> list[Allocation]:
            visited.append(None if agent_ids is None else sorted(agent_ids))
            return allocate(now, agent_ids, batch=batch)

        actor.allocator.allocate = spy
        node.dispatch(actor.pid, AllocatorProcess.add_framework, "F", ("*",), {}, True)
        for name in ("A", "B"):
            node.dispatch(actor.pid, AllocatorProcess.add_agent, name, _r(), {})
        await settle()
        assert visited == [None]  # a framework joined: every agent
        node.dispatch(actor.pid, AllocatorProcess.add_agent, "C", _r(), {})
        await settle()
        assert visited[-1] == ["C"]
        assert [a.agent_id for a in sink.batches[-1]] == ["C"]
        clock.advance(1)
        await settle()
        assert visited[-1] is None  # the periodic run visits every agent
