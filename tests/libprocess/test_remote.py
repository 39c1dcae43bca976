"""Two nodes: remote messages, remote links, lost peers; and a node in another OS process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from libprocess import PID, Node, Process
from libprocess import message as message_module
from libprocess.message import Codec
from tests.libprocess.actors import Knock, Note, Recorder

ROOT = Path(__file__).resolve().parents[2]


async def test_remote_messages_arrive_in_order_with_their_sender():
    async with Node() as left, Node() as right:
        recorder = Recorder()
        target = right.spawn(recorder)
        sender = left.spawn(Recorder())
        for number in range(5000):
            left.send(sender, target, Note(text="n", number=number))
        await recorder.wait_for(lambda: len(recorder.notes) == 5000)
        assert [note.number for _, note in recorder.notes] == list(range(5000))
        assert recorder.notes[0][0] == sender
        assert left.metrics["frames_sent"] < 5000  # batched


async def test_remote_link_fires_once_when_the_remote_process_terminates():
    async with Node() as left, Node() as right:
        watcher = Recorder()
        left.spawn(watcher)
        target = right.spawn(Recorder())
        watcher.link(target)
        await asyncio.sleep(0.05)  # let the link request travel
        right.terminate(target)
        await watcher.wait_for(lambda: watcher.exits)
        await asyncio.sleep(0.1)
        assert watcher.exits == [target]


async def test_remote_link_to_a_missing_process_fires_at_once():
    async with Node() as left, Node() as right:
        watcher = Recorder()
        left.spawn(watcher)
        ghost = PID("ghost", right.host, right.port)
        watcher.link(ghost)
        await watcher.wait_for(lambda: watcher.exits)
        assert watcher.exits == [ghost]


async def test_remote_link_to_an_unreachable_node_fires_after_the_connect_timeout():
    async with Node(heartbeat_timeout=0.3) as left:
        watcher = Recorder()
        left.spawn(watcher)
        nowhere = PID("ghost", "127.0.0.1", _free_port())
        watcher.link(nowhere)
        await watcher.wait_for(lambda: watcher.exits, timeout=5)
        assert watcher.exits == [nowhere]


async def test_remote_link_fires_when_the_remote_node_stops():
    async with Node(heartbeat_timeout=1.0) as left:
        right = await Node().start()
        watcher = Recorder()
        left.spawn(watcher)
        target = right.spawn(Recorder("target"))
        watcher.link(target)
        left.send(watcher.pid, target, Note(text="hello"))
        await asyncio.sleep(0.1)
        await right.stop()
        await watcher.wait_for(lambda: watcher.exits, timeout=10)
        assert watcher.exits == [target]


async def test_remote_node_advertises_another_address_and_peers_reach_it():
    """Bound on every address, known by another (as behind NAT): peers use the advertised one."""
    async with Node(host="0.0.0.0", advertise_host="127.0.0.2") as hidden, Node() as peer:
        recorder = Recorder()
        target = hidden.spawn(recorder)
        assert target.host == "127.0.0.2"
        asker = Recorder()
        peer.spawn(asker)
        asker.send(target, Note(text="via the advertised address"))
        await recorder.wait_for(lambda: recorder.notes)
        sender, note = recorder.notes[0]
        assert sender == asker.pid and note.text == "via the advertised address"
        recorder.send(sender, Note(text="reply"))
        await asker.wait_for(lambda: asker.notes)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_echo_node(*arguments: str) -> tuple[subprocess.Popen[str], PID]:
    """The echo node in its own OS process (arguments: see tests.libprocess.echo_node)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.libprocess.echo_node", *arguments],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if not line:
        child.kill()
        pytest.fail("echo node did not start")
    return child, PID.parse(line)


@pytest.mark.timeout(30)
async def test_remote_other_os_process_echoes_and_its_sigkill_fires_exited():
    child, echo = _start_echo_node()
    try:
        async with Node(heartbeat_interval=0.2, heartbeat_timeout=1.0) as node:
            recorder = Recorder()
            node.spawn(recorder)
            recorder.link(echo)
            for number in range(100):
                recorder.send(echo, Note(text="ping", number=number))
            await recorder.wait_for(lambda: len(recorder.notes) == 100)
            assert [note.number for _, note in recorder.notes] == list(range(100))
            assert all(sender == echo for sender, _ in recorder.notes)

            killed_at = time.monotonic()
            os.kill(child.pid, signal.SIGKILL)
            await recorder.wait_for(lambda: recorder.exits, timeout=10)
            assert recorder.exits == [echo]
            assert time.monotonic() - killed_at < 5
    finally:
        child.kill()
        child.wait()


@pytest.mark.timeout(30)
async def test_remote_sigstopped_peer_is_lost_by_heartbeat_timeout():
    child, echo = _start_echo_node()
    try:
        async with Node(heartbeat_interval=0.2, heartbeat_timeout=1.0) as node:
            recorder = Recorder()
            node.spawn(recorder)
            recorder.link(echo)
            recorder.send(echo, Note(text="ping"))
            await recorder.wait_for(lambda: recorder.notes)
            os.kill(child.pid, signal.SIGSTOP)  # alive but silent: only heartbeats can tell
            await recorder.wait_for(lambda: recorder.exits, timeout=10)
            assert recorder.exits == [echo]
    finally:
        child.kill()
        child.wait()


@pytest.mark.timeout(30)
async def test_remote_busy_peer_that_stopped_reading_keeps_its_connection_and_loses_nothing():
    """A peer whose application is busy past our heartbeat timeout, with ZeroMQ's queue from us
    full so that it stopped reading our connection, is alive: its node's I/O thread says so
    by heartbeats of its own, and every message arrives once it reads again."""
    child, echo = _start_echo_node("0.2", "2")  # heartbeats every 0.2 s; 2 frames queued
    try:
        async with Node(heartbeat_interval=0.2, heartbeat_timeout=0.6) as node:
            recorder = Recorder()
            node.spawn(recorder)
            recorder.link(echo)
            recorder.send(echo, Note(text="hello"))
            await recorder.wait_for(lambda: recorder.notes)
            recorder.send(PID("stall", echo.host, echo.port), Note(text="busy", number=2000))
            for number in range(1, 41):  # a frame each: the peer's queue fills at once
                recorder.send(echo, Note(text="x" * 1000, number=number))
                await asyncio.sleep(0.01)
            await recorder.wait_for(lambda: len(recorder.notes) == 41, timeout=15)
            assert [note.number for _, note in recorder.notes] == list(range(41))
            assert recorder.exits == []
            assert node.metrics["peers_lost"] == 0
    finally:
        child.kill()
        child.wait()


async def test_remote_unreachable_peer_is_logged_with_its_address_within_the_connect_timeout(
    capsys,
):
    import json

    from libprocess import configure_logging

    configure_logging(json=True, level="info")
    try:
        async with Node(heartbeat_timeout=0.5) as node:
            sender = node.spawn(Recorder())
            nowhere = PID("master", "127.0.0.1", _free_port())
            node.send(sender, nowhere, Note(text="hello?"))
            deadline = time.monotonic() + 5
            while not node.metrics["peers_unreachable"] and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    finally:
        configure_logging()
    unreachable = [line for line in lines if line["event"] == "peer_unreachable"]
    assert unreachable and unreachable[0]["level"] == "warning"
    assert unreachable[0]["peer"] == f"127.0.0.1:{nowhere.port}"


class KnockRecorder(Process):
    def __init__(self) -> None:
        super().__init__("knocks")
        self.knocks: list[tuple[PID, Knock]] = []

    def initialize(self) -> None:
        self.install(Knock, lambda sender, knock: self.knocks.append((sender, knock)))


async def test_remote_unchanged_resend_is_delivered_again_without_decoding():
    async with Node() as sender_node, Node() as receiver_node:
        recorder = KnockRecorder()
        target = receiver_node.spawn(recorder)
        first, second = sender_node.spawn(Process()), sender_node.spawn(Process())
        sends = [(first, "a"), (first, "a"), (first, "b"), (second, "b")]
        for count, (sender, text) in enumerate(sends, 1):
            sender_node.send(sender, target, Knock(text=text))
            deadline = time.monotonic() + 5  # each arrives alone: a run of its own
            while len(recorder.knocks) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        [(_, a1), (_, a2), (_, b1), (from_second, b2)] = recorder.knocks
        assert a1 is a2  # the resend: the same frozen value, not decoded again
        assert b1.text == "b" and b1 is not a1
        assert from_second == second and b2 == b1 and b2 is not b1  # another sender's own
        assert receiver_node.metrics["messages_resent_not_decoded"] == 1


def test_remote_resends_remembered_stay_within_their_byte_bound(monkeypatch):
    monkeypatch.setattr(message_module, "RESENT_BYTES_MAX", 10_000)
    codec = Codec()
    decoder = codec.decoder_for("Knock")
    assert decoder is not None and "Knock" in codec.resent_names
    body = msgspec.msgpack.encode([Knock(text="x" * 1000)])
    for sender in range(50):
        codec.decode_resent(f"s{sender}@127.0.0.1:1", "Knock", decoder, msgspec.Raw(body))
    assert codec._resent_bytes <= 10_000
    assert len(codec._resent) == 10_000 // len(body)
    # The oldest went first; the latest is still recognized.
    _, again = codec.decode_resent("s49@127.0.0.1:1", "Knock", decoder, msgspec.Raw(body))
    _, forgotten = codec.decode_resent("s0@127.0.0.1:1", "Knock", decoder, msgspec.Raw(body))
    assert again and not forgotten
