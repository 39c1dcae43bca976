"""What the operator HTTP shows: the master's state and metrics as JSON-ready dicts.

Pure functions of a Master's state, called inside the master's actor (by
`dispatch`), never from outside it. Shapes follow Mesos's `/state` and
`/metrics/snapshot` where Mesos has them, with `slaves` alongside `agents`
for tools that read Mesos's names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from master.authorization import Viewer
from master.state import MasterAgent, MasterFramework, MasterTask
from zmesos.http.shapes import format_flags, resources_json
from zmesos.protocol import TaskState
from zmesos.resources import Resources
from zmesos.v1.objects import check_status_to_v1
from zmesos.v1.resources import resources_to_v1

if TYPE_CHECKING:
    from master.master import Master

__all__ = [
    "agent_http_address",
    "agent_json",
    "allocated_by_role",
    "framework_json",
    "metrics_view",
    "offered_by_role",
    "resources_json",
    "state_view",
    "task_json",
]


def task_json(task: MasterTask) -> dict[str, Any]:
    statuses = [
        {
            "state": str(s.state),
            "timestamp": s.timestamp,
            "message": s.message,
            **({} if s.healthy is None else {"healthy": s.healthy}),
            **(
                {}
                if s.check_status is None
                else {"check_status": check_status_to_v1(s.check_status)}
            ),
        }
        for s in task.statuses
    ]
    return {
        "id": task.id,
        "name": task.info.name,
        "framework_id": task.framework_id,
        "executor_id": task.executor_id if task.info.executor is not None else "",
        "slave_id": task.agent_id,
        "agent_id": task.agent_id,
        "state": str(task.state),
        "role": task.role or "*",
        "resources": resources_json(task.resources),
        "statuses": statuses,
        "labels": [{"key": k, "value": v} for k, v in task.info.labels.items()],
    }


def agent_http_address(agent: MasterAgent) -> str:
    """`host:port` of the agent's HTTP (its /state, /files): the host its actor runs on
    (the address it binds and advertises) and the port it reported."""
    return f"{agent.pid.host}:{agent.info.port or agent.pid.port}"


def agent_json(
    agent: MasterAgent, offered: Resources, viewer: Viewer | None = None
) -> dict[str, Any]:
    """An agent as /state and /slaves show it; its reservations only for the roles `viewer`
    may see (view_roles), as Mesos leaves the others out."""
    seeing = viewer or Viewer()
    roles = [role for role in sorted({r.role for r in agent.total.reserved()}) if seeing.role(role)]
    return {
        "id": agent.id,
        "pid": str(agent.pid),
        "hostname": agent.hostname,
        "port": agent.info.port or agent.pid.port,
        "http_address": agent_http_address(agent),
        "registered_time": agent.registered_time,
        "reregistered_time": agent.reregistered_time,
        "resources": resources_json(agent.total),
        "used_resources": resources_json(agent.used),
        "offered_resources": resources_json(offered),
        "reserved_resources": {role: resources_json(agent.total.reserved(role)) for role in roles},
        "unreserved_resources": resources_json(agent.total.unreserved()),
        "reserved_resources_full": {
            role: resources_to_v1(seeing.resources(agent.total.reserved(role))) for role in roles
        },
        "attributes": dict(agent.info.attributes),
        "active": agent.active,
        "connected": agent.connected,
    }


def allocated_by_role(master: Master, agent: MasterAgent) -> dict[str | None, Resources]:
    """What `agent` has allocated, by the role it is allocated to (None: its framework is
    not known): a task's by the role of the offer it was launched on, else its framework's
    first role; an executor's by the role of a task it runs, else its framework's."""
    frameworks = master.cluster.frameworks

    def role_of(framework_id: str, role: str | None) -> str | None:
        if role:
            return role
        framework = frameworks.get(framework_id)
        return framework.roles[0] if framework is not None else None

    by_role: dict[str | None, Resources] = {}
    executor_roles: dict[tuple[str, str], str | None] = {}
    for task in agent.tasks.values():
        if task.released:
            continue
        role = role_of(task.framework_id, task.role)
        executor_roles.setdefault((task.framework_id, task.executor_id), role)
        by_role[role] = by_role.get(role, Resources()) + task.resources
    for framework_id, executors in agent.executors.items():
        for executor_id, executor in executors.items():
            role = executor_roles.get((framework_id, executor_id)) or role_of(framework_id, None)
            by_role[role] = by_role.get(role, Resources()) + Resources(executor.resources)
    return by_role


def offered_by_role(master: Master, agent_id: str) -> dict[str | None, Resources]:
    """What is offered of agent `agent_id`, by the role each offer is made to."""
    by_role: dict[str | None, Resources] = {}
    for outstanding in master.offers.of_agent(agent_id):
        role = outstanding.role
        by_role[role] = by_role.get(role, Resources()) + outstanding.resources
    return by_role


def framework_json(
    master: Master, framework: MasterFramework, completed: bool, viewer: Viewer | None = None
) -> dict[str, Any]:
    info = framework.info
    seeing = viewer or Viewer()

    def tasks(records: Iterable[MasterTask]) -> list[dict[str, Any]]:
        return [task_json(t) for t in records if seeing.task(t.info, info)]

    offers = [] if completed else master.offers.of_framework(framework.id)
    used = sum((t.resources for t in framework.tasks.values()), Resources())
    for executors in framework.executors.values():
        for executor in executors.values():
            used = used + Resources(executor.resources)
    offered = sum((o.resources for o in offers), Resources())
    return {
        "id": framework.id,
        "name": info.name,
        "user": info.user,
        "pid": "" if framework.pid is None else str(framework.pid),
        "hostname": info.hostname,
        "principal": info.principal,
        "roles": list(framework.roles),
        "role": framework.roles[0],
        "failover_timeout": info.failover_timeout,
        "checkpoint": info.checkpoint,
        "capabilities": list(info.capabilities),
        "webui_url": info.webui_url,
        "active": framework.active,
        "connected": framework.connected,
        "recovered": False,
        "registered_time": framework.registered_time,
        "reregistered_time": framework.reregistered_time,
        "unregistered_time": framework.unregistered_time,
        "resources": resources_json(used + offered),
        "used_resources": resources_json(used),
        "offered_resources": resources_json(offered),
        "tasks": tasks(framework.tasks.values()),
        "unreachable_tasks": tasks(framework.unreachable_tasks.values()),
        "completed_tasks": tasks(framework.completed_tasks),
        "offers": [
            {
                "id": o.id,
                "framework_id": o.framework_id,
                "slave_id": o.agent_id,
                "agent_id": o.agent_id,
                "role": o.role,
                "resources": resources_json(o.resources),
            }
            for o in offers
        ],
        "executors": [
            {
                "executor_id": executor_id,
                "name": executor.name,
                "type": str(executor.type or "CUSTOM"),
                "framework_id": framework.id,
                "resources": resources_json(Resources(executor.resources)),
                "slave_id": agent_id,
                "agent_id": agent_id,
            }
            for agent_id, executors in framework.executors.items()
            for executor_id, executor in executors.items()
            if seeing.executor(info)
        ],
    }


def state_view(master: Master, viewer: Viewer | None = None) -> dict[str, Any]:
    """Mesos's /state; `viewer` leaves out what its principal may not see (the ACLs)."""
    viewer = viewer or Viewer()
    cluster = master.cluster
    agents = [
        agent_json(agent, master.offers.offered_on(agent.id), viewer)
        for agent in cluster.agents.values()
        if viewer.agent(agent.hostname)
    ]
    frameworks = [
        framework_json(master, f, False, viewer)
        for f in cluster.frameworks.values()
        if viewer.framework(f.info)
    ]
    completed = [
        framework_json(master, f, True, viewer)
        for f in cluster.completed_frameworks
        if viewer.framework(f.info)
    ]
    active_agents = sum(1 for agent in cluster.agents.values() if agent.active)
    registry = master.registrar.registry
    leader = master.leader
    return {
        "version": master.info.version or "0.1.0",
        "id": master.id,
        "pid": str(master.pid),
        "hostname": master.info.hostname,
        "leader": leader.pid if leader is not None else "",
        "leader_info": msgspec.to_builtins(leader) if leader is not None else {},
        "elected": master.leading,
        "registry": {
            "store": master.registrar.store.kind,
            "generation": registry.generation,
            "recovered": master.recovered,
        },
        "recovered_slaves": [
            msgspec.to_builtins(registry.agents[agent_id])
            for agent_id in sorted(master.awaiting_reregistration)
            if agent_id in registry.agents
        ],
        "unreachable_slaves_info": [
            {"id": agent_id, "unreachable_time": time}
            for agent_id, time in sorted(registry.unreachable.items())
        ],
        "gone_slaves": [
            {"id": agent_id, "gone_time": time} for agent_id, time in sorted(registry.gone.items())
        ],
        "start_time": master.start_time,
        "elected_time": master.start_time,
        "activated_slaves": active_agents,
        "deactivated_slaves": len(cluster.agents) - active_agents,
        "unreachable_slaves": len(registry.unreachable),
        **({"flags": format_flags(master.flags)} if viewer.flags() else {}),
        "agents": agents,
        "slaves": agents,
        "frameworks": frameworks,
        "completed_frameworks": completed,
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }


def metrics_view(master: Master) -> dict[str, float]:
    """Mesos's `master/...` names where they exist, plus ours; every value a number."""
    from libprocess import clock

    cluster = master.cluster
    counters = master.metrics
    node = master.node.metrics
    metrics: dict[str, float] = {
        "master/elected": 1.0 if master.leading else 0.0,
        "master/recovered": 1.0 if master.recovered else 0.0,
        "master/uptime_secs": clock.now() - master.start_time,
    }
    # Tasks: gauges of live states, counters of terminal ones.
    live: dict[TaskState, int] = {}
    for task in cluster.tasks():
        live[task.state] = live.get(task.state, 0) + 1
    for state in (
        TaskState.STAGING,
        TaskState.STARTING,
        TaskState.RUNNING,
        TaskState.KILLING,
        TaskState.UNREACHABLE,
    ):
        metrics[f"master/tasks_{state.removeprefix('TASK_').lower()}"] = float(live.get(state, 0))
    for state in TaskState:
        if state.terminal:
            name = f"tasks_{state.removeprefix('TASK_').lower()}"
            metrics[f"master/{name}"] = float(counters[name])
    # Resources.
    total = sum((a.total for a in cluster.agents.values()), Resources())
    used = sum((a.used for a in cluster.agents.values()), Resources())
    for name in ("cpus", "mem", "disk", "gpus"):
        total_amount = total.scalar(name)
        used_amount = used.scalar(name)
        metrics[f"master/{name}_total"] = total_amount
        metrics[f"master/{name}_used"] = used_amount
        metrics[f"master/{name}_percent"] = used_amount / total_amount if total_amount else 0.0
    # Agents and frameworks.
    agents = list(cluster.agents.values())
    frameworks = list(cluster.frameworks.values())
    metrics.update(
        {
            "master/slaves_active": float(sum(a.active for a in agents)),
            "master/slaves_inactive": float(sum(not a.active for a in agents)),
            "master/slaves_connected": float(sum(a.connected for a in agents)),
            "master/slaves_disconnected": float(sum(not a.connected for a in agents)),
            "master/slave_registrations": float(counters["agent_registrations"]),
            "master/slave_reregistrations": float(counters["agent_reregistrations"]),
            "master/slave_removals": float(counters["agent_removals"]),
            "master/slaves_unreachable": float(len(master.registrar.registry.unreachable)),
            "registrar/writes": float(master.registrar.writes),
            "registrar/failed_writes": float(master.registrar.failed_writes),
            "registrar/state_fetch_ms": master.registrar.state_fetch_ms,
            "registrar/state_fetches_from_standby_copy": float(master.registrar.store.warm_reads),
            "master/frameworks_active": float(sum(f.active for f in frameworks)),
            "master/frameworks_inactive": float(sum(not f.active for f in frameworks)),
            "master/frameworks_connected": float(sum(f.connected for f in frameworks)),
            "master/frameworks_disconnected": float(sum(not f.connected for f in frameworks)),
            "master/outstanding_offers": float(len(master.offers)),
        }
    )
    # Messages: the node's transport counts what arrived over the wire and what it
    # refused at the edge; the master counts what it refused by its own rules.
    metrics["master/messages_received"] = float(node["messages_received"])
    metrics["master/invalid_messages"] = float(
        node["invalid_messages"] + counters["invalid_messages"]
    )
    metrics["master/dropped_messages"] = float(
        node["dropped_messages"] + counters["dropped_messages"]
    )
    # Why the transport refused what it refused (forged senders, unproven connections...),
    # what it could not send (a peer's backlog full, a peer lost with messages queued), and
    # how often it stopped reading (a full mailbox) or a peer could not take its frames.
    for name, value in node.items():
        if name.startswith(("dropped_messages/", "messages_dropped_")) or name in (
            "connections_refused",
            "peers_lost",
            "inbound_pauses",
            "peers_backlogged",
            "messages_resent_not_decoded",
        ):
            metrics[f"master/transport_{name}"] = float(value)
    for name, value in counters.items():
        key = f"master/{name}"
        if key not in metrics:
            metrics[key] = float(value)
    for name in (
        "invalid_status_updates",
        "valid_status_updates",
        "invalid_status_update_acknowledgements",
        "invalid_framework_to_executor_messages",
        "valid_framework_to_executor_messages",
        "tasks_launched",
        "offers_sent",
        "offers_declined",
        "offers_rescinded",
        "offers_timed_out",
    ):
        metrics.setdefault(f"master/{name}", 0.0)
    return dict(sorted(metrics.items()))
