"""A frame's senders are checked against the connection it came on (libprocess.origins)."""

from __future__ import annotations

import asyncio

import msgpack
import zmq
from structlog.testing import capture_logs

from libprocess import PID, Node
from libprocess.origins import TOKEN_PROPERTY, RawPeer
from tests.libprocess.actors import Note, Recorder


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


def _note_frame(sender: str, to: str, text: str) -> bytes:
    return msgpack.packb([[sender, to, "Note", [{"text": text}]]])


async def test_origins_forged_sender_is_dropped_logged_and_counted_and_the_real_one_gets_through():
    async with Node() as node, Node() as alice, Node() as mallory:
        recorder = Recorder("target")
        node.spawn(recorder)
        victim = alice.spawn(Recorder("scheduler"))
        channel = mallory.open_channel(node.address)
        own = f"mallory@{mallory.host}:{mallory.port}"
        with capture_logs() as logs:
            # One frame: a run as Alice's scheduler, then one as Mallory's own process.
            channel.send(
                msgpack.packb(
                    [
                        [str(victim), "target", "Note", [{"text": "forged"}, {"text": "forged"}]],
                        [own, "target", "Note", [{"text": "own"}]],
                    ]
                )
            )
            await _wait_for(lambda: len(recorder.notes) == 1)
            alice.send(victim, recorder.pid, Note(text="real"))
            await _wait_for(lambda: len(recorder.notes) == 2)
        assert [(str(sender), note.text) for sender, note in recorder.notes] == [
            (own, "own"),
            (str(victim), "real"),
        ]
        assert node.metrics["dropped_messages/forged_sender"] == 2
        assert node.metrics["connections_proven"] == 2  # Mallory's channel, Alice's peer
        [dropped] = [line for line in logs if line.get("reason") == "forged_sender"]
        assert dropped["event"] == "dropping_input"
        assert dropped["sender"] == str(victim)
        assert dropped["connection_of"] == f"{mallory.host}:{mallory.port}"


async def test_origins_connection_claiming_another_nodes_address_is_never_proven():
    async with Node(heartbeat_timeout=0.5) as node, Node() as alice:
        recorder = Recorder("target")
        node.spawn(recorder)
        victim = alice.spawn(Recorder("scheduler"))
        liar = zmq.Context.instance().socket(zmq.PUSH)
        liar.setsockopt(zmq.LINGER, 0)
        liar.setsockopt(zmq.METADATA, f"X-Libprocess-Node:{alice.host}:{alice.port}".encode())
        liar.setsockopt(zmq.METADATA, b"X-Libprocess-Token:guessed")
        liar.connect(f"tcp://{node.host}:{node.port}")
        try:
            liar.send(_note_frame(str(victim), "target", "forged"))
            await _wait_for(lambda: node.metrics["dropped_messages/unproven_connection"] == 1)
            # Alice was asked about a connection she does not have, and did not answer for it.
            assert alice.metrics["connection_proofs_unknown"] == 1
            liar.send(_note_frame(str(victim), "target", "forged again"))  # refused at once
            await _wait_for(lambda: node.metrics["dropped_messages/unproven_connection"] == 2)
            alice.send(victim, recorder.pid, Note(text="real"))
            await _wait_for(lambda: recorder.notes)
            assert [note.text for _, note in recorder.notes] == ["real"]
            assert node.metrics["connection_proofs_failed"] == 1
        finally:
            liar.close()


async def test_origins_connection_without_handshake_properties_is_refused():
    async with Node() as node:
        recorder = Recorder("target")
        node.spawn(recorder)
        raw = zmq.Context.instance().socket(zmq.PUSH)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(f"tcp://{node.host}:{node.port}")
        try:
            raw.send(_note_frame(f"raw@{node.host}:1", "target", "who?"))
            await _wait_for(lambda: node.metrics["dropped_messages/unidentified_connection"] == 1)
            assert recorder.notes == []
        finally:
            raw.close()


async def test_origins_proof_with_the_wrong_nonce_proves_nothing():
    async with Node(heartbeat_timeout=0.5) as node:
        recorder = Recorder("target")
        node.spawn(recorder)
        peer = RawPeer(zmq.Context.instance(), f"tcp://{node.host}:{node.port}")
        try:
            peer.outbound.send(_note_frame(peer.pid("p"), "target", "held"))
            await _wait_for(lambda: peer.inbound.poll(0))
            [[_, _, _, [question]]] = msgpack.unpackb(peer.inbound.recv())
            wrong = [[peer.pid("libprocess"), "", "AddressProof", [{"nonce": "0" * 32}]]]
            peer.outbound.send(msgpack.packb(wrong))
            await _wait_for(lambda: node.metrics["connection_proofs_unexpected"] == 1)
            await _wait_for(lambda: node.metrics["dropped_messages/unproven_connection"] == 1)
            assert question["nonce"] != "0" * 32
            assert recorder.notes == []
        finally:
            peer.close()


async def test_origins_raw_peer_answers_and_its_held_frames_arrive_in_order():
    async with Node() as node:
        recorder = Recorder("target")
        node.spawn(recorder)
        peer = RawPeer(zmq.Context.instance(), f"tcp://{node.host}:{node.port}")
        try:
            for number in range(50):
                peer.outbound.send(_note_frame(peer.pid("p"), "target", str(number)))

            async def answered() -> None:
                while len(recorder.notes) < 50:
                    peer.answer()
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(answered(), 10)
            assert [note.text for _, note in recorder.notes] == [str(n) for n in range(50)]
        finally:
            peer.close()


async def test_origins_what_an_unproven_connection_may_hold_is_bounded(monkeypatch):
    from libprocess import origins

    monkeypatch.setattr(origins, "_HELD_BYTES_MAX", 2000)
    async with Node(heartbeat_timeout=5.0) as node:
        recorder = Recorder("target")
        node.spawn(recorder)
        liar = zmq.Context.instance().socket(zmq.PUSH)
        liar.setsockopt(zmq.LINGER, 0)
        liar.setsockopt(zmq.METADATA, b"X-Libprocess-Node:127.0.0.1:9")  # nobody answers
        liar.setsockopt(zmq.METADATA, b"X-Libprocess-Token:flood")
        liar.connect(f"tcp://{node.host}:{node.port}")
        try:
            for _ in range(10):
                liar.send(_note_frame("x@127.0.0.1:9", "target", "y" * 500))
            await _wait_for(lambda: node.metrics["dropped_messages/unproven_backlog_full"] >= 7)
            assert node.metrics["frames_received"] == 10
            assert recorder.notes == []
        finally:
            liar.close()


async def test_origins_question_does_not_wait_behind_the_askers_own_traffic():
    """The node asks over a connection of its own, not the one carrying the batches it had
    queued to the claimed node: ZeroMQ reads that one in its turn (a new leader's burst)."""
    async with Node() as node:
        sender = node.spawn(Recorder("talker"))
        peer = RawPeer(zmq.Context.instance(), f"tcp://{node.host}:{node.port}")
        try:
            sink = PID("sink", *peer.address)
            for number in range(300):  # one frame a tick: 300 frames queued to the peer
                node.send(sender, sink, Note(text="queued", number=number))
                await asyncio.sleep(0)
            await _wait_for(lambda: node.metrics["frames_sent"] >= 300)
            peer.outbound.send(_note_frame(peer.pid("p"), "target", "proves itself"))
            await _wait_for(lambda: node.metrics["connection_proofs_asked"] == 1)
            batches: set[str] = set()
            while True:
                assert peer.inbound.poll(10_000), "no question arrived"
                frame = peer.inbound.recv(copy=False)
                token = frame.get("X-Libprocess-Token")
                if any(run[2] == "ProveAddress" for run in msgpack.unpackb(frame.bytes)):
                    break
                batches.add(token)
            assert len(batches) == 1  # every batch came on the node's one connection to it
            assert token not in batches  # and the question on another
        finally:
            peer.close()


class _ReceivedFrame:
    """A frame as the transport reads it off its socket: bytes and its connection's token."""

    def __init__(self, buffer: bytes, token: str) -> None:
        self.buffer = memoryview(buffer)
        self.token = token

    def get(self, name: str) -> str:
        if name != TOKEN_PROPERTY:
            raise zmq.ZMQError()
        return self.token


async def test_origins_frames_held_for_a_proof_arrive_before_the_connections_later_frames():
    """A connection just proven has frames waiting their turn; one it sends meanwhile
    queues behind them (it used to be delivered at once: 4096 before 1024, under load)."""
    async with Node() as node:
        recorder = Recorder("target")
        node.spawn(recorder)
        transport = node.transport
        assert transport is not None
        origin = ("127.0.0.1", 1)
        sender = str(PID("far", *origin))

        def frame(numbers: range) -> bytes:
            notes = [{"text": "n", "number": number} for number in numbers]
            return msgpack.packb([[sender, "target", "Note", notes]])

        transport.origins.proven["token"] = origin
        transport.deliver_later("token", origin, transport.codec.decode_frame(frame(range(3))))
        transport._handle_frame(_ReceivedFrame(frame(range(3, 6)), "token"))
        await _wait_for(lambda: len(recorder.notes) == 6)
        assert [note.number for _, note in recorder.notes] == list(range(6))
