"""`GET /metrics`: the master's metrics in Prometheus's text format (prometheus-client).

Beside `/metrics/snapshot` (Mesos's names, unchanged), for a Prometheus server
to scrape. Families with labels where a dashboard wants to group:

    zmesos_tasks{state}                      tasks the master knows now, by state (gauge)
    zmesos_tasks_terminal_total{state}       tasks that reached each terminal state (counter)
    zmesos_agents{status}                    active, inactive, disconnected, unreachable (gauge)
    zmesos_frameworks{status}                active, inactive, disconnected, completed (gauge)
    zmesos_offers_total                      offers sent to frameworks (counter; rate() is offers/s)
    zmesos_messages_dropped_total{reason}    messages refused or dropped, by why (counter)
    zmesos_allocation_cycle_seconds          wall-clock time of each allocation run (histogram)
    zmesos_resources{resource,kind}          cpus, mem, disk, gpus: total and used (gauge)

and every `/metrics/snapshot` value as a gauge named after it
(`master/tasks_running` -> `zmesos_master_tasks_running`). The numbers are read
inside the master's and allocator's actors (dispatch) and rendered here, once
per scrape, into a registry of their own: no global state is shared between
masters of one process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from master.allocator.metrics import CycleTimes
from master.views import metrics_view
from zmesos.protocol import TaskState

if TYPE_CHECKING:
    from master.master import Master

__all__ = ["CONTENT_TYPE", "prometheus_inputs", "prometheus_text"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The transport's counters of what it dropped, and the reason label each becomes.
_NODE_DROPS = {
    "messages_dropped_backpressure": "backpressure",
    "messages_dropped_encode": "encode_failed",
    "messages_dropped_closed": "connection_closed",
    "invalid_frames": "invalid_frame",
}
_NOT_A_NAME = re.compile(r"[^a-zA-Z0-9_]")


def prometheus_inputs(master: Master) -> dict[str, Any]:
    """What /metrics needs from the master, read in its actor (dispatch this)."""
    cluster = master.cluster
    live: dict[str, int] = {}
    for task in cluster.tasks():
        live[str(task.state)] = live.get(str(task.state), 0) + 1
    agents = list(cluster.agents.values())
    frameworks = list(cluster.frameworks.values())
    return {
        "snapshot": metrics_view(master),
        "node": dict(master.node.metrics),
        "master_dropped": master.metrics["dropped_messages"],
        "tasks": live,
        "terminal": {
            str(state): master.metrics[f"tasks_{state.removeprefix('TASK_').lower()}"]
            for state in TaskState
            if state.terminal
        },
        "agents": {
            "active": sum(agent.active for agent in agents),
            "inactive": sum(not agent.active for agent in agents),
            "disconnected": sum(not agent.connected for agent in agents),
            "unreachable": len(master.registrar.registry.unreachable),
        },
        "frameworks": {
            "active": sum(framework.active for framework in frameworks),
            "inactive": sum(not framework.active for framework in frameworks),
            "disconnected": sum(not framework.connected for framework in frameworks),
            "completed": len(cluster.completed_frameworks),
        },
    }


def prometheus_text(
    inputs: dict[str, Any], allocator: dict[str, float], cycles: CycleTimes
) -> bytes:
    """The exposition text of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(list(_families(inputs, allocator, cycles))))
    return generate_latest(registry)


class _Scrape(Collector):
    """One scrape's metric families, collected once."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _families(
    inputs: dict[str, Any], allocator: dict[str, float], cycles: CycleTimes
) -> Iterator[Metric]:
    tasks = GaugeMetricFamily(
        "zmesos_tasks", "Tasks the master knows now, by state", labels=["state"]
    )
    for state in TaskState:
        if not state.terminal:
            tasks.add_metric([str(state)], float(inputs["tasks"].get(str(state), 0)))
    yield tasks
    terminal = CounterMetricFamily(
        "zmesos_tasks_terminal", "Tasks that reached each terminal state", labels=["state"]
    )
    for state, count in sorted(inputs["terminal"].items()):
        terminal.add_metric([state], float(count))
    yield terminal
    for kind, what in (("agents", "Agents"), ("frameworks", "Frameworks")):
        family = GaugeMetricFamily(f"zmesos_{kind}", f"{what} by status", labels=["status"])
        for status, count in inputs[kind].items():
            family.add_metric([status], float(count))
        yield family
    snapshot: dict[str, float] = inputs["snapshot"]
    yield CounterMetricFamily(
        "zmesos_offers",
        "Offers sent to frameworks (rate() gives offers per second)",
        value=snapshot.get("master/offers_sent", 0.0),
    )
    yield _dropped(inputs)
    buckets = [(_bound(bound), float(count)) for bound, count in cycles.cumulative()]
    yield HistogramMetricFamily(
        "zmesos_allocation_cycle_seconds",
        "Wall-clock time of each allocation run",
        buckets=buckets,
        sum_value=cycles.total,
    )
    resources = GaugeMetricFamily(
        "zmesos_resources", "Resources of the registered agents", labels=["resource", "kind"]
    )
    for name in ("cpus", "mem", "disk", "gpus"):
        for kind in ("total", "used"):
            resources.add_metric([name, kind], snapshot.get(f"master/{name}_{kind}", 0.0))
    yield resources
    for name, value in sorted({**snapshot, **allocator}.items()):
        yield GaugeMetricFamily(
            "zmesos_" + _NOT_A_NAME.sub("_", name), f"{name} (as in /metrics/snapshot)", value=value
        )


def _dropped(inputs: dict[str, Any]) -> Metric:
    node: dict[str, int] = inputs["node"]
    by_reason: dict[str, float] = {}
    for key, count in node.items():
        reason = _NODE_DROPS.get(key)
        if key.startswith("dropped_messages/"):
            reason = key.removeprefix("dropped_messages/")
        if reason is not None:
            by_reason[reason] = by_reason.get(reason, 0.0) + count
    by_reason["refused_by_master"] = float(inputs["master_dropped"])
    family = CounterMetricFamily(
        "zmesos_messages_dropped", "Messages refused or dropped, by reason", labels=["reason"]
    )
    for reason, total in sorted(by_reason.items()):
        family.add_metric([reason], total)
    return family


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
