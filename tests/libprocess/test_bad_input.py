"""Hostile or broken frames from a raw ZeroMQ socket are refused at the edge; nothing else moves."""

from __future__ import annotations

import asyncio
import os

import msgpack
import zmq

from libprocess import Node
from tests.libprocess.actors import Note, Recorder


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


async def test_bad_input_is_counted_logged_and_dropped_and_the_node_goes_on():
    async with Node(max_frame_bytes=64 * 1024) as node, Node() as source:
        recorder = Recorder("target")
        target = node.spawn(recorder)
        raw = source.open_channel(node.address)
        sender = f"raw@{source.host}:{source.port}"
        try:
            hostile = [
                os.urandom(257),  # random bytes
                msgpack.packb([[sender, "target", "Note", [{"text": "x"}]]])[:-3],  # truncated
                msgpack.packb([[sender, "target", "NoSuchMessage", [{}]]]),  # unknown name
                msgpack.packb(
                    [
                        [
                            sender,
                            "target",
                            "Note",
                            [{"text": 7, "number": "x"}, {"text": "good twin"}],
                        ]
                    ]
                ),
                msgpack.packb([[sender, "nobody", "Note", [{"text": "lost"}]]]),  # no process
                msgpack.packb([["not a pid", "target", "Note", [{"text": "x"}]]]),  # bad sender
                msgpack.packb({"not": "a frame"}),  # valid MessagePack, wrong shape
                b"\x00" * (100 * 1024),  # over the frame size limit
            ]
            for frame in hostile:
                raw.send(frame)
            raw.send(msgpack.packb([[sender, "target", "Note", [{"text": "valid", "number": 1}]]]))
            await _wait_for(lambda: len(recorder.notes) == 2)

            metrics = node.metrics
            # One bad message in a run costs only itself: its good twin is delivered.
            assert [note.text for _, note in recorder.notes] == ["good twin", "valid"]
            assert metrics["dropped_messages/malformed_frame"] == 3
            assert metrics["dropped_messages/unknown_message"] == 1
            assert metrics["dropped_messages/invalid_message"] == 1
            assert metrics["dropped_messages/no_such_process"] == 1
            assert metrics["dropped_messages/bad_sender"] == 1
            assert metrics["dropped_messages/frame_too_large"] == 1
            assert metrics["invalid_frames"] == 4
            assert metrics["invalid_messages"] == 3
            assert not recorder.terminated
            node.send(target, target, Note(text="local still works"))
            await _wait_for(lambda: len(recorder.notes) == 3)
        finally:
            raw.close()


async def test_bad_input_wire_is_plain_messagepack_both_ways():
    """msgpack-python reads what we write, and we read what it writes, proof included."""
    async with Node() as node:
        recorder = Recorder("target")
        node.spawn(recorder)
        context = zmq.Context.instance()
        inbound = context.socket(zmq.PULL)
        inbound.setsockopt(zmq.LINGER, 0)
        port = inbound.bind_to_random_port("tcp://127.0.0.1")
        outbound = context.socket(zmq.PUSH)
        outbound.setsockopt(zmq.LINGER, 0)
        # Who the connection speaks for, in its handshake (libprocess.origins).
        outbound.setsockopt(zmq.METADATA, f"X-Libprocess-Node:127.0.0.1:{port}".encode())
        outbound.setsockopt(zmq.METADATA, b"X-Libprocess-Token:0123456789abcdef")
        outbound.connect(f"tcp://{node.host}:{node.port}")
        foreign = f"foreign@127.0.0.1:{port}"
        try:
            outbound.send(
                msgpack.packb(
                    [[foreign, "target", "Note", [{"text": "from msgpack", "number": 42}]]]
                )
            )
            # The node holds the note and asks our listening socket to prove the address.
            await _wait_for(lambda: inbound.poll(0))
            [[asker, to_name, name, [question]]] = msgpack.unpackb(inbound.recv(), raw=False)
            assert (asker, to_name, name) == (
                f"libprocess@{node.host}:{node.port}",
                "",
                "ProveAddress",
            )
            assert question["token"] == "0123456789abcdef"
            proof = [
                [f"libprocess@127.0.0.1:{port}", "", "AddressProof", [{"nonce": question["nonce"]}]]
            ]
            outbound.send(msgpack.packb(proof))
            await _wait_for(lambda: recorder.notes)
            sender, note = recorder.notes[0]
            assert (str(sender), note) == (foreign, Note(text="from msgpack", number=42))

            recorder.send(sender, Note(text="to msgpack", number=7))
            await _wait_for(lambda: inbound.poll(0))
            frame = msgpack.unpackb(inbound.recv(), raw=False)
            assert frame == [
                [str(recorder.pid), "foreign", "Note", [{"text": "to msgpack", "number": 7}]]
            ]
        finally:
            inbound.close()
            outbound.close()


async def test_bad_input_exited_notice_about_another_nodes_process_is_dropped():
    """A node speaks only for its own processes: hearsay does not end a link."""
    async with Node() as node, Node() as other, Node() as third:
        recorder = Recorder("linker")
        node.spawn(recorder)
        watched = other.spawn(Recorder("watched"))
        recorder.link(watched)
        raw = third.open_channel(node.address)
        try:
            forged = msgpack.packb(
                [[f"liar@{third.host}:{third.port}", "", "ExitedNotice", [{"pid": str(watched)}]]]
            )
            raw.send(forged)
            await _wait_for(lambda: node.metrics["dropped_messages/bad_control"] == 1)
            assert recorder.exits == []
            other.terminate(watched)
            await _wait_for(lambda: recorder.exits == [watched])
        finally:
            raw.close()
