"""`/monitor/statistics`: each live executor's usage, as its container measures it.

Mesos answers from its isolators: here the containerizer's `usage` reads the
container's cgroup accounting (cgroups/cpu: cpuacct; cgroups/mem: memory.stat
and the limit; cgroups/pids: the processes) and, for what no cgroup isolator
measures, the container's session in /proc (posix/cpu, posix/mem: user and
system CPU seconds, the children it reaped included, and resident memory),
plus the container's limits and its last disk/du measure (agent.usage).

`usage_request` runs in the agent's actor (dispatch) and only collects what to
measure; `UsageRequest.measure` reads cgroupfs and /proc and belongs in a worker
thread.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from agent.containerizer import Container, Containerizer
from agent.state import ExecutorState
from agent.usage import PROC, usage_by_session

if TYPE_CHECKING:
    from agent.base import AgentBase

__all__ = ["ExecutorTarget", "UsageRequest", "usage_request"]


@dataclasses.dataclass(frozen=True)
class ExecutorTarget:
    """One executor to measure: who it is and its container."""

    executor_id: str
    executor_name: str
    framework_id: str
    source: str
    container: Container


@dataclasses.dataclass(frozen=True)
class UsageRequest:
    """The executors one answer measures, and the containerizer that measures them."""

    containerizer: Containerizer
    targets: list[ExecutorTarget]

    def measure(self, proc: Path = PROC) -> list[dict[str, Any]]:
        """Mesos's /monitor/statistics: one entry per executor with its `statistics`."""
        sessions = usage_by_session(proc) if self.targets and self.containerizer.reads_proc else {}
        return [
            {
                "executor_id": target.executor_id,
                "executor_name": target.executor_name,
                "framework_id": target.framework_id,
                "source": target.source,
                "container_id": target.container.container_id,
                "statistics": msgspec.to_builtins(
                    self.containerizer.usage(target.container, sessions)
                ),
            }
            for target in self.targets
        ]


def usage_request(agent: AgentBase) -> UsageRequest:
    """The executors with a running container (run inside the agent's actor)."""
    targets = [
        ExecutorTarget(
            executor_id=executor.id,
            executor_name=executor.info.name,
            framework_id=framework.id,
            source=executor.info.source,
            container=executor.container,
        )
        for framework in agent.frameworks.values()
        for executor in framework.executors.values()
        if executor.container is not None and executor.state is not ExecutorState.TERMINATED
    ]
    return UsageRequest(containerizer=agent.containerizer, targets=targets)
