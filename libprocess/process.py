"""The actor: a process with a PID, a serial mailbox and installed message handlers.

A process handles one event at a time, in arrival order: messages, dispatches,
timers, `exited` notices and the results of deferred I/O all pass through the same
mailbox. Handlers are plain functions; I/O that must be awaited goes through
`defer`, whose continuation comes back as a later event, so the mailbox is never
held across an `await` (libprocess's `defer`).
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from libprocess.clock import Timer, clock
from libprocess.errors import ProcessTerminated
from libprocess.message import Message
from libprocess.pid import PID

if TYPE_CHECKING:
    from libprocess.node import Node

M = TypeVar("M", bound=Message)
Handler = Callable[[PID, Any], None]

# How many events one turn of a process may run before yielding the loop to others.
_EVENTS_PER_TURN = 1024


class Process:
    """Base class of every actor. Override `initialize`, `finalize` and `exited`.

    `terminate_on_error`: if true, a handler that raises terminates the process;
    by default the error is logged with its traceback and the next event runs.
    """

    terminate_on_error = False

    def __init__(self, name: str | None = None) -> None:
        self._requested_name = name
        self.pid: PID = None  # type: ignore[assignment]  # set by Node.spawn
        self.node: Node = None  # type: ignore[assignment]
        self.log: structlog.stdlib.BoundLogger = structlog.get_logger()
        self._handlers: dict[type, Handler] = {}
        self._mailbox: deque[tuple[Callable[[Any, Any], None], Any, Any]] = deque()
        self._scheduled = False
        self._running = False
        self._terminate_requested = False
        self._terminated = False
        # Set whenever the loop in `_run` must stop and look: a termination requested
        # or done, or a hold. One check per event instead of one per reason.
        self._interrupted = False
        self._timers: set[Timer] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        # Dispatch results still waiting on a future the method returned: they fail
        # with ProcessTerminated if this process ends first, so no caller hangs.
        self._promised: set[asyncio.Future[Any]] = set()
        self._linked: set[PID] = set()
        # Backpressure (see libprocess.transport): held while a peer it sends to is
        # backlogged; wire messages let in since the mailbox was last empty, and
        # whether that count stopped the transport reading.
        self._held = False
        self._wire_queued = 0
        self._pausing_transport = False
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._done: asyncio.Future[None] = None  # type: ignore[assignment]

    # -- hooks -----------------------------------------------------------------

    def initialize(self) -> None:
        """Runs once, before any other event: install handlers here."""

    def finalize(self) -> None:
        """Runs once when the process terminates; no further events follow."""

    def exited(self, pid: PID) -> None:
        """A linked process terminated, or its node stopped answering."""

    # -- the actor's surface ---------------------------------------------------

    @property
    def terminated(self) -> bool:
        return self._terminated

    def install(self, message_type: type[M], handler: Callable[[PID, M], None]) -> None:
        """Route messages of `message_type` to `handler(sender, message)`."""
        self._handlers[message_type] = handler

    def send(self, to: PID, message: Message) -> None:
        """Fire and forget: at most once, in order per pair of processes."""
        self.node.send(self.pid, to, message)

    def link(self, pid: PID) -> None:
        """Ask for exactly one `exited(pid)` when `pid` terminates or its node is lost."""
        self.node.link(self, pid)

    def delay(self, seconds: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run `callback(*args)` in this process after `seconds` on the runtime clock."""
        timer = clock.timer(seconds, self._timer_fired, callback, args)
        self._timers.add(timer)
        return timer

    def later(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run `callback(*args)` in this process once the event loop has turned.

        It waits behind whatever is ready now: other processes' turns, the messages
        queued for other nodes (they leave first), frames that arrived. Long work
        done a chunk per `later` keeps the node answering; a chunk run as an event
        of its own (dispatch to self) would run in the same turn. Dropped if the
        process terminates first.
        """
        self._loop.call_soon(self._enqueue, _call_with_args, callback, args)

    def defer(
        self,
        awaitable: Awaitable[Any],
        continuation: Callable[[asyncio.Future[Any]], None],
    ) -> asyncio.Future[Any]:
        """Await `awaitable` off the mailbox; `continuation(done_future)` runs as an event.

        The continuation is dropped if the process terminates first; the awaitable
        is then cancelled.
        """
        future = asyncio.ensure_future(awaitable)
        self._tasks.add(future)

        def completed(done: asyncio.Future[Any]) -> None:
            self._tasks.discard(done)
            if not self._terminated:
                self._enqueue(_call_with, continuation, done)
            elif not done.cancelled():
                done.exception()  # consumed: nobody is left to read it

        future.add_done_callback(completed)
        return future

    def terminate(self) -> None:
        """Stop this process after the current event; pending events are dropped."""
        if self._running:
            self._terminate_requested = self._interrupted = True
        else:
            self._terminate_now()

    # -- runtime internals -----------------------------------------------------

    def _attach(self, node: Node, pid: PID) -> None:
        self.node = node
        self.pid = pid
        self._pid_text = str(pid)
        self._loop = node.loop
        self._done = node.loop.create_future()
        self.log = structlog.get_logger().bind(pid=self._pid_text)
        if type(self).send is Process.send:
            # Every send passes here: bind it straight to the node's router, one Python
            # frame less per message on the hottest path (unless a subclass overrides it).
            self.send = functools.partial(node.send, pid)  # type: ignore[method-assign]

    def _enqueue(self, fn: Callable[[Any, Any], None], a: Any, b: Any) -> None:
        if self._terminated:
            return
        self._mailbox.append((fn, a, b))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def _deliver(self, sender: PID, message: Message) -> None:
        """Queue a message; a type nobody installed is dropped when it is reached.

        `_enqueue` inlined: this runs once per message on the hot path.
        """
        if self._terminated:
            return
        handler = self._handlers.get(type(message)) or self._unhandled
        self._mailbox.append((handler, sender, message))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def _deliver_run(self, sender: PID, messages: list[Message]) -> None:
        """Queue messages of one type from one sender as one event (one handler lookup).

        A run is handled message by message in order, as if each were its own event;
        putting it in the mailbox whole saves a tuple and a mailbox turn per message.
        """
        if self._terminated or not messages:
            return
        handler = self._handlers.get(type(messages[0])) or self._unhandled
        if len(messages) == 1:
            self._mailbox.append((handler, sender, messages[0]))
        else:
            self._mailbox.append((self._handle_run, (handler, sender), messages))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def _handle_run(self, target: tuple[Handler, PID], messages: list[Message]) -> None:
        handler, sender = target
        for message in messages:
            try:
                handler(sender, message)
            except Exception:
                self._handler_failed(handler)
            if self._terminate_requested:
                return

    def _run(self) -> None:
        if self._held:
            return  # stays scheduled: `_release` runs it
        mailbox = self._mailbox
        budget = _EVENTS_PER_TURN
        self._running = True
        try:
            while mailbox and budget:
                budget -= 1
                fn, a, b = mailbox.popleft()
                try:
                    fn(a, b)
                except Exception:
                    self._handler_failed(fn)
                if self._interrupted:
                    if self._terminate_requested:
                        self._terminate_now()
                    if self._terminated or self._held:
                        return  # held: a peer it sends to is backlogged; `_release` runs it
        finally:
            self._running = False
        if mailbox:
            self._loop.call_soon(self._run)
            return
        self._scheduled = False
        self._wire_queued = 0
        if self._pausing_transport:
            self.node._mailbox_emptied(self)

    def _hold(self) -> None:
        """A peer this process sends to is backlogged: run no event until `_release`."""
        self._held = self._interrupted = True

    def _release(self) -> None:
        """The peer that held this process has taken its backlog: run what waits."""
        self._held = False
        self._interrupted = self._terminate_requested or self._terminated
        if self._scheduled and not self._terminated:
            self._loop.call_soon(self._run)

    def _handler_failed(self, fn: Callable[..., Any]) -> None:
        self.node.metrics["handler_errors"] += 1
        self.log.exception("handler_failed", handler=getattr(fn, "__qualname__", repr(fn)))
        if self.terminate_on_error:
            self._terminate_requested = self._interrupted = True

    def _unhandled(self, sender: PID, message: Message) -> None:
        self.node.count_drop("no_handler")
        self.log.warning(
            "dropping_message",
            message=type(message).__name__,
            sender=str(sender),
            reason="no handler installed",
        )

    def _timer_fired(self, timer: Timer) -> None:
        self._timers.discard(timer)
        self._enqueue(_fire_timer, timer, None)

    def _terminate_now(self) -> None:
        if self._terminated:
            return
        self._terminated = self._interrupted = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        pending = list(self._mailbox)
        self._mailbox.clear()
        promised = [future for fn, _call, future in pending if fn is _dispatch_event]
        for future in [*promised, *self._promised]:
            if not future.done():
                future.set_exception(ProcessTerminated(f"{self.pid} terminated"))
        self._promised.clear()
        if self._pausing_transport:
            self.node._mailbox_emptied(self)
        try:
            self.finalize()
        except Exception:
            self.log.exception("finalize_failed")
        self.node._process_terminated(self)
        if not self._done.done():
            self._done.set_result(None)


def _call_with(fn: Callable[[Any], None], argument: Any) -> None:
    fn(argument)


def _call_with_args(fn: Callable[..., None], args: tuple[Any, ...]) -> None:
    fn(*args)


def _fire_timer(timer: Timer, _unused: None) -> None:
    if not timer.cancelled:
        timer.callback(*timer.args)


def _dispatch_event(
    call: tuple[Process, Callable[..., Any], tuple[Any, ...]], future: asyncio.Future[Any]
) -> None:
    process, method, args = call
    if future.cancelled():
        return
    try:
        result = method(process, *args)
    except Exception as error:
        future.set_exception(error)
        return
    if asyncio.iscoroutine(result):
        result.close()
        future.set_exception(TypeError("dispatch targets must be plain methods; use defer"))
    elif isinstance(result, asyncio.Future):
        process._promised.add(future)
        future.add_done_callback(process._promised.discard)
        result.add_done_callback(lambda done: _copy_outcome(done, future))
    else:
        future.set_result(result)


def _copy_outcome(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())
