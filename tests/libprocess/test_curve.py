"""CurveZMQ: key directories, allowed keys only, and traffic no one on the wire can read."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from libprocess import Node
from libprocess.curve import CurveKeyError, generate, load
from tests.libprocess.actors import Note, Recorder


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_curve_generate_writes_one_complete_directory_per_node_and_extends_it(tmp_path):
    first = generate(tmp_path / "keys", ["master", "agent"])
    assert [p.name for p in first] == ["agent", "master"]
    master = load(tmp_path / "keys" / "master")
    agent = load(tmp_path / "keys" / "agent")
    assert master.cluster_public == agent.cluster_public
    assert master.public != agent.public
    assert (tmp_path / "keys" / "master" / "node.key_secret").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys" / "master").stat().st_mode & 0o777 == 0o700

    generate(tmp_path / "keys", ["scheduler"])  # a node added later
    scheduler = load(tmp_path / "keys" / "scheduler")
    assert scheduler.cluster_public == master.cluster_public
    assert load(tmp_path / "keys" / "master").public == master.public  # kept
    assert sorted(p.name for p in master.allowed.glob("*.key")) == [
        "agent.key",
        "master.key",
        "scheduler.key",
    ]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: shutil.rmtree(d), "does not exist"),
        (lambda d: (d / "node.key_secret").unlink(), "node.key_secret does not exist"),
        (lambda d: (d / "cluster.key_secret").chmod(0o644), "accessible by others"),
        (lambda d: (d / "node.key_secret").write_text("garbage\n"), "cannot read secret key"),
        (lambda d: shutil.rmtree(d / "allowed"), "holds no public keys"),
        (lambda d: (d / "allowed" / "a.key").write_text("nonsense\n"), "cannot read public key"),
    ],
)
def test_curve_load_refuses_a_bad_key_directory_in_one_line(tmp_path, damage, message):
    [directory] = generate(tmp_path, ["a"])
    damage(directory)
    with pytest.raises(CurveKeyError, match=message) as caught:
        load(directory)
    assert "\n" not in str(caught.value)


async def test_curve_nodes_with_allowed_keys_talk_and_others_cannot_send_anything(tmp_path):
    generate(tmp_path / "cluster", ["a", "b"])
    intruder = tmp_path / "intruder"  # the cluster's listening key, but its own key pair
    shutil.copytree(tmp_path / "cluster" / "a", intruder)
    for name in ("node.key", "node.key_secret"):
        (intruder / name).unlink()
    generate(tmp_path / "elsewhere", ["x"])
    for name in ("node.key", "node.key_secret"):
        shutil.copy(tmp_path / "elsewhere" / "x" / name, intruder / name)
    (intruder / "node.key_secret").chmod(0o600)
    async with (
        Node(curve_keys=tmp_path / "cluster" / "a") as a,
        Node(curve_keys=tmp_path / "cluster" / "b") as b,
        Node(curve_keys=intruder) as stranger,
        Node() as plain,
    ):
        recorder = Recorder("target")
        target = b.spawn(recorder)
        for node, text in ((stranger, "stranger"), (plain, "plain")):
            sender = node.spawn(Recorder())
            node.send(sender, target, Note(text=text))
        await _wait_for(lambda: b.metrics["connections_refused"] >= 2)
        friend = a.spawn(Recorder())
        a.send(friend, target, Note(text="friend"))
        await recorder.wait_for(lambda: recorder.notes)
        await asyncio.sleep(0.2)
        assert [note.text for _, note in recorder.notes] == ["friend"]
        assert b.metrics["frames_received"] >= 1


class _Relay:
    """A TCP relay on loopback that records every byte it passes, both ways."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.captured = bytearray()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.ensure_future(self._pump(source, sink))
            self.tasks.add(task)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                self.captured += data
                sink.write(data)
                await sink.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            sink.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _captured_between_two_nodes(keys: Path | None) -> bytes:
    """Node a sends node b a Note through a recording relay; the bytes that crossed it."""
    b_port = _free_port()
    relay = _Relay(b_port)
    relay_port = await relay.start()
    a_keys = keys / "a" if keys else None
    b_keys = keys / "b" if keys else None
    try:
        async with (
            Node(curve_keys=a_keys) as a,
            Node(port=b_port, advertise_port=relay_port, curve_keys=b_keys) as b,
        ):
            recorder = Recorder("target")
            target = b.spawn(recorder)
            sender = a.spawn(Recorder())
            a.send(sender, target, Note(text="TOP-SECRET-PAYLOAD"))
            await recorder.wait_for(lambda: recorder.notes)
    finally:
        await relay.stop()
    return bytes(relay.captured)


async def test_curve_traffic_captured_on_loopback_is_unreadable_and_readable_without_it(
    tmp_path,
):
    plain = await _captured_between_two_nodes(None)
    # The capture sees the messages when Curve is off: the test can see what it looks for.
    assert b"TOP-SECRET-PAYLOAD" in plain and b"Note" in plain and b"target" in plain
    generate(tmp_path / "keys", ["a", "b"])
    encrypted = await _captured_between_two_nodes(tmp_path / "keys")
    assert len(encrypted) > 200  # the note crossed the relay
    for plaintext in (b"TOP-SECRET-PAYLOAD", b"Note", b"target", b"X-Libprocess-Token"):
        assert plaintext not in encrypted
