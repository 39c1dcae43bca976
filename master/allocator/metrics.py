"""Why offers were not made: reason constants and the allocator's counters.

Every place the allocation loop passes over a candidate records one of these
reasons, so "why was nothing offered to framework F" has an answer: the
cycle's counters say how often each reason struck, and `last_rejection` keeps
the latest reason per framework (and per role, for roles that got nothing).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = [
    "CYCLE_BUCKETS",
    "FILTERED",
    "HEADROOM",
    "INCAPABLE",
    "NOT_ALLOCATABLE",
    "QUOTA_LIMIT",
    "REASONS",
    "AllocatorMetrics",
    "CycleTimes",
]

# The framework declined these resources on this agent and the filter still holds.
FILTERED = "filtered"
# What the role could get here is below the minimum allocatable (cpus 0.01 or mem 32,
# or the framework's own `offer_filters` minimum for the role).
NOT_ALLOCATABLE = "not_allocatable"
# The role's (or an ancestor's) quota limit leaves no room for unreserved resources.
QUOTA_LIMIT = "quota_limit"
# Unreserved resources are held back for other roles' unmet guarantees.
HEADROOM = "headroom"
# The agent has gpus and the framework lacks the GPU_RESOURCES capability.
INCAPABLE = "incapable"

REASONS = (FILTERED, NOT_ALLOCATABLE, QUOTA_LIMIT, HEADROOM, INCAPABLE)


@dataclass(slots=True)
class AllocatorMetrics:
    """Counters since the allocator started."""

    allocation_runs: int = 0
    offers: int = 0
    quota_offers: int = 0
    rejections: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    # framework id (or "role:<name>") -> the latest reason it was passed over
    last_rejection: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> dict[str, object]:
        """A plain dict for /metrics and /state."""
        return {
            "allocation_runs": self.allocation_runs,
            "offers": self.offers,
            "quota_offers": self.quota_offers,
            "rejections": dict(self.rejections),
        }


# Upper bounds (seconds) of the allocation run time histogram's buckets.
CYCLE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(slots=True)
class CycleTimes:
    """How long allocation runs took (wall-clock seconds), as a histogram over CYCLE_BUCKETS."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(CYCLE_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0
    last: float = 0.0
    longest: float = 0.0

    def record(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(CYCLE_BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1
        self.last = seconds
        self.longest = max(self.longest, seconds)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, runs that took at most that long), ending with (inf, every run)."""
        result: list[tuple[float, int]] = []
        running = 0
        for bound, count in zip((*CYCLE_BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            result.append((bound, running))
        return result
