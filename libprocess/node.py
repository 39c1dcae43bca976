"""A node: one OS process's runtime, hosting processes behind one ZeroMQ endpoint.

The node owns the process table, routes messages (local ones straight into the
target's mailbox, never encoded; remote ones to the transport), keeps links and
turns terminations and lost peers into exactly one `exited` per link.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import structlog
import zmq

from libprocess import curve
from libprocess.errors import NodeError, ProcessTerminated
from libprocess.logging import ensure_configured
from libprocess.message import Message
from libprocess.pid import PID
from libprocess.process import Process, _dispatch_event
from libprocess.transport import Transport

log = structlog.get_logger()

DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024


class LinkRequest(Message, frozen=True, kw_only=True):
    """Node to node: the sender wants to hear when `target` (a name on the receiver) exits."""

    target: str


class ExitedNotice(Message, frozen=True, kw_only=True):
    """Node to node: the sending process terminated (or never existed)."""

    pid: str


class Node:
    """The runtime of one OS process (several may share one, e.g. in tests).

    Bind and advertise addresses default to the environment, as libprocess does:
    `LIBPROCESS_IP`, `LIBPROCESS_PORT`, `LIBPROCESS_ADVERTISE_IP`,
    `LIBPROCESS_ADVERTISE_PORT`. Port 0 binds an ephemeral port.

    `curve_keys` (default: `LIBPROCESS_CURVE_KEYS`) names a key directory: then
    every connection is CurveZMQ, and only allowed keys may connect
    (libprocess.curve; a bad directory raises CurveKeyError at once).
    """

    running: weakref.WeakSet[Node] = weakref.WeakSet()

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        advertise_host: str | None = None,
        advertise_port: int | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float = 3.0,
        curve_keys: str | os.PathLike[str] | None = None,
    ) -> None:
        env = os.environ
        self.bind_host = host or env.get("LIBPROCESS_IP", "127.0.0.1")
        self.bind_port = port if port is not None else int(env.get("LIBPROCESS_PORT", "0"))
        self._advertise_host = advertise_host or env.get("LIBPROCESS_ADVERTISE_IP")
        advertised = advertise_port or env.get("LIBPROCESS_ADVERTISE_PORT")
        self._advertise_port = int(advertised) if advertised else None
        self.max_frame_bytes = max_frame_bytes
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        # CurveZMQ on every connection when a key directory is given (libprocess.curve).
        key_directory = curve_keys or env.get(curve.ENVIRONMENT)
        self.curve: curve.CurveKeys | None = curve.load(key_directory) if key_directory else None
        self.host = ""
        self.port = 0
        self.metrics: Counter[str] = Counter()
        self.processes: dict[str, Process] = {}
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.transport: Transport | None = None
        self._anonymous = itertools.count(1)
        self._links: defaultdict[PID, set[Process]] = defaultdict(set)  # target -> local linkers
        self._remote_linkers: defaultdict[str, set[tuple[str, int]]] = defaultdict(set)
        self._started = False
        self._stopped = False

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> Node:
        """Bind the endpoint; from here on processes can be spawned and reached."""
        if self._started:
            return self
        ensure_configured()
        self.loop = asyncio.get_running_loop()
        self.transport = Transport(self)
        bound_host, bound_port = self.transport.bind(self.bind_host, self.bind_port)
        self.host = self._advertise_host or bound_host
        self.port = self._advertise_port or bound_port
        self._started = True
        Node.running.add(self)
        log.debug(
            "node_started", address=f"{self.host}:{self.port}", bound=f"{bound_host}:{bound_port}"
        )
        return self

    async def stop(self) -> None:
        """Terminate every process, flush what is queued, close the sockets."""
        if self._stopped or not self._started:
            return
        for process in list(self.processes.values()):
            process._terminate_now()
        self._stopped = True
        Node.running.discard(self)
        if self.transport is not None:
            await self.transport.close()

    async def __aenter__(self) -> Node:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def busy(self) -> bool:
        """Whether any event or outbound batch is waiting (used by `settle`)."""
        if any(p._scheduled for p in self.processes.values()):
            return True
        return self.transport is not None and self.transport.has_pending

    # -- processes -------------------------------------------------------------

    def spawn(self, process: Process) -> PID:
        """Give `process` a PID, run its `initialize`, and make it reachable."""
        if not self._started or self._stopped:
            raise NodeError("spawn needs a started node")
        if process.pid is not None:
            raise NodeError(f"{process.pid} was spawned already")
        name = (
            process._requested_name or f"{type(process).__name__.lower()}({next(self._anonymous)})"
        )
        if name in self.processes:
            raise NodeError(f"a process named {name!r} already runs on {self.host}:{self.port}")
        pid = PID(name, self.host, self.port)
        process._attach(self, pid)
        self.processes[name] = process
        try:
            process.initialize()
        except Exception:
            del self.processes[name]
            process._terminated = True
            raise
        return pid

    def terminate(self, pid: PID) -> None:
        """Terminate a local process: it handles no further events."""
        process = self.processes.get(pid.name) if self._is_local(pid) else None
        if process is not None:
            process.terminate()

    async def wait(self, pid: PID) -> None:
        """Return once the local process `pid` has terminated (at once if it is not running)."""
        process = self.processes.get(pid.name) if self._is_local(pid) else None
        if process is not None:
            await asyncio.shield(process._done)

    def dispatch(
        self, pid: PID, method: Callable[..., Any] | str, *args: Any
    ) -> asyncio.Future[Any]:
        """Run `method(process, *args)` in the target's serial context; await the result.

        `method` is an unbound function or a method name. A method returning an
        asyncio Future resolves the call when that future does. If the process is
        gone, or terminates first, the result is ProcessTerminated.
        """
        future: asyncio.Future[Any] = self.loop.create_future()
        process = self.processes.get(pid.name) if self._is_local(pid) else None
        if process is None or process._terminated:
            future.set_exception(ProcessTerminated(f"{pid} is not running on this node"))
            return future
        function = getattr(type(process), method) if isinstance(method, str) else method
        process._enqueue(_dispatch_event, (process, function, args), future)
        return future

    # -- messages --------------------------------------------------------------

    def send(self, sender: PID, to: PID, message: Message) -> None:
        """Route a message: straight into a local mailbox, or to the transport."""
        if to.port == self.port and to.host == self.host:
            process = self.processes.get(to.name)
            if process is None:
                self.count_drop("no_such_process")
                log.debug(
                    "dropping_message",
                    to=str(to),
                    message=type(message).__name__,
                    reason="no such process",
                )
                return
            process._deliver(sender, message)
            return
        if self.transport is None or self._stopped:
            return
        self.transport.send(to, sender, message)

    def open_channel(self, address: tuple[str, int]) -> zmq.Socket[bytes]:
        """A raw PUSH socket to the node at `address` that speaks for this node.

        For tools that write frames themselves (fuzzers, tests): see
        `Transport.open_channel`. Its runs must be sent as PIDs of this node.
        """
        if self.transport is None or self._stopped:
            raise NodeError("open_channel needs a started node")
        return self.transport.open_channel(address)

    def deliver_remote(self, sender: PID, to_name: str, message: Message) -> None:
        """A message decoded by the transport, for a process (or the node itself, name '')."""
        if not to_name:
            self._control(sender, message)
            return
        process = self.processes.get(to_name)
        if process is None:
            self.count_drop("no_such_process")
            log.warning(
                "dropping_message",
                to=to_name,
                sender=str(sender),
                message=type(message).__name__,
                reason="no such process",
            )
            return
        process._deliver(sender, message)

    def _mailbox_emptied(self, process: Process) -> None:
        """A process whose full mailbox stopped the transport reading has emptied it."""
        if self.transport is not None:
            self.transport.resume_reading(process)
        else:
            process._pausing_transport = False

    def count_drop(self, reason: str, count: int = 1) -> None:
        self.metrics["dropped_messages"] += count
        self.metrics[f"dropped_messages/{reason}"] += count

    # -- links -----------------------------------------------------------------

    def link(self, linker: Process, target: PID) -> None:
        linker._linked.add(target)
        if self._is_local(target):
            if target.name not in self.processes:
                linker._enqueue(_exited_event, linker, target)
                return
            self._links[target].add(linker)
            return
        first = target not in self._links
        self._links[target].add(linker)
        if first and self.transport is not None:
            self.transport.watch(target.address)
            self.transport.send(
                _node_at(target.address), linker.pid, LinkRequest(target=target.name)
            )

    def _control(self, sender: PID, message: Message) -> None:
        if isinstance(message, LinkRequest):
            if message.target in self.processes:
                self._remote_linkers[message.target].add(sender.address)
            else:
                self._notify_exited(PID(message.target, self.host, self.port), sender.address)
        elif isinstance(message, ExitedNotice):
            try:
                pid = PID.parse(message.pid)
            except ValueError:
                self.count_drop("bad_control")
                return
            if pid.address != sender.address:
                # A node speaks only for its own processes (a genuine notice comes from
                # the exited PID itself): another node's process is not ended by hearsay.
                self.count_drop("bad_control")
                log.warning(
                    "dropping_message",
                    message="ExitedNotice",
                    sender=str(sender),
                    reason=f"{pid} is not a process of the sender's node",
                )
                return
            self._fire_exited(pid)
        else:
            self.count_drop("bad_control")
            log.warning(
                "dropping_message", message=type(message).__name__, reason="not a control message"
            )

    def _notify_exited(self, pid: PID, address: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.send(_node_at(address), pid, ExitedNotice(pid=str(pid)))

    def _fire_exited(self, target: PID) -> None:
        for linker in self._links.pop(target, ()):
            if not linker._terminated:
                linker._linked.discard(target)
                linker._enqueue(_exited_event, linker, target)

    def peer_lost(self, address: tuple[str, int]) -> None:
        """The transport lost `address`: every link to a process there fires."""
        for target in [pid for pid in self._links if pid.address == address]:
            self._fire_exited(target)
        for watchers in self._remote_linkers.values():
            watchers.discard(address)

    def _process_terminated(self, process: Process) -> None:
        name = process.pid.name
        if self.processes.get(name) is process:
            del self.processes[name]
        for target in process._linked:
            linkers = self._links.get(target)
            if linkers is not None:
                linkers.discard(process)
                if not linkers and not self._is_local(target):
                    del self._links[target]
        self._fire_exited(process.pid)
        for address in self._remote_linkers.pop(name, ()):
            self._notify_exited(process.pid, address)

    def _is_local(self, pid: PID) -> bool:
        return pid.port == self.port and pid.host == self.host


def _node_at(address: tuple[str, int]) -> PID:
    """The node itself at `address` (the empty name): where control messages go."""
    return PID("", *address)


def _exited_event(process: Process, pid: PID) -> None:
    process.exited(pid)
