"""Registration backoff: the one retry schedule of the agent and both drivers.

Each attempt waits a random fraction of the current bound, then the bound
doubles up to `cap`; `reset` brings it back to `initial` (on connect, or when
the peer is lost and registration starts over). The three users differ only
in their numbers, as in Mesos:

    agent             uniform [0, b], b from --registration_backoff_factor to 60 s
    scheduler driver  uniform [b/2, b], b from 2 s to 60 s
    executor driver   exactly b, from 1 s to 10 s (no jitter)
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """`next()` returns the delay before the next attempt and doubles the bound.

    `jitter` is the (low, high) fraction of the bound a delay is drawn from;
    `minimum` keeps a zero bound from spinning. `rng` is a seam for tests.
    """

    def __init__(
        self,
        initial: float,
        cap: float,
        *,
        jitter: tuple[float, float] = (0.0, 1.0),
        minimum: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        low, high = jitter
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"jitter must be 0 <= low <= high <= 1, not {jitter}")
        if initial < 0 or cap < 0 or minimum < 0:
            raise ValueError("backoff durations must not be negative")
        self.initial = initial
        self.cap = cap
        self.jitter = jitter
        self.minimum = minimum
        self.rng = rng or random.Random()
        self.bound = initial

    def reset(self) -> None:
        self.bound = self.initial

    def next(self) -> float:
        low, high = self.jitter
        fraction = low if low == high else self.rng.uniform(low, high)
        delay = max(self.bound * fraction, self.minimum)
        self.bound = min(self.bound * 2, self.cap)
        return delay
