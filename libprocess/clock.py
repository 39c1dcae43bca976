"""The runtime's one clock: real by default; tests pause it, advance it and settle.

Every timer in the runtime (process `delay`s, and through them every timeout in
zmesos) goes through `clock`, so a test can make ten minutes pass in a microsecond.
While paused, time stands still until `advance` moves it; timers whose deadline
falls inside the advanced span fire in deadline order, each as an event in its
owner's mailbox. On `resume` the clock continues from the advanced time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any


class Timer:
    """A pending callback; `cancel()` is idempotent and safe after it fired."""

    __slots__ = ("_fire", "_handle", "args", "callback", "cancelled", "deadline", "sequence")

    def __init__(
        self,
        deadline: float,
        sequence: int,
        fire: Callable[[Timer], None],
        callback: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        self.deadline = deadline
        self.sequence = sequence
        self._fire = fire
        self.callback = callback
        self.args = args
        self.cancelled = False
        self._handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def __lt__(self, other: Timer) -> bool:
        return (self.deadline, self.sequence) < (other.deadline, other.sequence)


class Clock:
    """Wall-clock seconds, pausable. One instance, `clock`, serves the process."""

    def __init__(self) -> None:
        self._offset = 0.0  # added to time.time(): how far tests have moved time
        self._paused_at: float | None = None
        self._sequence = itertools.count()
        self._pending: list[Timer] = []  # heap, used while paused
        self._real: set[Timer] = set()  # scheduled on the event loop, while running

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def now(self) -> float:
        """Seconds since the epoch, as the runtime sees them."""
        if self._paused_at is not None:
            return self._paused_at
        return time.time() + self._offset

    def timer(
        self,
        seconds: float,
        fire: Callable[[Timer], None],
        callback: Callable[..., Any],
        args: tuple[Any, ...] = (),
    ) -> Timer:
        """Call `fire(timer)` once `seconds` have passed on this clock."""
        timer = Timer(self.now() + max(seconds, 0.0), next(self._sequence), fire, callback, args)
        if self._paused_at is not None:
            heapq.heappush(self._pending, timer)
        else:
            self._schedule_real(timer)
        return timer

    def pause(self) -> None:
        """Stop time; timers scheduled for real move to the paused heap."""
        if self._paused_at is not None:
            return
        self._paused_at = self.now()
        for timer in self._real:
            if timer._handle is not None:
                timer._handle.cancel()
                timer._handle = None
            if not timer.cancelled:
                heapq.heappush(self._pending, timer)
        self._real.clear()

    def advance(self, seconds: float) -> None:
        """Move paused time forward, firing the timers that fall due, in deadline order."""
        if self._paused_at is None:
            raise RuntimeError("advance() needs a paused clock")
        target = self._paused_at + seconds
        while self._pending and self._pending[0].deadline <= target:
            timer = heapq.heappop(self._pending)
            if not timer.cancelled:
                self._paused_at = max(self._paused_at, timer.deadline)
                timer._fire(timer)
        self._paused_at = target

    def resume(self) -> None:
        """Let time run again from where it was paused (or advanced) to."""
        if self._paused_at is None:
            return
        self._offset = self._paused_at - time.time()
        self._paused_at = None
        pending, self._pending = self._pending, []
        for timer in pending:
            if not timer.cancelled:
                self._schedule_real(timer)

    def reset(self) -> None:
        """Forget every timer and run on real time again (between tests)."""
        for timer in [*self._real, *self._pending]:
            timer.cancel()
        self._real.clear()
        self._pending.clear()
        self._paused_at = None
        self._offset = 0.0

    def _schedule_real(self, timer: Timer) -> None:
        loop = asyncio.get_running_loop()
        self._real.add(timer)

        def expire() -> None:
            self._real.discard(timer)
            timer._handle = None
            if not timer.cancelled:
                timer._fire(timer)

        timer._handle = loop.call_later(max(timer.deadline - self.now(), 0.0), expire)


clock = Clock()
