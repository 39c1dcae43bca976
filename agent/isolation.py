"""Isolators: what `--isolation` names, what the machine allows, and a container's limits.

Mesos's names, comma-separated:
- `cgroups/cpu`: cpu.shares from `cpus` (1024 per cpu); with
  `--cgroups-enable-cfs` a CFS quota of `cpus` x 100 ms per 100 ms period, so
  a container cannot use more. Usage from cpuacct.
- `cgroups/mem`: a hard memory limit from `mem`; the kernel kills a process of
  a container over it and its task ends TASK_FAILED, REASON_CONTAINER_LIMITATION_MEMORY.
- `cgroups/pids`: counts a container's processes; `--cgroups-max-pids` caps them.
- `posix/cpu`, `posix/mem`: usage only (from /proc), no limit; they stand in
  where no cgroup is writable.
- `disk/du`: `du` of each sandbox and volume every `--container-disk-watch-interval`;
  with `--enforce-container-disk-quota` a container over its `disk` is killed,
  REASON_CONTAINER_LIMITATION_DISK.

Any cgroups isolator also puts every process of the container in its cgroup,
which is how a kill reaches every one of them (agent.cgroups). Left empty, the
agent takes what the machine has: the cgroups isolators where cgroups are
writable (cgroup v1 or v2), else the posix ones; and disk/du.
"""

from __future__ import annotations

import dataclasses

from agent.cgroups import Hierarchies
from agent.errors import FlagsError

__all__ = [
    "CGROUP_ISOLATORS",
    "ISOLATORS",
    "Isolation",
    "Limits",
    "parse_isolation",
]

# Each cgroups isolator and the controllers it needs.
CGROUP_ISOLATORS: dict[str, tuple[str, ...]] = {
    "cgroups/cpu": ("cpu", "cpuacct"),
    "cgroups/mem": ("memory",),
    "cgroups/pids": ("pids",),
}
POSIX_ISOLATORS = ("posix/cpu", "posix/mem")
ISOLATORS = (*CGROUP_ISOLATORS, *POSIX_ISOLATORS, "disk/du")
_EXCLUSIVE = (("cgroups/cpu", "posix/cpu"), ("cgroups/mem", "posix/mem"))
_MB = 1024 * 1024


def parse_isolation(text: str) -> tuple[str, ...]:
    """`cgroups/cpu,cgroups/mem` -> the names, in order; FlagsError (one line) when bad.

    The empty string is the empty tuple: "what the machine has" (see `Isolation.choose`).
    """
    if not text.strip():
        return ()
    names: list[str] = []
    for entry in text.split(","):
        name = entry.strip()
        if name not in ISOLATORS:
            raise FlagsError(
                f"--isolation: unknown isolator {name!r}; known: {', '.join(ISOLATORS)}"
            )
        if name in names:
            raise FlagsError(f"--isolation: {name!r} is given twice")
        names.append(name)
    for one, other in _EXCLUSIVE:
        if one in names and other in names:
            raise FlagsError(f"--isolation: {one} and {other} cannot both be used")
    return tuple(names)


@dataclasses.dataclass(frozen=True)
class Limits:
    """A container's share: from its executor's and tasks' resources (agent.container_monitor)."""

    cpus: float = 0.0
    mem_mb: float = 0.0
    disk_mb: float = 0.0

    @property
    def mem_bytes(self) -> int:
        return int(self.mem_mb * _MB)

    @property
    def disk_bytes(self) -> int:
        return int(self.disk_mb * _MB)


@dataclasses.dataclass(frozen=True)
class Isolation:
    """The isolators in use, the cgroup hierarchies behind them, and their settings."""

    isolators: tuple[str, ...] = ()
    hierarchies: Hierarchies | None = None
    cfs: bool = False
    max_pids: int = 0  # 0: no limit

    @classmethod
    def choose(
        cls,
        asked: tuple[str, ...],
        hierarchies: Hierarchies | None,
        *,
        cfs: bool = False,
        max_pids: int = 0,
    ) -> Isolation:
        """The isolators `asked` for (all checked against the machine), or by default what
        the machine has; FlagsError when a cgroups isolator cannot work here."""
        controllers = hierarchies.available if hierarchies is not None else frozenset()
        if not asked:
            chosen = [
                name for name, needs in CGROUP_ISOLATORS.items() if controllers.issuperset(needs)
            ]
            if "cgroups/cpu" not in chosen:
                chosen.append("posix/cpu")
            if "cgroups/mem" not in chosen:
                chosen.append("posix/mem")
            chosen.append("disk/du")
            asked = tuple(chosen)
        for name in asked:
            missing = [c for c in CGROUP_ISOLATORS.get(name, ()) if c not in controllers]
            if missing:
                raise FlagsError(
                    f"--isolation: {name} needs the cgroup {' and '.join(missing)} "
                    "controller, which is not mounted or not writable here"
                )
        needed = {c for name in asked for c in CGROUP_ISOLATORS.get(name, ())}
        if hierarchies is not None and needed:
            # Only the hierarchies of the isolators in use; the freezer for kills.
            used = controllers & (needed | {"freezer"})
            hierarchies = dataclasses.replace(hierarchies, controllers=frozenset(used))
        return cls(
            isolators=asked,
            hierarchies=hierarchies if needed else None,
            cfs=cfs,
            max_pids=max_pids,
        )

    def uses(self, name: str) -> bool:
        return name in self.isolators

    @property
    def cgroups(self) -> bool:
        """Whether containers get a cgroup (any cgroups isolator is in use)."""
        return self.hierarchies is not None

    def describe(self) -> str:
        """For the agent's start log: the isolators and the cgroup hierarchies."""
        described = ",".join(self.isolators) or "none"
        if self.hierarchies is not None:
            described += f" on cgroup {self.hierarchies.describe()}"
        return described
