"""What the v1 operator API answers about the master, in Mesos's JSON shapes (master.proto).

Pure functions of the master's state, run inside the master's actor (by
`dispatch`, or from a cluster observer at the moment of a change), so every
answer is one consistent moment. Times are TimeInfo, `{"nanoseconds": n}`.
A `viewer` (master.authorization) leaves out what the asking principal may
not see under the ACLs (view_agents, view_frameworks, view_tasks, view_executors),
and, as Mesos does, the resources of roles it may not see (view_roles) from what
an agent declares, holds, has allocated and has offered. A framework's own roles
and resources in GET_FRAMEWORKS and GET_STATE are not filtered by view_roles (Mesos
hides a framework whole, by view_frameworks); the operator event stream filters a
framework's allocated and offered resources, as Mesos's does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from master.authorization import Viewer
from master.listing_views import frameworks_and_allocations_by_role
from master.state import MasterAgent, MasterFramework, MasterTask
from master.views import allocated_by_role, offered_by_role
from zmesos.protocol import FrameworkInfo
from zmesos.resources import Resources
from zmesos.v1.objects import (
    agent_info_to_v1,
    executor_to_v1,
    framework_info_to_v1,
    ident,
    master_info_to_v1,
    offer_to_v1,
    task_status_to_v1,
)
from zmesos.v1.resources import resources_to_v1
from zmesos.version import MESOS_VERSION

if TYPE_CHECKING:
    from master.master import Master

__all__ = [
    "agent_v1",
    "framework_v1",
    "get_agents",
    "get_executors",
    "get_frameworks",
    "get_master",
    "get_roles",
    "get_state",
    "get_tasks",
    "task_v1",
]


def time_info(seconds: float | None) -> dict[str, int]:
    return {"nanoseconds": int((seconds or 0.0) * 1e9)}


def task_v1(task: MasterTask) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": task.info.name,
        "task_id": ident(task.id),
        "framework_id": ident(task.framework_id),
        "agent_id": ident(task.agent_id),
        "state": str(task.state),
        "resources": resources_to_v1(task.resources),
        "statuses": [task_status_to_v1(status) for status in task.statuses],
    }
    if task.info.executor is not None:
        result["executor_id"] = ident(task.executor_id)
    if task.status is not None:
        result["status_update_state"] = str(task.status.state)
        if task.status.uuid is not None:
            result["status_update_uuid"] = task_status_to_v1(task.status)["uuid"]
    if task.info.labels:
        result["labels"] = {
            "labels": [{"key": key, "value": value} for key, value in task.info.labels.items()]
        }
    if task.role:
        result["role"] = task.role
    return result


def agent_v1(master: Master, agent: MasterAgent, viewer: Viewer | None = None) -> dict[str, Any]:
    """An agent of GET_AGENTS; its resources only those of roles `viewer` may see."""
    info, total, allocated = agent.info, agent.total, agent.used
    offered = master.offers.offered_on(agent.id)
    if viewer is not None and not viewer.sees_all:
        info = msgspec.structs.replace(
            info, resources=tuple(viewer.resources(Resources(info.resources)))
        )
        total = viewer.resources(total)
        allocated = viewer.allocations(allocated_by_role(master, agent))
        offered = viewer.allocations(offered_by_role(master, agent.id))
    return {
        "agent_info": agent_info_to_v1(info),
        "active": agent.active,
        "deactivated": not agent.active,
        "pid": str(agent.pid),
        "registered_time": time_info(agent.registered_time),
        **(
            {"reregistered_time": time_info(agent.reregistered_time)}
            if agent.reregistered_time
            else {}
        ),
        "total_resources": resources_to_v1(total),
        "allocated_resources": resources_to_v1(allocated),
        "offered_resources": resources_to_v1(offered),
        "version": MESOS_VERSION,
    }


def framework_v1(
    master: Master,
    framework: MasterFramework,
    completed: bool = False,
    viewer: Viewer | None = None,
) -> dict[str, Any]:
    """A framework of GET_FRAMEWORKS; with a `viewer` (the operator event stream), its
    allocated and offered resources only those of roles the viewer may see."""
    offers = [] if completed else master.offers.of_framework(framework.id)
    used = sum((task.resources for task in framework.tasks.values()), Resources())
    offered = sum((outstanding.resources for outstanding in offers), Resources())
    if viewer is not None and not viewer.sees_all:
        held: dict[str | None, Resources] = {}
        for task in framework.tasks.values():
            role = task.role or framework.roles[0]
            held[role] = held.get(role, Resources()) + task.resources
        offered_to: dict[str | None, Resources] = {}
        for outstanding in offers:
            role = outstanding.role
            offered_to[role] = offered_to.get(role, Resources()) + outstanding.resources
        used = viewer.allocations(held)
        offered = viewer.allocations(offered_to)
    result: dict[str, Any] = {
        "framework_info": framework_info_to_v1(framework.info),
        "active": framework.active,
        "connected": framework.connected,
        "recovered": False,
        "registered_time": time_info(framework.registered_time),
        "offers": [offer_to_v1(outstanding.offer) for outstanding in offers],
        "allocated_resources": resources_to_v1(used),
        "offered_resources": resources_to_v1(offered),
    }
    if framework.reregistered_time:
        result["reregistered_time"] = time_info(framework.reregistered_time)
    if framework.unregistered_time:
        result["unregistered_time"] = time_info(framework.unregistered_time)
    return result


def get_agents(master: Master, viewer: Viewer | None = None) -> dict[str, Any]:
    viewer = viewer or Viewer()
    return {
        "agents": [
            agent_v1(master, agent, viewer)
            for agent in master.cluster.agents.values()
            if viewer.agent(agent.hostname)
        ],
        "recovered_agents": [],
    }


def get_frameworks(master: Master, viewer: Viewer | None = None) -> dict[str, Any]:
    viewer = viewer or Viewer()
    cluster = master.cluster
    return {
        "frameworks": [
            framework_v1(master, f) for f in cluster.frameworks.values() if viewer.framework(f.info)
        ],
        "completed_frameworks": [
            framework_v1(master, f, completed=True)
            for f in cluster.completed_frameworks
            if viewer.framework(f.info)
        ],
    }


def get_executors(master: Master, viewer: Viewer | None = None) -> dict[str, Any]:
    viewer = viewer or Viewer()
    frameworks = master.cluster.frameworks
    return {
        "executors": [
            {"agent_id": ident(agent.id), "executor_info": executor_to_v1(executor)}
            for agent in master.cluster.agents.values()
            for framework_id, executors in agent.executors.items()
            for executor in executors.values()
            if viewer.executor(_info(frameworks.get(framework_id)))
        ],
    }


def get_tasks(master: Master, viewer: Viewer | None = None) -> dict[str, Any]:
    viewer = viewer or Viewer()
    cluster = master.cluster
    return {
        "pending_tasks": [],
        "tasks": [
            task_v1(task)
            for task in cluster.tasks()
            if viewer.task(task.info, _info(cluster.frameworks.get(task.framework_id)))
        ],
        "unreachable_tasks": [],
        "completed_tasks": [
            task_v1(task)
            for framework in (*cluster.frameworks.values(), *cluster.completed_frameworks)
            for task in framework.completed_tasks
            if viewer.task(task.info, framework.info)
        ],
    }


def get_state(master: Master, viewer: Viewer | None = None) -> dict[str, Any]:
    return {
        "get_tasks": get_tasks(master, viewer),
        "get_executors": get_executors(master, viewer),
        "get_frameworks": get_frameworks(master, viewer),
        "get_agents": get_agents(master, viewer),
    }


def _info(framework: MasterFramework | None) -> FrameworkInfo | None:
    return framework.info if framework is not None else None


def get_master(master: Master, viewer: Viewer | None = None) -> dict[str, Any]:
    return {
        "master_info": master_info_to_v1(master.info, master.flags.ip),
        "start_time": master.start_time,
        "elected_time": master.start_time,
    }


def get_roles(master: Master, weights: dict[str, float], viewer: Viewer) -> dict[str, Any]:
    """Roles with frameworks, weights or allocations, each with its weight and what it holds;
    only those `viewer` may see (view_roles)."""
    frameworks, allocated = frameworks_and_allocations_by_role(master)
    names = sorted(role for role in {*frameworks, *weights, *allocated} if viewer.role(role))
    return {
        "roles": [
            {
                "name": role,
                "weight": weights.get(role, 1.0),
                "frameworks": [ident(framework_id) for framework_id in frameworks.get(role, [])],
                "resources": resources_to_v1(allocated.get(role, Resources())),
                "allocated": resources_to_v1(allocated.get(role, Resources())),
            }
            for role in names
        ]
    }
