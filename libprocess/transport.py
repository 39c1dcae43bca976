"""ZeroMQ transport: one inbound PULL per node, one outbound PUSH per peer node.

Why this shape (measured, DESIGN.md): PUSH/PULL beats ROUTER by ~40%; batching
the messages for one peer into one frame per loop tick gives 1.1-1.6M messages/s
against ~460k for one message a frame; draining the inbound socket until EAGAIN
after each wake-up avoids one await per message. Peer liveness comes from ZMTP
heartbeats and the socket monitor: a disconnect, or no connection within the
heartbeat timeout, loses the peer and fires `exited` for links to it.

A heartbeat proves the peer's node alive (its ZeroMQ I/O thread), not that its
application keeps up. ZeroMQ stops reading a connection whose receive queue is
full (below), so our own pings wait unread behind our frames while a busy peer
works through them; a peer that timed out on that alone would lose everything
queued for it (the messages of thousands of agents re-registering with a new
leader, say). So each node also pings, every heartbeat interval, down every
connection it accepts, from its I/O thread: the sender's heartbeat timeout
counts any traffic, and these pings arrive whatever the receiver's application
does. A stopped or dead peer sends none and is lost after the timeout; the TTL
our pings carry lets the receiver close our connection if we go silent.

Transport deadlines run on real time, not the runtime clock: they guard real
sockets, which a paused test clock does not stop.

What a node holds is bounded, so no flood can grow it without end:

- Inbound, per connected peer: ZeroMQ keeps at most `_RECV_HWM` (128) frames
  read from that connection and not yet taken by the node, and stops reading
  the connection beyond that, so TCP pushes back on the sender. A frame is at
  most `2 * max_frame_bytes` (ZeroMQ cuts the connection above) and is refused
  above `max_frame_bytes`; batches are typically ~100 kB (1024 small messages).
  ZeroMQ's inbound queue fair-queues between connections: one flooding peer
  takes its turn and a well-behaved peer still gets through.
- Per mailbox: once more than `_MAILBOX_HIGH` (65,536) messages from the wire
  have entered a process's mailbox since it was last empty, the node stops
  reading frames until that mailbox is empty again. A mailbox therefore holds
  at most 65,536 wire messages plus those of the one frame being read (local
  messages are the node's own doing and are not limited).
- Outbound, per peer: ZeroMQ queues at most `_SEND_HWM` (128) frames; frames the
  socket cannot take wait in a backlog of at most `_BACKLOG_BYTES` (8 MiB, plus
  the frame that crossed it) until the socket is writable. While a peer has a
  backlog, every local process that sends to it is held (its mailbox is not
  run) until the backlog has left: a sender that outpaces its receiver is
  slowed, not buffered. A peer stays backlogged for at most `_HOLD_SECONDS`
  (1 s) before its senders are let go; what then finds the backlog full is
  dropped and counted (`messages_dropped_backpressure`): at most once, as
  `send` promises, and no two nodes flooding each other can wait on each other
  for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any, cast

import msgspec
import structlog
import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import parse_monitor_message

from libprocess import curve
from libprocess.errors import NodeError
from libprocess.message import Codec, Message, Run
from libprocess.origins import (
    CONTROL_NAME,
    NODE_PROPERTY,
    PROOF_MESSAGES,
    TOKEN_PROPERTY,
    Origins,
    handshake_properties,
    new_token,
)
from libprocess.pid import PID

if TYPE_CHECKING:
    from libprocess.node import Node
    from libprocess.process import Process

log = structlog.get_logger()

# Messages queued for one peer beyond this leave at once rather than at the end of the tick.
_BATCH_MAX = 1024
# Frames handled per wake-up before yielding the loop to the actors: small enough that
# mailboxes stay short (fewer objects for the GC to scan), 16 measured best on 2 cores.
_FRAMES_PER_TURN = 16
# Frames ZeroMQ queues per connection, each way (its high-water marks): enough in flight
# to keep loopback busy (remote one-way kept its ratio to raw pyzmq), little memory.
_RECV_HWM = 128
# Connections kept for asking other nodes to prove their connections (send_question).
_QUESTION_CHANNELS_MAX = 256
_SEND_HWM = 128
# Bytes of frames per peer waiting for the socket to take them; beyond, frames are dropped.
_BACKLOG_BYTES = 8 * 1024 * 1024
# Longest a peer's backlog holds the processes that send to it.
_HOLD_SECONDS = 1.0
# How often a backlogged peer is retried besides when its socket signals (a missed edge).
_BACKLOG_RETRY_SECONDS = 0.05
# Wire messages let into a mailbox since it was last empty before the node stops reading.
_MAILBOX_HIGH = 65_536
# Sender PIDs parsed and kept; the cache is cleared when it grows past this.
_SENDER_CACHE_MAX = 65_536
_MONITORED = zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED
# With CurveZMQ, what the inbound socket's monitor reports: connections refused.
_HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


class _Peer:
    __slots__ = (
        "address",
        "backlog",
        "backlog_bytes",
        "backlog_since",
        "backlog_timer",
        "connect_deadline",
        "connected",
        "held",
        "holding",
        "last_kind",
        "last_messages",
        "last_sender",
        "last_to",
        "monitor",
        "queue",
        "queued",
        "socket",
        "token",
    )

    def __init__(
        self,
        address: tuple[str, int],
        socket: zmq.Socket[bytes],
        monitor: zmq.Socket[bytes],
        token: str,
    ) -> None:
        self.address = address
        self.socket = socket
        self.monitor = monitor
        self.token = token  # this connection's, in its handshake (libprocess.origins)
        self.queue: list[list[Any]] = []  # runs: [from_pid, to_name, message_name, [message]]
        self.queued = 0
        # The open run: a message joins it when sender, target and type are the very
        # same objects (identity is cheap; equal-but-distinct PIDs just start a new run).
        self.last_sender: PID | None = None
        self.last_to: PID | None = None
        self.last_kind: type | None = None
        self.last_messages: list[Message] = []
        self.connected = False
        self.connect_deadline: asyncio.TimerHandle | None = None
        # Encoded frames (with their message counts) the socket could not take yet.
        self.backlog: deque[tuple[bytes, int]] = deque()
        self.backlog_bytes = 0
        self.backlog_since = 0.0
        self.backlog_timer: asyncio.TimerHandle | None = None
        # Whether senders to this peer are held now, and which are.
        self.holding = False
        self.held: list[Process] = []


def _max_sockets() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 65536
    return max(1024, min(soft, 65536))


class Transport:
    """Moves envelopes between nodes; decodes and validates at the edge."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.codec = Codec()
        self.context = zmq.Context()
        # Two sockets a peer (its PUSH and a monitor): ZeroMQ's default cap of 1023
        # sockets refused an agent its 500th executor (EMFILE). Allow what the
        # process's descriptor limit allows.
        self.context.set(zmq.MAX_SOCKETS, _max_sockets())
        self._inbound: zmq.Socket[bytes] | None = None
        self._peers: dict[tuple[str, int], _Peer] = {}
        self._dirty: list[_Peer] = []
        self._flush_scheduled = False
        self._senders: dict[str, PID] = {}
        self._closed = False
        # Processes whose full mailbox stopped the node reading frames.
        self._pausers: set[Process] = set()
        # Which connection speaks for which node address (libprocess.origins).
        self.origins = Origins(self)
        # Frames of a connection just proven, waiting their turn: (key, origin, runs).
        self._ready: deque[tuple[str, tuple[str, int], list[Run]]] = deque()
        # Frames each connection has waiting in `_ready`: its later frames queue behind them.
        self._ready_counts: Counter[str] = Counter()
        self._channels: list[zmq.Socket[bytes]] = []
        # Connections of their own for the proof questions this node asks, by address:
        # a question must not wait behind the batches this node queued to that node.
        self._question_channels: dict[tuple[str, int], tuple[zmq.Socket[bytes], str]] = {}
        self._curve = node.curve
        self._authenticator: ThreadAuthenticator | None = None
        self._inbound_monitor: zmq.Socket[bytes] | None = None

    # -- inbound ---------------------------------------------------------------

    def bind(self, host: str, port: int) -> tuple[str, int]:
        socket = self.context.socket(zmq.PULL)
        socket.setsockopt(zmq.LINGER, 0)
        # ZeroMQ cuts a connection whose frame passes this hard cap; below it,
        # oversized frames are counted and logged here (see _handle_frame).
        socket.setsockopt(zmq.MAXMSGSIZE, 2 * self.node.max_frame_bytes)
        socket.setsockopt(zmq.RCVHWM, _RECV_HWM)
        # Heartbeats from this end of every connection it accepts, answered by nobody: they
        # tell the sender this node's I/O thread is alive while its application is busy
        # (see "Peer liveness" above); a timeout here would judge the sender by our reading.
        socket.setsockopt(zmq.HEARTBEAT_IVL, int(self.node.heartbeat_interval * 1000))
        socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, 0)
        bracketed = f"[{host}]" if ":" in host else host
        if ":" in host:
            socket.setsockopt(zmq.IPV6, 1)
        if self._curve is not None:
            self._start_authenticator(socket, self._curve)
        try:
            socket.bind(f"tcp://{bracketed}:{port or '*'}")
        except zmq.ZMQError as error:
            socket.close()
            raise NodeError(f"cannot bind {host}:{port}: {error}") from None
        endpoint = socket.getsockopt_string(zmq.LAST_ENDPOINT)
        bound_port = int(endpoint.rsplit(":", 1)[1])
        self._inbound = socket
        loop = self.node.loop
        loop.add_reader(socket.fileno(), self._on_readable)
        loop.call_soon(self._on_readable)  # frames may have arrived before the reader
        return host, bound_port

    def _start_authenticator(self, socket: zmq.Socket[bytes], keys: curve.CurveKeys) -> None:
        """CurveZMQ on the inbound socket; ZAP admits only the allowed keys, refusals counted."""
        authenticator = ThreadAuthenticator(self.context)
        authenticator.start()
        authenticator.configure_curve(domain=curve.ZAP_DOMAIN, location=str(keys.allowed))
        self._authenticator = authenticator
        curve.configure_server(socket, keys)
        monitor = socket.get_monitor_socket(_HANDSHAKE_FAILURES)
        self._inbound_monitor = monitor
        self.node.loop.add_reader(monitor.fileno(), self._on_inbound_monitor)
        # ZeroMQ signals its descriptor only once a reader has drained the socket.
        self.node.loop.call_soon(self._on_inbound_monitor)

    def _on_inbound_monitor(self) -> None:
        monitor = self._inbound_monitor
        while monitor is not None:
            try:
                frames = monitor.recv_multipart(zmq.NOBLOCK)
            except (zmq.Again, zmq.ZMQError):
                return
            event = parse_monitor_message(frames)
            reason = (
                "not allowed"
                if event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH
                else ("not CurveZMQ or a broken handshake")
            )
            self.node.metrics["connections_refused"] += 1
            log.warning(
                "dropping_connection",
                reason=reason,
                node=f"{self.node.host}:{self.node.port}",
                peer=str(event.get("endpoint", b""), "utf-8", "replace"),
            )

    def _on_readable(self) -> None:
        socket = self._inbound
        if socket is None or self._pausers:
            return
        ready = self._ready
        for turn in range(_FRAMES_PER_TURN):
            # Frames held for a connection's proof (`ready`) take every other turn, so a
            # proven flood's backlog does not keep other connections' frames waiting.
            frame = None
            if not (ready and turn & 1):
                try:
                    frame = socket.recv(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    if not ready:
                        return
                except zmq.ZMQError:
                    return
            if frame is not None:
                self._handle_frame(frame)
            else:
                key, origin, runs = ready.popleft()
                self._ready_done(key)
                self.deliver_runs(key, origin, runs)
            if self._pausers:
                return
        self.node.loop.call_soon(self._on_readable)  # more may wait; let actors run first

    def _pause_reading(self, process: Process) -> None:
        """`process`'s mailbox is full: read no frame until it has emptied it."""
        if process._terminated:
            return
        if not self._pausers and self._inbound is not None:
            self.node.metrics["inbound_pauses"] += 1
            self.node.loop.remove_reader(self._inbound.fileno())
        self._pausers.add(process)
        process._pausing_transport = True

    def resume_reading(self, process: Process) -> None:
        """`process` emptied its mailbox (or ended): read again once no other holds us."""
        process._pausing_transport = False
        self._pausers.discard(process)
        if self._pausers or self._inbound is None:
            return
        loop = self.node.loop
        loop.add_reader(self._inbound.fileno(), self._on_readable)
        loop.call_soon(self._on_readable)

    def _handle_frame(self, frame: zmq.Frame) -> None:
        node = self.node
        node.metrics["frames_received"] += 1
        buffer = frame.buffer
        size = len(buffer)
        if size > node.max_frame_bytes:
            self._refuse("frame_too_large", size=size, limit=node.max_frame_bytes)
            return
        try:
            runs = self.codec.decode_frame(buffer)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            self._refuse("malformed_frame", error=str(error), size=size)
            return
        try:
            key: str | None = cast(str, frame.get(TOKEN_PROPERTY))
        except zmq.ZMQError:  # a connection that does not say which node it is
            key = None
        if self._curve is not None and key is not None:
            # A token is good only with the key it was proven with (ZAP's User-Id).
            key = f"{key} {frame.get('User-Id')}"
        origin = self.origins.proven.get(key) if key is not None else None
        if origin is None:
            try:
                claimed: str | None = cast(str, frame.get(NODE_PROPERTY))
            except zmq.ZMQError:
                claimed = None
            self.origins.unproven(key, claimed, runs, size)
            return
        assert key is not None  # proven connections have one
        if self._ready_counts.get(key):  # its frames held for the proof go first
            self.deliver_later(key, origin, runs)
        else:
            self.deliver_runs(key, origin, runs)

    def deliver_later(self, key: str, origin: tuple[str, int], runs: list[Run]) -> None:
        """Deliver a proven connection's runs after those already waiting (one frame's worth)."""
        self._ready.append((key, origin, runs))
        self._ready_counts[key] += 1
        if len(self._ready) == 1 and not self._pausers and self._inbound is not None:
            self.node.loop.call_soon(self._on_readable)

    def _ready_done(self, key: str) -> None:
        left = self._ready_counts[key] - 1
        if left:
            self._ready_counts[key] = left
        else:
            del self._ready_counts[key]

    def deliver_runs(self, key: str, origin: tuple[str, int], runs: list[Run]) -> None:
        """Decode and deliver the runs of a connection proven to speak for `origin`."""
        node = self.node
        # The hot loop of every remote message: locals and cached lookups on purpose.
        senders = self._senders
        codec = self.codec
        decoders = codec.decoders
        resent_names = codec.resent_names
        processes = node.processes
        delivered = 0
        for run in runs:
            sender_text, to_name, name, bodies = run
            sender = senders.get(sender_text) or self._sender(sender_text)
            if sender is None:
                self._refuse("bad_sender", sender=sender_text[:200])
                continue
            if sender.address != origin:
                self.refuse_runs("forged_sender", [run], connection_of=f"{origin[0]}:{origin[1]}")
                continue
            if not to_name and name in PROOF_MESSAGES:
                self.origins.on_proof(key, run)
                continue
            decoder = decoders.get(name) or self.codec.decoder_for(name)
            if decoder is None:
                self._refuse("unknown_message", message=name[:200], sender=sender_text)
                continue
            try:
                if name in resent_names:
                    messages, again = codec.decode_resent(sender_text, name, decoder, bodies)
                    if again:
                        node.metrics["messages_resent_not_decoded"] += len(messages)
                else:
                    messages = decoder.decode(bodies)
            except (msgspec.DecodeError, msgspec.ValidationError):
                messages, errors = self.codec.decode_one_by_one(name, bodies)
                for detail in errors:
                    self._refuse("invalid_message", message=name, sender=sender_text, error=detail)
            delivered += len(messages)
            process = processes.get(to_name)
            if process is not None:
                process._deliver_run(sender, messages)
                process._wire_queued += len(messages)
                if process._wire_queued > _MAILBOX_HIGH and not process._pausing_transport:
                    self._pause_reading(process)
            else:
                for message in messages:  # the node itself (name ''), or nobody
                    node.deliver_remote(sender, to_name, message)
        node.metrics["messages_received"] += delivered

    def _sender(self, text: str) -> PID | None:
        pid = self._senders.get(text)
        if pid is None:
            try:
                pid = PID.parse(text)
            except ValueError:
                return None
            if len(self._senders) >= _SENDER_CACHE_MAX:
                self._senders.clear()
            self._senders[text] = pid
        return pid

    def _refuse(self, reason: str, count: int = 1, **fields: object) -> None:
        whole_frame = reason in ("malformed_frame", "frame_too_large")
        self.node.metrics["invalid_frames" if whole_frame else "invalid_messages"] += count
        self.node.count_drop(reason, count)
        log.warning(
            "dropping_input", reason=reason, node=f"{self.node.host}:{self.node.port}", **fields
        )

    def refuse_runs(self, reason: str, runs: list[Run], **fields: object) -> None:
        """Drop whole runs, unread: one log line, every message counted."""
        if not runs:
            return
        count = sum(_run_length(run) for run in runs)
        first_sender, _, first_name, _ = runs[0]
        self._refuse(
            reason,
            count,
            sender=first_sender[:200],
            message=first_name[:200],
            messages=count,
            **fields,
        )

    # -- outbound --------------------------------------------------------------

    @property
    def has_pending(self) -> bool:
        return bool(self._dirty)

    def send_control(self, address: tuple[str, int], message: Message) -> None:
        """Send the node at `address` a message from this node itself (not one of its processes)."""
        node = self.node
        self.send(PID("", *address), PID(CONTROL_NAME, node.host, node.port), message)

    def send_question(self, address: tuple[str, int], message: Message) -> None:
        """Send a proof question to the node at `address` over a connection of its own.

        On the connection that carries this node's batches to `address`, a question
        would reach that node only once it had handled everything queued ahead of
        it: thousands of messages when this node has just sent a burst there (a
        new leader answering 10,000 agents), longer than the proof may take. Its
        own connection is read in its turn (ZeroMQ fair-queues connections). The
        receiver takes from it only proof messages (libprocess.origins).
        """
        if self._closed:
            return
        channel = self._question_channels.get(address)
        if channel is None:
            if len(self._question_channels) >= _QUESTION_CHANNELS_MAX:
                self._close_question_channel(next(iter(self._question_channels)))
            token = new_token()
            socket, endpoint = self._outbound_socket(address, token, raw=True)
            socket.connect(endpoint)
            channel = self._question_channels[address] = (socket, token)
        self.send_raw_control(channel[0], message)

    def _close_question_channel(self, address: tuple[str, int]) -> None:
        socket, token = self._question_channels.pop(address)
        self.origins.own.pop(token, None)
        socket.close(linger=0)

    def send_proof(self, address: tuple[str, int], token: str, message: Message) -> None:
        """Send a proof on the peer connection carrying `token`, ahead of its batches.

        Straight onto the socket when it takes it, else first in the backlog, whatever
        the backlog holds: a proof is never dropped for backpressure (the asker holds
        the frames that arrived before it, and drops them all if it never comes).
        """
        peer = self._peers.get(address)
        if peer is None or peer.token != token:
            self.send_control(address, message)
            return
        if not peer.backlog:
            try:
                self.send_raw_control(peer.socket, message, strict=True)
                return
            except zmq.Again:
                pass
        self._add_to_backlog(peer, self._control_frame(message), 1, first=True)

    def _control_frame(self, message: Message) -> bytes:
        """A frame holding one control message from this node itself."""
        node = self.node
        sender = f"{CONTROL_NAME}@{node.host}:{node.port}"
        return self.codec.encode_frame([[sender, "", type(message).__name__, [message]]])

    def send_raw_control(
        self, socket: zmq.Socket[bytes], message: Message, *, strict: bool = False
    ) -> None:
        """Write a control message from this node straight onto a raw channel."""
        frame = self._control_frame(message)
        try:
            socket.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            if strict:
                raise
        except zmq.ZMQError:
            pass

    def open_channel(self, address: tuple[str, int]) -> zmq.Socket[bytes]:
        """A PUSH socket to `address` that speaks for this node, for frames written raw.

        For tools that write frames themselves (fuzzers, tests): the receiver takes
        its frames as this node's once the node has answered its question (runs
        whose senders are not PIDs of this node are dropped as forged). Closed with
        the node, or by the caller.
        """
        socket, endpoint = self._outbound_socket(address, new_token(), raw=True)
        socket.connect(endpoint)
        self._channels.append(socket)
        return socket

    def _outbound_socket(
        self, address: tuple[str, int], token: str, *, raw: bool
    ) -> tuple[zmq.Socket[bytes], str]:
        """A PUSH socket for `address` carrying this node's handshake properties, unconnected."""
        host, port = address
        socket = self.context.socket(zmq.PUSH)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SNDHWM, _SEND_HWM)
        for value in handshake_properties(self.node.address, token):
            socket.setsockopt(zmq.METADATA, value)
        if self._curve is not None:
            curve.configure_client(socket, self._curve)
        self.origins.own[token] = (address, socket if raw else None)
        if ":" in host:
            socket.setsockopt(zmq.IPV6, 1)
            host = f"[{host.strip('[]')}]"
        return socket, f"tcp://{host}:{port}"

    def send(self, to: PID, sender: PID, message: Message) -> None:
        """Queue a message for `to`'s node; it leaves with that peer's batch this tick."""
        peer = self._peers.get(to.address)
        if peer is None:
            if self._closed:
                return
            peer = self._connect(to.address)
        kind = type(message)
        if sender is peer.last_sender and to is peer.last_to and kind is peer.last_kind:
            peer.last_messages.append(message)
        else:
            # Checked as a run starts, not per message: a flush ends every run, so a
            # sender is held at most one batch (1024 messages) after its peer backs up.
            if peer.holding:
                self._hold(peer, sender)
            peer.last_sender, peer.last_to, peer.last_kind = sender, to, kind
            peer.last_messages = [message]
            peer.queue.append([sender._text, to.name, kind.__name__, peer.last_messages])
        queued = peer.queued = peer.queued + 1
        if queued == 1:
            self._dirty.append(peer)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self.node.loop.call_soon(self._flush)
        elif queued >= _BATCH_MAX:
            self._flush_peer(peer)

    def _hold(self, peer: _Peer, sender: PID) -> None:
        """Hold the local process `sender` until `peer`'s backlog has left (backpressure)."""
        process = self.node.processes.get(sender.name)
        if process is None or process._held or process.pid != sender:
            return
        process._hold()
        peer.held.append(process)
        self.node.metrics["senders_held"] += 1

    def watch(self, address: tuple[str, int]) -> None:
        """Make sure a connection to `address` exists, so that its loss is noticed."""
        if address not in self._peers and not self._closed:
            self._connect(address)

    def _connect(self, address: tuple[str, int]) -> _Peer:
        token = new_token()
        socket, endpoint = self._outbound_socket(address, token, raw=False)
        interval_ms = int(self.node.heartbeat_interval * 1000)
        timeout_ms = int(self.node.heartbeat_timeout * 1000)
        socket.setsockopt(zmq.HEARTBEAT_IVL, interval_ms)
        socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, timeout_ms)
        socket.setsockopt(zmq.HEARTBEAT_TTL, timeout_ms)
        socket.setsockopt(zmq.RECONNECT_IVL, 100)
        monitor = socket.get_monitor_socket(_MONITORED)
        socket.connect(endpoint)
        peer = _Peer(address, socket, monitor, token)
        self._peers[address] = peer
        loop = self.node.loop
        loop.add_reader(monitor.fileno(), self._on_monitor, peer)
        peer.connect_deadline = loop.call_later(
            self.node.heartbeat_timeout, self._connect_timed_out, peer
        )
        return peer

    def _on_monitor(self, peer: _Peer) -> None:
        while self._peers.get(peer.address) is peer:
            try:
                frames = peer.monitor.recv_multipart(zmq.NOBLOCK)
            except (zmq.Again, zmq.ZMQError):
                return
            event = parse_monitor_message(frames)["event"]
            if event == zmq.EVENT_CONNECTED:
                peer.connected = True
                if peer.connect_deadline is not None:
                    peer.connect_deadline.cancel()
                    peer.connect_deadline = None
            elif event == zmq.EVENT_DISCONNECTED:
                self._lose(peer, "disconnected")
                return

    def _connect_timed_out(self, peer: _Peer) -> None:
        peer.connect_deadline = None
        self._on_monitor(peer)  # a CONNECTED event may sit unread
        if not peer.connected and self._peers.get(peer.address) is peer:
            self._lose(peer, "connect timed out")

    def _lose(self, peer: _Peer, reason: str) -> None:
        """Forget a peer: queued messages are dropped (at most once) and links fire."""
        self._close_peer(peer)
        self.node.metrics["peers_lost"] += 1
        address = f"{peer.address[0]}:{peer.address[1]}"
        if peer.connected:
            log.info("peer_lost", peer=address, reason=reason)
        else:  # never reached: say so, with where we tried, so a wrong address shows
            self.node.metrics["peers_unreachable"] += 1
            log.warning(
                "peer_unreachable",
                peer=address,
                reason=reason,
                waited_seconds=self.node.heartbeat_timeout,
            )
        self.node.peer_lost(peer.address)

    def _close_peer(self, peer: _Peer, linger: float = 0.0) -> None:
        """Close a peer's sockets; what it still holds may leave for `linger` seconds."""
        if self._peers.get(peer.address) is peer:
            del self._peers[peer.address]
        self.origins.own.pop(peer.token, None)
        if peer.connect_deadline is not None:
            peer.connect_deadline.cancel()
        if peer in self._dirty:
            self._dirty.remove(peer)
        peer.queue, peer.queued, peer.last_kind = [], 0, None
        loop = self.node.loop
        if peer.backlog:
            self.node.metrics["messages_dropped_backpressure"] += sum(n for _, n in peer.backlog)
            self._end_backlog(peer)
        with contextlib.suppress(zmq.ZMQError):
            loop.remove_reader(peer.monitor.fileno())
        peer.socket.disable_monitor()
        peer.monitor.close(linger=0)
        peer.socket.close(linger=int(linger * 1000))

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for peer in dirty:
            self._flush_peer(peer)

    def _flush_peer(self, peer: _Peer) -> None:
        queue, count = peer.queue, peer.queued
        if not count:
            return
        peer.queue, peer.queued, peer.last_kind = [], 0, None
        metrics = self.node.metrics
        try:
            frame = self.codec.encode_frame(queue)
        except (TypeError, msgspec.EncodeError):
            log.exception("encode_failed", peer=f"{peer.address[0]}:{peer.address[1]}")
            metrics["messages_dropped_encode"] += count
            return
        if peer.backlog:  # frames leave in order: behind the backlog
            self._add_to_backlog(peer, frame, count)
            return
        try:
            peer.socket.send(frame, zmq.NOBLOCK, copy=len(frame) < 65536)
        except zmq.Again:
            self._add_to_backlog(peer, frame, count)
            return
        except zmq.ZMQError:
            metrics["messages_dropped_closed"] += count
            return
        metrics["messages_sent"] += count
        metrics["frames_sent"] += 1

    # -- backpressure ------------------------------------------------------------

    def _add_to_backlog(
        self, peer: _Peer, frame: bytes, count: int, *, first: bool = False
    ) -> None:
        """ZeroMQ's queue to `peer` is full: keep the frame (within bounds) until it is not.

        `first`: ahead of the frames waiting, and kept whatever they hold (a proof)."""
        if first:
            peer.backlog.appendleft((frame, count))
        elif peer.backlog_bytes >= _BACKLOG_BYTES:
            self.node.metrics["messages_dropped_backpressure"] += count
            log.warning(
                "dropping_messages",
                reason="peer backlog full",
                peer=f"{peer.address[0]}:{peer.address[1]}",
                messages=count,
                backlog_bytes=peer.backlog_bytes,
            )
            return
        else:
            peer.backlog.append((frame, count))
        peer.backlog_bytes += len(frame)
        if len(peer.backlog) > 1:
            return
        self.node.metrics["peers_backlogged"] += 1
        peer.backlog_since = time.monotonic()
        peer.holding = True
        loop = self.node.loop
        loop.add_reader(peer.socket.fileno(), self._send_backlog, peer)
        peer.backlog_timer = loop.call_later(_BACKLOG_RETRY_SECONDS, self._retry_backlog, peer)

    def _retry_backlog(self, peer: _Peer) -> None:
        peer.backlog_timer = None
        if self._peers.get(peer.address) is not peer or not peer.backlog:
            return
        if peer.holding and time.monotonic() - peer.backlog_since > _HOLD_SECONDS:
            self._release_senders(peer)  # they may send again; a full backlog drops
        self._send_backlog(peer)
        if peer.backlog:
            loop = self.node.loop
            peer.backlog_timer = loop.call_later(_BACKLOG_RETRY_SECONDS, self._retry_backlog, peer)

    def _send_backlog(self, peer: _Peer) -> None:
        """The socket may take frames again: send the backlog in order, as far as it goes."""
        if self._peers.get(peer.address) is not peer:
            return
        socket, backlog, metrics = peer.socket, peer.backlog, self.node.metrics
        retried = False
        while backlog:
            frame, count = backlog[0]
            try:
                socket.send(frame, zmq.NOBLOCK, copy=len(frame) < 65536)
            except zmq.Again:
                # Reading the events also re-arms the socket's descriptor (ZeroMQ's edge
                # rule); if room appeared meanwhile, try once more.
                # (pyzmq types getsockopt as int | bytes; ZMQ_EVENTS is an int.)
                events = cast(int, socket.getsockopt(zmq.EVENTS))
                if not retried and events & zmq.POLLOUT:
                    retried = True
                    continue
                return
            except zmq.ZMQError:
                return
            retried = False
            backlog.popleft()
            peer.backlog_bytes -= len(frame)
            metrics["messages_sent"] += count
            metrics["frames_sent"] += 1
        self._end_backlog(peer)

    def _end_backlog(self, peer: _Peer) -> None:
        """The backlog left (or the peer is gone): stop watching, let held senders run."""
        peer.backlog.clear()
        peer.backlog_bytes = 0
        if peer.backlog_timer is not None:
            peer.backlog_timer.cancel()
            peer.backlog_timer = None
        with contextlib.suppress(zmq.ZMQError, ValueError, OSError):
            self.node.loop.remove_reader(peer.socket.fileno())
        self._release_senders(peer)

    def _release_senders(self, peer: _Peer) -> None:
        peer.holding = False
        held, peer.held = peer.held, []
        for process in held:
            process._release()

    # -- shutdown --------------------------------------------------------------

    async def close(self, linger: float = 0.5) -> None:
        """Flush queued batches, give them `linger` seconds to leave, close every socket."""
        if self._closed:
            return
        self._flush()
        self._closed = True
        loop = self.node.loop
        if self._inbound is not None:
            if not self._pausers:
                loop.remove_reader(self._inbound.fileno())
            self._inbound.close(linger=0)
            self._inbound = None
        for peer in list(self._peers.values()):
            self._send_backlog(peer)
            self._close_peer(peer, linger if peer.connected else 0.0)
        self.origins.close()
        for channel in self._channels:
            channel.close(linger=0)
        for address in list(self._question_channels):
            self._close_question_channel(address)
        if self._inbound_monitor is not None:
            loop.remove_reader(self._inbound_monitor.fileno())
            self._inbound_monitor.close(linger=0)
            self._inbound_monitor = None
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
        await loop.run_in_executor(None, self.context.term)


def _run_length(run: Run) -> int:
    """How many messages a run holds, without decoding them (1 if its bodies are broken)."""
    try:
        return max(1, len(_RAW_LIST.decode(run[3])))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return 1


_RAW_LIST = msgspec.msgpack.Decoder(list[msgspec.Raw])
