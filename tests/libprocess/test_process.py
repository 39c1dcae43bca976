"""One node, local processes: ordering, dispatch, timers, links, failures."""

import asyncio

import pytest

from libprocess import Node, Process, ProcessTerminated, clock
from libprocess.testing import settle
from tests.libprocess.actors import Note, Recorder


async def test_process_messages_arrive_in_send_order():
    async with Node() as node:
        recorder = Recorder()
        target = node.spawn(recorder)
        sender = node.spawn(Process())
        for number in range(1000):
            node.send(sender, target, Note(text="n", number=number))
        await settle()
        assert [note.number for _, note in recorder.notes] == list(range(1000))
        assert {pid for pid, _ in recorder.notes} == {sender}


async def test_process_local_send_never_touches_the_transport():
    async with Node() as node:
        target = node.spawn(Recorder())
        node.send(target, target, Note(text="local"))
        await settle()
        assert node.metrics["frames_sent"] == 0
        assert node.metrics["messages_sent"] == 0


async def test_process_anonymous_names_are_unique_and_named_ones_must_be():
    async with Node() as node:
        first, second = node.spawn(Process()), node.spawn(Process())
        assert first != second and first.name.startswith("process(")
        node.spawn(Process("solo"))
        with pytest.raises(Exception, match="already runs"):
            node.spawn(Process("solo"))


class Counter(Process):
    def __init__(self) -> None:
        super().__init__("counter")
        self.value = 0
        self.busy = False

    def increment(self, by: int) -> int:
        assert not self.busy, "two events ran at once"
        self.busy = True
        self.value += by
        self.busy = False
        return self.value

    def fail(self) -> None:
        raise ValueError("asked to fail")


async def test_process_dispatch_runs_serially_and_returns_results():
    async with Node() as node:
        counter = Counter()
        pid = node.spawn(counter)
        results = await asyncio.gather(
            *(node.dispatch(pid, Counter.increment, 1) for _ in range(100))
        )
        assert sorted(results) == list(range(1, 101))
        assert await node.dispatch(pid, "increment", 10) == 110


async def test_process_dispatch_raises_what_the_method_raised():
    async with Node() as node:
        pid = node.spawn(Counter())
        with pytest.raises(ValueError, match="asked to fail"):
            await node.dispatch(pid, Counter.fail)


async def test_process_dispatch_to_a_terminated_process_fails_at_once():
    async with Node() as node:
        pid = node.spawn(Counter())
        pending = node.dispatch(pid, Counter.increment, 1)
        node.terminate(pid)
        with pytest.raises(ProcessTerminated):
            await pending
        with pytest.raises(ProcessTerminated):
            await node.dispatch(pid, Counter.increment, 1)
        await node.wait(pid)


class Sleeper(Process):
    def __init__(self) -> None:
        super().__init__()
        self.fired: list[tuple[str, float]] = []

    def initialize(self) -> None:
        self.delay(10, self.fire, "ten")
        self.delay(5, self.fire, "five")
        self.cancelled = self.delay(7, self.fire, "seven")
        self.cancelled.cancel()

    def fire(self, label: str) -> None:
        self.fired.append((label, clock.now()))


async def test_process_timers_fire_in_deadline_order_on_the_paused_clock():
    async with Node() as node:
        clock.pause()
        start = clock.now()
        sleeper = Sleeper()
        node.spawn(sleeper)
        clock.advance(4.9)
        await settle()
        assert sleeper.fired == []
        clock.advance(0.1)
        await settle()
        assert [label for label, _ in sleeper.fired] == ["five"]
        clock.advance(3600)
        await settle()
        assert [label for label, _ in sleeper.fired] == ["five", "ten"]
        assert clock.now() == pytest.approx(start + 3605)


async def test_process_timers_die_with_their_process():
    async with Node() as node:
        clock.pause()
        sleeper = Sleeper()
        pid = node.spawn(sleeper)
        node.terminate(pid)
        clock.advance(60)
        await settle()
        assert sleeper.fired == []


async def test_process_timers_run_on_real_time_when_not_paused():
    async with Node() as node:
        sleeper = Sleeper()
        node.spawn(sleeper)
        sleeper.delay(0.01, sleeper.fire, "soon")
        for _ in range(200):
            if sleeper.fired:
                break
            await asyncio.sleep(0.01)
        assert sleeper.fired[0][0] == "soon"


async def test_process_link_to_a_local_process_gives_exactly_one_exited():
    async with Node() as node:
        watcher = Recorder()
        node.spawn(watcher)
        target = node.spawn(Process())
        watcher.link(target)
        watcher.link(target)  # linking twice still gives one notice
        node.terminate(target)
        node.terminate(target)
        await settle()
        assert watcher.exits == [target]


async def test_process_link_to_a_dead_local_process_fires_at_once():
    async with Node() as node:
        watcher = Recorder()
        node.spawn(watcher)
        target = node.spawn(Process())
        node.terminate(target)
        watcher.link(target)
        await settle()
        assert watcher.exits == [target]


class Fragile(Recorder):
    def on_note(self, sender, note):
        if note.text == "boom":
            raise RuntimeError("handler exploded")
        super().on_note(sender, note)


class Brittle(Fragile):
    terminate_on_error = True


async def test_process_handler_error_is_logged_and_the_process_goes_on():
    async with Node() as node:
        fragile = Fragile()
        pid = node.spawn(fragile)
        node.send(pid, pid, Note(text="boom"))
        node.send(pid, pid, Note(text="after"))
        await settle()
        assert [note.text for _, note in fragile.notes] == ["after"]
        assert node.metrics["handler_errors"] == 1
        assert not fragile.terminated


async def test_process_handler_error_terminates_when_the_process_says_so():
    async with Node() as node:
        brittle = Brittle()
        pid = node.spawn(brittle)
        node.send(pid, pid, Note(text="boom"))
        node.send(pid, pid, Note(text="after"))
        await settle()
        assert brittle.terminated and brittle.notes == []


class Deferrer(Recorder):
    def start(self, delay: float) -> None:
        self.events.append("start")
        self.defer(asyncio.sleep(delay, result="slept"), self.woke)

    def woke(self, done: asyncio.Future) -> None:
        self.events.append(f"woke:{done.result()}")
        self.arrived.set()


async def test_process_defer_keeps_the_mailbox_free_while_awaiting():
    async with Node() as node:
        deferrer = Deferrer()
        pid = node.spawn(deferrer)
        await node.dispatch(pid, Deferrer.start, 0.05)
        node.send(pid, pid, Note(text="meanwhile"))
        await deferrer.wait_for(lambda: "woke:slept" in deferrer.events)
        assert deferrer.events == ["start", "note:meanwhile", "woke:slept"]


class Chunker(Process):
    """Works in chunks, one per `later`; tells `peer` of each chunk as it goes."""

    def __init__(self, peer: Process, order: list[str]) -> None:
        super().__init__()
        self.peer, self.order = peer, order

    def chunk(self, number: int, last: int) -> None:
        self.order.append(f"chunk:{number}")
        self.send(self.peer.pid, Note(text=str(number)))
        if number < last:
            self.later(self.chunk, number + 1, last)


class OrderedRecorder(Recorder):
    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    def on_note(self, sender, note: Note) -> None:
        self.order.append(f"note:{note.text}")


async def test_process_later_runs_after_what_is_ready_now():
    async with Node() as node:
        order: list[str] = []
        recorder = OrderedRecorder(order)
        node.spawn(recorder)
        chunker = Chunker(recorder, order)
        pid = node.spawn(chunker)
        await node.dispatch(pid, Chunker.chunk, 1, 3)
        await settle()
        # Each chunk's note is handled before the next chunk: the loop turned between.
        assert order == ["chunk:1", "note:1", "chunk:2", "note:2", "chunk:3", "note:3"]


async def test_process_later_is_dropped_when_the_process_ends_first():
    async with Node() as node:
        order: list[str] = []
        recorder = OrderedRecorder(order)
        node.spawn(recorder)
        chunker = Chunker(recorder, order)
        pid = node.spawn(chunker)
        chunker.later(chunker.chunk, 1, 1)
        node.terminate(pid)
        await settle()
        assert order == []


async def test_process_unhandled_message_is_counted_and_dropped():
    async with Node() as node:
        pid = node.spawn(Process())
        node.send(pid, pid, Note(text="nobody listens"))
        await settle()
        assert node.metrics["dropped_messages/no_handler"] == 1


async def test_process_finalize_runs_once_on_node_stop():
    finalized = []

    class Finalizing(Process):
        def finalize(self) -> None:
            finalized.append(self.pid)

    node = await Node().start()
    pid = node.spawn(Finalizing())
    await node.stop()
    assert finalized == [pid]


class Promiser(Process):
    def wait_forever(self) -> asyncio.Future:
        return self.defer(asyncio.sleep(3600), lambda done: None)


async def test_process_dispatch_waiting_on_deferred_io_fails_when_the_process_ends():
    async with Node() as node:
        pid = node.spawn(Promiser())
        pending = node.dispatch(pid, Promiser.wait_forever)
        await settle()
        node.terminate(pid)
        with pytest.raises(ProcessTerminated):
            await asyncio.wait_for(pending, 5)
