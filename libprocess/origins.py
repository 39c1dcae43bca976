"""Which node a connection speaks for: a frame's senders are checked against it.

Every connection a node opens to a peer carries two properties in its ZeroMQ
handshake: the node's address (`X-Libprocess-Node`, `host:port`) and a random
token of that connection alone (`X-Libprocess-Token`, 128 bits). The receiver
takes neither on trust. The first time it reads a frame carrying a token it does
not know, it holds the frame and asks the claimed address's own listening socket
to prove it (`ProveAddress`: the token and a fresh nonce), over a connection of
its own so that the question does not wait behind the traffic the asker had
queued to that node (Transport.send_question). Only the node that
really listens at that address reads the question, and it answers
(`AddressProof`: the nonce) over its connection that carries the token; the
answer arriving on that connection binds the token to the address. The frames
held meanwhile are then delivered, in order. From then on every run's `from`
must be a PID of that address: any other sender is forged, and its messages are
dropped, logged (`dropping_input reason=forged_sender`) and counted
(`dropped_messages/forged_sender`). A token nobody proves within
`PROOF_TIMEOUT_HEARTBEATS` heartbeat timeouts (12 s by default) has its held
frames dropped (`unproven_connection`), and its frames are refused for as long
again. A genuine node answers within milliseconds when idle, but a busy one may
take seconds: a master just elected, with 10,000 agents re-registering, proved
its connections to their nodes after up to 4.2 s on a loaded machine, and with
one heartbeat timeout (3 s) the agents' nodes dropped its answers wholesale.
Waiting longer costs only memory, which is bounded anyway (below).

What this guarantees, and what it does not:

- Without CurveZMQ, against a process that can connect to a node but cannot
  read other connections' traffic (on one host: a user without root or
  CAP_NET_RAW, who cannot capture loopback): it can send only as PIDs of an
  address whose listening socket it holds itself. It cannot speak as a process
  of another node, since it never sees the nonce sent to that node, and it
  cannot guess another connection's token. A node *is* its address: whoever
  listens on a port speaks for the PIDs of that port (after a process exits,
  another may bind its port). Someone who can read the traffic (root, or on the
  path between two machines) sees tokens and nonces in the clear: that is what
  CurveZMQ is for.
- With CurveZMQ (see `libprocess.curve`), tokens and nonces travel encrypted,
  only nodes whose public keys are allowed can connect at all, and a token is
  bound together with the connection's authenticated key (ZAP `User-Id`): a
  token is good only with the key it was proven with.

Local messages never pass here: they never touch the transport.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
import zmq

from libprocess.message import Codec, Message, Run
from libprocess.pid import PID

if TYPE_CHECKING:
    from libprocess.transport import Transport

log = structlog.get_logger()

NODE_PROPERTY = "X-Libprocess-Node"
TOKEN_PROPERTY = "X-Libprocess-Token"

# How long a connection may wait for its proof, in the node's heartbeat timeouts.
PROOF_TIMEOUT_HEARTBEATS = 4
# Connections held waiting for their proof at once; beyond, new ones are refused.
_PENDING_MAX = 256
# Bytes of frames held per connection waiting for its proof, and for all of them together;
# beyond, frames are dropped. The proof arrives behind what the peer had queued already
# (at most 128 frames in ZeroMQ's queues each way, ~100 kB each when batched).
_HELD_BYTES_MAX = 64 * 1024 * 1024
_HELD_BYTES_TOTAL = 256 * 1024 * 1024
# Proven connections remembered; the oldest is forgotten beyond (it proves itself again).
_PROVEN_MAX = 65_536


class ProveAddress(Message, frozen=True, kw_only=True):
    """Node to node: answer `nonce` over your connection to me that carries `token`."""

    token: str
    nonce: str


class AddressProof(Message, frozen=True, kw_only=True):
    """Node to node, over the connection being proven: the nonce its ProveAddress carried."""

    nonce: str


PROOF_MESSAGES = frozenset({"ProveAddress", "AddressProof"})
# The sender name of the proof messages: the node itself speaks, not one of its processes.
CONTROL_NAME = "libprocess"


def new_token() -> str:
    return secrets.token_hex(16)


def handshake_properties(address: tuple[str, int], token: str) -> list[bytes]:
    """The ZMQ_METADATA values an outbound connection of the node at `address` carries."""
    host, port = address
    return [f"{NODE_PROPERTY}:{host}:{port}".encode(), f"{TOKEN_PROPERTY}:{token}".encode()]


def claimed_address(text: str) -> tuple[str, int] | None:
    """`host:port` as a connection claims it, or None if it is not one."""
    try:
        return PID.parse(f"node@{text}").address
    except ValueError:
        return None


class _Pending:
    """A connection whose token is being proven: the question asked and the runs held."""

    __slots__ = ("claimed", "frames", "held_bytes", "nonce", "timer")

    def __init__(self, claimed: tuple[str, int], nonce: str) -> None:
        self.claimed = claimed
        self.nonce = nonce
        self.frames: list[list[Run]] = []  # the runs of each frame held, in arrival order
        self.held_bytes = 0
        self.timer: Any = None


class Origins:
    """The transport's table of which connection speaks for which node address.

    `proven` maps a connection key (its token, with CurveZMQ also its
    authenticated key) to the address it proved; the transport reads it once
    per frame. Everything else here runs only for connections not yet proven.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.proven: dict[str, tuple[str, int]] = {}
        self._pending: dict[str, _Pending] = {}
        self._failed: dict[str, float] = {}  # key -> when its proof last failed
        self._held_bytes = 0  # of every pending connection together
        # Tokens of this node's own outbound connections: token -> (destination, raw
        # socket or None for a peer's socket, answered through the peer's batches).
        self.own: dict[str, tuple[tuple[str, int], zmq.Socket[bytes] | None]] = {}

    @property
    def timeout(self) -> float:
        return self.transport.node.heartbeat_timeout * PROOF_TIMEOUT_HEARTBEATS

    # -- frames from connections not proven yet ----------------------------------

    def unproven(
        self, key: str | None, claimed_text: str | None, runs: list[Run], size: int
    ) -> None:
        """A frame from a connection not proven: answer proofs, hold the rest, ask if new."""
        transport = self.transport
        if key is None:
            transport.refuse_runs("unidentified_connection", runs, size=size)
            return
        rest: list[Run] = []
        for run in runs:
            if not run[1] and run[2] in PROOF_MESSAGES:
                self.on_proof(key, run)
            else:
                rest.append(run)
        origin = self.proven.get(key)
        if origin is not None:  # the frame carried its own connection's proof
            if rest:
                transport.deliver_later(key, origin, rest)
            return
        if not rest:
            return
        pending = self._pending.get(key)
        if pending is None:
            pending = self._challenge(key, claimed_text, rest)
            if pending is None:
                return
        if (
            pending.held_bytes + size > _HELD_BYTES_MAX
            or self._held_bytes + size > _HELD_BYTES_TOTAL
        ):
            transport.refuse_runs("unproven_backlog_full", rest, claimed=_text(pending.claimed))
            return
        pending.frames.append(rest)
        pending.held_bytes += size
        self._held_bytes += size

    def _challenge(self, key: str, claimed_text: str | None, runs: list[Run]) -> _Pending | None:
        transport = self.transport
        claimed = claimed_address(claimed_text) if claimed_text else None
        if claimed is None:
            transport.refuse_runs("unidentified_connection", runs, claimed=str(claimed_text)[:100])
            return None
        failed_at = self._failed.get(key)
        if failed_at is not None and time.monotonic() - failed_at < self.timeout:
            transport.refuse_runs("unproven_connection", runs, claimed=_text(claimed))
            return None
        if len(self._pending) >= _PENDING_MAX:
            transport.refuse_runs("too_many_unproven_connections", runs, claimed=_text(claimed))
            return None
        token = key.split(" ", 1)[0]
        pending = _Pending(claimed, secrets.token_hex(16))
        self._pending[key] = pending
        pending.timer = transport.node.loop.call_later(self.timeout, self._timed_out, key)
        transport.node.metrics["connection_proofs_asked"] += 1
        transport.send_question(claimed, ProveAddress(token=token, nonce=pending.nonce))
        return pending

    def _timed_out(self, key: str) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        self._held_bytes -= pending.held_bytes
        self._failed[key] = time.monotonic()
        if len(self._failed) > _PENDING_MAX:
            del self._failed[next(iter(self._failed))]
        self.transport.node.metrics["connection_proofs_failed"] += 1
        self.transport.refuse_runs(
            "unproven_connection",
            [run for runs in pending.frames for run in runs],
            claimed=_text(pending.claimed),
            waited_seconds=self.timeout,
        )

    # -- the two proof messages ------------------------------------------------

    def on_proof(self, key: str, run: Run) -> None:
        """A ProveAddress or AddressProof run, from whichever connection (`key`)."""
        sender_text, _, name, bodies = run
        transport = self.transport
        decoder = transport.codec.decoder_for(name)
        assert decoder is not None  # both are registered by this module
        try:
            messages = decoder.decode(bodies)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            transport.refuse_runs("invalid_message", [run], error=str(error)[:200])
            return
        for message in messages:
            if isinstance(message, ProveAddress):
                self._answer(sender_text, message)
            elif isinstance(message, AddressProof):
                self._proven(key, message)

    def _answer(self, sender_text: str, question: ProveAddress) -> None:
        """Answer over the connection that carries the token, if it is ours, to the asker."""
        own = self.own.get(question.token)
        try:
            asker = PID.parse(sender_text).address
        except ValueError:
            asker = None
        if own is None or own[0] != asker:
            self.transport.node.metrics["connection_proofs_unknown"] += 1
            log.debug(
                "dropping_proof_request", asker=sender_text[:200], reason="not our connection"
            )
            return
        destination, raw = own
        proof = AddressProof(nonce=question.nonce)
        if raw is None:  # ahead of the peer's batches: the asker holds our frames meanwhile
            self.transport.send_proof(destination, question.token, proof)
        else:
            self.transport.send_raw_control(raw, proof)

    def _proven(self, key: str, proof: AddressProof) -> None:
        pending = self._pending.get(key)
        if pending is None or not hmac.compare_digest(pending.nonce, proof.nonce):
            self.transport.node.metrics["connection_proofs_unexpected"] += 1
            return
        del self._pending[key]
        self._held_bytes -= pending.held_bytes
        pending.timer.cancel()
        self._failed.pop(key, None)
        if len(self.proven) >= _PROVEN_MAX:
            del self.proven[next(iter(self.proven))]
        self.proven[key] = pending.claimed
        self.transport.node.metrics["connections_proven"] += 1
        log.debug("connection_proven", node=_text(pending.claimed))
        for runs in pending.frames:  # frame by frame: a full mailbox still pauses reading
            self.transport.deliver_later(key, pending.claimed, runs)

    def close(self) -> None:
        for pending in self._pending.values():
            pending.timer.cancel()
        self._pending.clear()
        self._held_bytes = 0


def _text(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


def answer_challenges(codec: Codec, frame: bytes, token: str, node_pid: str) -> bytes | None:
    """For peers that write frames themselves: the AddressProof frame answering `frame`.

    `frame` is one read from the peer's own listening socket; the answer (None if
    the frame holds no question about `token`) goes out on the connection that
    carries `token`. See `RawPeer`.
    """
    try:
        runs = codec.decode_frame(frame)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    answers: list[list[Any]] = []
    decoder = codec.decoder_for("ProveAddress")
    assert decoder is not None
    for _, to_name, name, bodies in runs:
        if to_name or name != "ProveAddress":
            continue
        try:
            questions = decoder.decode(bodies)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        proofs = [AddressProof(nonce=q.nonce) for q in questions if q.token == token]  # type: ignore[attr-defined]
        if proofs:
            answers.append([node_pid, "", "AddressProof", proofs])
    return codec.encode_frame(answers) if answers else None


class RawPeer:
    """A peer that writes frames itself, without a Node: floods, tools, tests.

    It listens on `host` (its address: the senders of its frames must be PIDs
    of it) and connects to `endpoint` carrying the handshake properties. Call
    `answer()` now and then (it never blocks) so that the receiver's question
    is answered and its frames delivered. Synchronous on purpose: its users
    are plain loops in their own OS process or thread.
    """

    def __init__(
        self, context: zmq.Context[zmq.Socket[bytes]], endpoint: str, host: str = "127.0.0.1"
    ) -> None:
        self.codec = Codec()
        self.inbound = context.socket(zmq.PULL)
        self.inbound.setsockopt(zmq.LINGER, 0)
        port = self.inbound.bind_to_random_port(f"tcp://{host}")
        self.address = (host, port)
        self.token = new_token()
        self.outbound = context.socket(zmq.PUSH)
        self.outbound.setsockopt(zmq.LINGER, 0)
        self.outbound.setsockopt(zmq.SNDHWM, 128)  # the answer waits behind at most this
        for value in handshake_properties(self.address, self.token):
            self.outbound.setsockopt(zmq.METADATA, value)
        self.outbound.connect(endpoint)

    def pid(self, name: str) -> str:
        return f"{name}@{self.address[0]}:{self.address[1]}"

    def answer(self) -> int:
        """Answer every question waiting on the inbound socket; how many frames were read."""
        read = 0
        while True:
            try:
                frame = self.inbound.recv(zmq.NOBLOCK)
            except zmq.Again:
                return read
            read += 1
            answer = answer_challenges(self.codec, frame, self.token, self.pid(CONTROL_NAME))
            if answer is not None:
                self.outbound.send(answer)

    def close(self) -> None:
        self.outbound.close(linger=0)
        self.inbound.close(linger=0)
