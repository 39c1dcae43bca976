"""Why offers were not made: reason constants and the allocator's counters.

Every place the allocation loop passes over a candidate records one of these
reasons, so "why was nothing offered to framework F" has an answer: the
cycle's counters say how often each reason struck, and `last_rejection` keeps
the latest reason per framework (and per role, for roles that got nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "FILTERED",
    "HEADROOM",
    "INCAPABLE",
    "NOT_ALLOCATABLE",
    "QUOTA_LIMIT",
    "REASONS",
    "AllocatorMetrics",
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
