"""What a node holds stays bounded: floods from another OS process, slow and deaf peers."""

from __future__ import annotations

import asyncio
import os
import time

import msgpack
import pytest
import zmq

from benchmarks.flood import memory_kb, start_flooder
from libprocess import PID, Node, Process
from libprocess import transport as transport_module
from libprocess.origins import AddressProof
from tests.libprocess.actors import Note, Recorder

FLOOD_BOUND = 15.0  # seconds a flood may last at most; tests stop it once they have seen enough


class SlowSink(Process):
    """Counts Notes, spending a little CPU on each: a receiver a flood outpaces."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.received = 0
        self.longest_mailbox = 0

    def initialize(self) -> None:
        self.install(Note, self.on_note)

    def on_note(self, sender: PID, note: Note) -> None:
        self.received += 1
        sum(range(100))
        if len(self._mailbox) > self.longest_mailbox:
            self.longest_mailbox = len(self._mailbox)


class Blaster(Process):
    """Sends `count` Notes of `size` characters to `target`, a chunk per event."""

    def __init__(self, target: PID, count: int, size: int, chunk: int = 1024) -> None:
        super().__init__()
        self.target, self.count, self.chunk = target, count, chunk
        self.text = "x" * size
        self.sent = 0

    def initialize(self) -> None:
        self.delay(0, self.send_chunk)

    def send_chunk(self) -> None:
        for _ in range(min(self.chunk, self.count - self.sent)):
            self.send(self.target, Note(text=self.text, number=self.sent))
            self.sent += 1
        if self.sent < self.count:
            self.delay(0, self.send_chunk)


@pytest.mark.timeout(30)
async def test_transport_flood_from_another_process_stays_bounded_and_others_get_through():
    async with Node() as node, Node() as neighbour:
        sink = SlowSink("sink")
        node.spawn(sink)
        recorder = Recorder("recorder")
        node.spawn(recorder)
        rss_before = memory_kb(os.getpid())["VmRSS"]
        body = {"text": "x" * 40, "number": 1}
        # The flood lasts until the test has seen what it waits for (bounded): a fixed
        # length would end before a slow machine got that far.
        flooder = start_flooder(
            f"tcp://{node.host}:{node.port}", "sink", "Note", body, seconds=FLOOD_BOUND, per_run=16
        )
        try:
            rss_peak = rss_before
            polite = neighbour.spawn(Process())
            sent_at = None
            arrived_at = None
            deadline = time.monotonic() + FLOOD_BOUND
            while flooder.poll() is None and arrived_at is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                rss_peak = max(rss_peak, memory_kb(os.getpid())["VmRSS"])
                if sent_at is None and sink.received > 10_000:  # the flood is under way
                    neighbour.send(polite, recorder.pid, Note(text="hello"))
                    sent_at = time.monotonic()
                if arrived_at is None and recorder.notes:
                    arrived_at = time.monotonic()
            flooding_when_it_arrived = flooder.poll() is None
            flooder.terminate()
            frames_sent = int(flooder.communicate(timeout=10)[0])
        finally:
            if flooder.poll() is None:
                flooder.kill()
                flooder.wait()
        assert sent_at is not None, "the flood never got under way"
        assert arrived_at is not None, "a polite peer's note did not get through the flood"
        assert flooding_when_it_arrived, "the flood ended before the polite note arrived"
        # ZeroMQ, the kernel and the mailbox hold a few MB at most; unbounded, this flood
        # grows the receiver by hundreds of MB.
        assert (rss_peak - rss_before) / 1024 < 150
        # What was sent and not yet handled sits in bounded queues (~20k messages here).
        assert frames_sent * 16 - sink.received < 500_000


@pytest.mark.timeout(30)
async def test_transport_flood_of_many_runs_a_frame_pauses_reading_and_bounds_the_mailbox():
    async with Node() as node, Node() as neighbour:
        sink = SlowSink("sink")
        node.spawn(sink)
        recorder = Recorder("recorder")
        node.spawn(recorder)
        polite = neighbour.spawn(Process())
        # The polite peer's connection is proven before the flood (libprocess.origins), so
        # what is measured is fair queueing during the flood, not the proof's round trip.
        neighbour.send(polite, recorder.pid, Note(text="hello before"))
        await recorder.wait_for(lambda: recorder.notes)
        recorder.notes.clear()
        runs = 1000  # each run one event: a frame brings more events than a turn handles
        body = {"text": "x", "number": 1}
        flooder = start_flooder(
            f"tcp://{node.host}:{node.port}", "sink", "Note", body, seconds=FLOOD_BOUND, runs=runs
        )
        arrived_during_pauses = False
        try:
            sent = False
            deadline = time.monotonic() + FLOOD_BOUND
            while flooder.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                if not sent and node.metrics["inbound_pauses"] > 0:
                    neighbour.send(polite, recorder.pid, Note(text="hello"))
                    sent = True
                if sent and recorder.notes and flooder.poll() is None:
                    arrived_during_pauses = True
                    break
            flooder.terminate()
            flooder.communicate(timeout=10)
        finally:
            if flooder.poll() is None:
                flooder.kill()
                flooder.wait()
        assert node.metrics["inbound_pauses"] > 0
        assert arrived_during_pauses, "a polite peer's note did not get through the flood"
        assert sink.received > 0
        assert sink.longest_mailbox <= transport_module._MAILBOX_HIGH + runs


@pytest.mark.timeout(30)
async def test_transport_sender_outpacing_its_receiver_is_held_and_loses_nothing(monkeypatch):
    monkeypatch.setattr(transport_module, "_SEND_HWM", 2)
    monkeypatch.setattr(transport_module, "_RECV_HWM", 2)
    monkeypatch.setattr(transport_module, "_FRAMES_PER_TURN", 1)  # a receiver reading slowly
    async with Node() as sender_node, Node() as receiver_node:
        sink = SlowSink("sink")
        receiver_node.spawn(sink)
        count = 200_000
        blaster = Blaster(sink.pid, count, size=200, chunk=8192)
        sender_node.spawn(blaster)
        deadline = time.monotonic() + 20
        while sink.received < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert sink.received == count
        assert sender_node.metrics["senders_held"] > 0
        assert sender_node.metrics["messages_dropped_backpressure"] == 0


@pytest.mark.timeout(30)
async def test_transport_backlog_to_a_deaf_peer_is_bounded_and_drops_are_counted(monkeypatch):
    monkeypatch.setattr(transport_module, "_SEND_HWM", 2)
    monkeypatch.setattr(transport_module, "_HOLD_SECONDS", 0.3)
    context = zmq.Context()
    deaf = context.socket(zmq.PULL)
    deaf.setsockopt(zmq.RCVHWM, 1)
    deaf.setsockopt(zmq.RCVBUF, 65536)
    port = deaf.bind_to_random_port("tcp://127.0.0.1")
    try:
        async with Node() as node:
            count = 15_000
            blaster = Blaster(PID("sink", "127.0.0.1", port), count, size=2000)
            node.spawn(blaster)
            deadline = time.monotonic() + 15
            largest = 0
            while blaster.sent < count and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                for peer in node.transport._peers.values():
                    largest = max(largest, peer.backlog_bytes)
            assert blaster.sent == count  # held for a while, then let go
            metrics = node.metrics
            assert metrics["senders_held"] > 0
            assert metrics["messages_dropped_backpressure"] > 0
            frame_bytes = 1024 * 2100  # one batch of these notes, with room to spare
            assert largest <= transport_module._BACKLOG_BYTES + frame_bytes
    finally:
        deaf.close(linger=0)
        context.term()


@pytest.mark.timeout(30)
async def test_transport_proof_goes_first_in_a_full_backlog_and_is_never_dropped(monkeypatch):
    """A node asked to prove its connection answers ahead of what waits there, however much:
    dropped, the answer would cost the asker every frame it held for it."""
    monkeypatch.setattr(transport_module, "_SEND_HWM", 2)
    monkeypatch.setattr(transport_module, "_HOLD_SECONDS", 0.3)
    context = zmq.Context()
    deaf = context.socket(zmq.PULL)
    deaf.setsockopt(zmq.RCVHWM, 1)
    deaf.setsockopt(zmq.RCVBUF, 65536)
    port = deaf.bind_to_random_port("tcp://127.0.0.1")
    try:
        async with Node() as node:
            node.spawn(Blaster(PID("sink", "127.0.0.1", port), 15_000, size=2000))
            peer = None
            deadline = time.monotonic() + 15
            while node.metrics["messages_dropped_backpressure"] == 0:
                assert time.monotonic() < deadline, "the backlog never filled"
                await asyncio.sleep(0.01)
                peer = node.transport._peers.get(("127.0.0.1", port))
            assert peer is not None
            dropped = node.metrics["messages_dropped_backpressure"]
            node.transport.send_proof(peer.address, peer.token, AddressProof(nonce="n" * 32))
            frame, count = peer.backlog[0]
            [[sender, to, name, [body]]] = msgpack.unpackb(frame)
            assert (name, to, body, count) == ("AddressProof", "", {"nonce": "n" * 32}, 1)
            assert sender == f"libprocess@{node.host}:{node.port}"
            assert node.metrics["messages_dropped_backpressure"] == dropped
    finally:
        deaf.close(linger=0)
        context.term()
