"""The allocator: hierarchical weighted DRF with quota, reservations and filters.

Pure algorithm (no I/O, no clock of its own); the master's allocator actor
drives it. Modules, one job each:

    hierarchical  the allocator the master calls, and `allocate`
    cycle         one allocation cycle as a pipeline of stages
    roles         the role tree: hierarchical DRF and quota consumption
    sorter        the weighted DRF sorter with incremental shares
    quota         guarantees, limits and headroom
    filters       refused-offer filters, indexed by agent and framework
    records       agents, frameworks and the offers made
    metrics       rejection reasons and counters
    quantities    scalar quantity dicts, the bookkeeping currency
"""

from master.allocator.errors import AccountingError, AllocatorError, UnknownClientError
from master.allocator.hierarchical import (
    DEFAULT_MIN_ALLOCATABLE,
    GPU_RESOURCES,
    SHARED_RESOURCES,
    HierarchicalAllocator,
)
from master.allocator.metrics import (
    FILTERED,
    HEADROOM,
    INCAPABLE,
    NOT_ALLOCATABLE,
    QUOTA_LIMIT,
    REASONS,
)
from master.allocator.quota import Quota
from master.allocator.records import Allocation
from master.allocator.sorter import DRFSorter, Totals

__all__ = [
    "DEFAULT_MIN_ALLOCATABLE",
    "FILTERED",
    "GPU_RESOURCES",
    "HEADROOM",
    "INCAPABLE",
    "NOT_ALLOCATABLE",
    "QUOTA_LIMIT",
    "REASONS",
    "SHARED_RESOURCES",
    "AccountingError",
    "Allocation",
    "AllocatorError",
    "DRFSorter",
    "HierarchicalAllocator",
    "Quota",
    "Totals",
    "UnknownClientError",
]
