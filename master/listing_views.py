"""The master's listing endpoints as JSON-ready dicts: /state-summary, /frameworks, /slaves,
/agents, /tasks, /roles (Mesos's shapes, field for field where Mesos has the field).

Pure functions of a Master's state, run inside its actor (the HTTP handlers
`dispatch` them), so an answer is one consistent moment. They reuse the
records of `/state` (master.views) so a framework, agent or task reads the
same in every endpoint. Those that take a `viewer` (master.authorization) leave
out what the asking principal may not see under the ACLs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from master.authorization import Viewer
from master.state import MasterFramework, MasterTask
from master.views import agent_json, framework_json, task_json
from zmesos.http.shapes import resources_json
from zmesos.protocol import TaskState
from zmesos.resources import Resources

if TYPE_CHECKING:
    from master.master import Master

__all__ = [
    "TASK_LIMIT",
    "TaskQuery",
    "agents_view",
    "frameworks_view",
    "roles_view",
    "state_summary_view",
    "tasks_view",
]

TASK_LIMIT = 100  # Mesos's default page of /tasks

# The task states each summary counts, as Mesos's /state-summary does.
SUMMARY_STATES = (
    TaskState.STAGING,
    TaskState.STARTING,
    TaskState.RUNNING,
    TaskState.KILLING,
    TaskState.FINISHED,
    TaskState.KILLED,
    TaskState.FAILED,
    TaskState.LOST,
    TaskState.ERROR,
    TaskState.UNREACHABLE,
)


@dataclasses.dataclass(frozen=True)
class TaskQuery:
    """What /tasks was asked for (validated by the HTTP layer)."""

    limit: int = TASK_LIMIT
    offset: int = 0
    ascending: bool = False
    framework_id: str | None = None
    task_id: str | None = None


def _all_frameworks(master: Master) -> Iterator[MasterFramework]:
    yield from master.cluster.frameworks.values()
    yield from master.cluster.completed_frameworks


def _framework_tasks(framework: MasterFramework) -> Iterator[MasterTask]:
    yield from framework.tasks.values()
    yield from framework.unreachable_tasks.values()
    yield from framework.completed_tasks


def _state_counts(tasks: Iterator[MasterTask]) -> dict[str, int]:
    counts = Counter(task.state for task in tasks)
    return {str(state): counts.get(state, 0) for state in SUMMARY_STATES}


def state_summary_view(master: Master, viewer: Viewer | None = None) -> dict[str, Any]:
    """Mesos's /state-summary: each agent and framework with its task counts by state."""
    viewer = viewer or Viewer()
    cluster = master.cluster
    by_agent: dict[str, list[MasterTask]] = {}
    frameworks_of_agent: dict[str, set[str]] = {}
    agents_of_framework: dict[str, set[str]] = {}
    for framework in cluster.frameworks.values():
        for task in _framework_tasks(framework):
            by_agent.setdefault(task.agent_id, []).append(task)
            if not task.state.terminal:
                frameworks_of_agent.setdefault(task.agent_id, set()).add(framework.id)
                agents_of_framework.setdefault(framework.id, set()).add(task.agent_id)
    agents = []
    for agent in cluster.agents.values():
        if not viewer.agent(agent.hostname):
            continue
        full = agent_json(agent, master.offers.offered_on(agent.id), viewer)
        agents.append(
            {
                **{key: full[key] for key in _AGENT_SUMMARY_KEYS},
                **_state_counts(iter(by_agent.get(agent.id, []))),
                "framework_ids": sorted(frameworks_of_agent.get(agent.id, set())),
            }
        )
    frameworks = []
    for framework in cluster.frameworks.values():
        if not viewer.framework(framework.info):
            continue
        full = framework_json(master, framework, False, viewer)
        frameworks.append(
            {
                **{key: full[key] for key in _FRAMEWORK_SUMMARY_KEYS},
                **_state_counts(_framework_tasks(framework)),
                "slave_ids": sorted(agents_of_framework.get(framework.id, set())),
            }
        )
    return {
        "hostname": master.info.hostname,
        "cluster": "",
        "slaves": agents,
        "frameworks": frameworks,
    }


_AGENT_SUMMARY_KEYS = (
    "id",
    "pid",
    "hostname",
    "port",
    "http_address",
    "registered_time",
    "reregistered_time",
    "resources",
    "used_resources",
    "offered_resources",
    "reserved_resources",
    "unreserved_resources",
    "attributes",
    "active",
    "connected",
)
_FRAMEWORK_SUMMARY_KEYS = (
    "id",
    "name",
    "pid",
    "used_resources",
    "offered_resources",
    "capabilities",
    "hostname",
    "webui_url",
    "active",
    "connected",
    "recovered",
)


def frameworks_view(
    master: Master, framework_id: str | None = None, viewer: Viewer | None = None
) -> dict[str, Any]:
    """Mesos's /frameworks (optionally one framework, `framework_id`)."""
    viewer = viewer or Viewer()
    cluster = master.cluster
    return {
        "frameworks": [
            framework_json(master, framework, False, viewer)
            for framework in cluster.frameworks.values()
            if (framework_id is None or framework.id == framework_id)
            and viewer.framework(framework.info)
        ],
        "completed_frameworks": [
            framework_json(master, framework, True, viewer)
            for framework in cluster.completed_frameworks
            if (framework_id is None or framework.id == framework_id)
            and viewer.framework(framework.info)
        ],
        "unregistered_frameworks": [],
    }


def agents_view(
    master: Master,
    agent_id: str | None = None,
    *,
    key: str = "slaves",
    viewer: Viewer | None = None,
) -> dict[str, Any]:
    """Mesos's /slaves (`key` "slaves") or our /agents (`key` "agents")."""
    viewer = viewer or Viewer()
    registry = master.registrar.registry
    recovered_key = "recovered_slaves" if key == "slaves" else "recovered_agents"
    return {
        key: [
            agent_json(agent, master.offers.offered_on(agent.id), viewer)
            for agent in master.cluster.agents.values()
            if (agent_id is None or agent.id == agent_id) and viewer.agent(agent.hostname)
        ],
        recovered_key: [
            msgspec.to_builtins(registry.agents[awaited])
            for awaited in sorted(master.awaiting_reregistration)
            if awaited in registry.agents
            and (agent_id is None or awaited == agent_id)
            and viewer.agent(registry.agents[awaited].hostname)
        ],
    }


def _started(task: MasterTask) -> float:
    """Mesos sorts /tasks by a task's earliest status timestamp."""
    return min((status.timestamp for status in task.statuses), default=0.0)


def tasks_view(master: Master, query: TaskQuery, viewer: Viewer | None = None) -> dict[str, Any]:
    """Mesos's /tasks: live, unreachable and completed tasks of every framework, sorted by
    their first status's time (newest first unless `ascending`), one page of them."""
    viewer = viewer or Viewer()
    tasks = [
        task
        for framework in _all_frameworks(master)
        if query.framework_id is None or framework.id == query.framework_id
        for task in _framework_tasks(framework)
        if (query.task_id is None or task.id == query.task_id)
        and viewer.task(task.info, framework.info)
    ]
    tasks.sort(key=_started, reverse=not query.ascending)
    page = tasks[query.offset : query.offset + query.limit]
    return {"tasks": [task_json(task) for task in page]}


def frameworks_and_allocations_by_role(
    master: Master,
) -> tuple[dict[str, list[str]], dict[str, Resources]]:
    """Per role: the ids of its frameworks, and what its tasks hold ("*" for no role); a
    task that ended holds nothing, though it is listed until its update is acknowledged."""
    frameworks: dict[str, list[str]] = {}
    for framework in master.cluster.frameworks.values():
        for role in framework.roles:
            frameworks.setdefault(role, []).append(framework.id)
    allocated: dict[str, Resources] = {}
    for task in master.cluster.tasks():
        if task.released:
            continue
        role = task.role or "*"
        allocated[role] = allocated.get(role, Resources()) + task.resources
    return frameworks, allocated


def roles_view(master: Master, *, viewer: Viewer | None = None) -> dict[str, Any]:
    """Mesos's /roles: every role with frameworks, weight, quota, reservations or allocations:
    its weight, frameworks, and what it is allocated, offered and has reserved; only the
    roles `viewer` may see (view_roles)."""
    viewer = viewer or Viewer()
    registry = master.registrar.registry
    frameworks, allocated = frameworks_and_allocations_by_role(master)
    offered: dict[str, Resources] = {}
    for outstanding in master.offers.all():
        offered[outstanding.role] = (
            offered.get(outstanding.role, Resources()) + outstanding.resources
        )
    reserved: dict[str, Resources] = {}
    for agent in master.cluster.agents.values():
        for role in {resource.role for resource in agent.total.reserved()}:
            reserved[role] = reserved.get(role, Resources()) + agent.total.reserved(role)
    known = {*frameworks, *registry.weights, *registry.quota, *allocated, *offered, *reserved}
    names = sorted(role for role in known if viewer.role(role))
    roles = []
    for role in names:
        quota = registry.quota.get(role)
        roles.append(
            {
                "name": role,
                "weight": registry.weights.get(role, 1.0),
                "frameworks": sorted(frameworks.get(role, [])),
                "resources": resources_json(allocated.get(role, Resources())),
                "allocated": resources_json(allocated.get(role, Resources())),
                "offered": resources_json(offered.get(role, Resources())),
                "reserved": resources_json(reserved.get(role, Resources())),
                "quota": {
                    "role": role,
                    "guarantee": dict(quota.guarantee) if quota else {},
                    "limit": dict(quota.limit) if quota else {},
                    "consumed": resources_json(allocated.get(role, Resources())),
                },
            }
        )
    return {"roles": roles}
