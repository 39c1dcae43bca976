"""What the agent's HTTP shows: /state, /flags, /metrics/snapshot, and the v1 operator's
GET_STATE, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS.

One builder, two shapes: `collect` walks the agent's records once (frameworks,
their executors, their tasks: live, queued and completed) into an
`AgentSnapshot`; `state_json` renders it in the shape of Mesos's agent
`/state`, and `get_state` (with `get_frameworks`, `get_executors`,
`get_tasks`) in the shape of the v1 operator API's answers (agent.proto).
Every function here runs inside the agent's actor (the HTTP handlers
`dispatch` them), so an answer is one consistent moment.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from agent.state import AgentExecutor, AgentFramework, AgentTask, ExecutorState
from libprocess import clock
from zmesos.http.shapes import format_flags, resources_json
from zmesos.protocol import TaskState, TaskStatus
from zmesos.resources import Resources
from zmesos.v1.objects import (
    executor_to_v1,
    framework_info_to_v1,
    ident,
    task_status_to_v1,
)
from zmesos.v1.resources import resources_to_v1
from zmesos.version import MESOS_VERSION

if TYPE_CHECKING:
    from agent.agent import Agent

__all__ = [
    "AgentSnapshot",
    "collect",
    "flags_view",
    "get_executors",
    "get_frameworks",
    "get_state",
    "get_tasks",
    "metrics_view",
    "state_json",
]

# Which tasks of an executor a TaskRecord is (Mesos's lists).
LAUNCHED = "launched"  # handed to the executor, not terminal
QUEUED = "queued"  # waiting for its executor to register
TERMINATED = "terminated"  # terminal, its update not yet acknowledged
COMPLETED = "completed"  # its terminal update acknowledged


@dataclasses.dataclass(frozen=True)
class TaskRecord:
    task: AgentTask
    framework_id: str
    executor_id: str
    kind: str  # LAUNCHED, QUEUED, TERMINATED or COMPLETED


@dataclasses.dataclass(frozen=True)
class ExecutorRecord:
    executor: AgentExecutor
    completed: bool
    tasks: list[TaskRecord]


@dataclasses.dataclass(frozen=True)
class FrameworkRecord:
    framework: AgentFramework
    completed: bool
    executors: list[ExecutorRecord]


@dataclasses.dataclass(frozen=True)
class AgentSnapshot:
    """The agent at one moment: its identity, resources and records (see `collect`)."""

    id: str
    pid: str
    hostname: str
    http_port: int
    master: str
    start_time: float
    connected: bool
    resources: Resources
    attributes: dict[str, str]
    flags: dict[str, str]
    frameworks: list[FrameworkRecord]


def collect(agent: Agent) -> AgentSnapshot:
    """Walk the agent's records once (run inside its actor)."""
    frameworks = [_framework_record(f, False) for f in agent.frameworks.values()]
    frameworks += [_framework_record(f, True) for f in agent.completed_frameworks]
    return AgentSnapshot(
        id=agent.agent_id,
        pid=str(agent.pid),
        hostname=agent.info.hostname,
        http_port=agent.info.port,
        master=str(agent.master or ""),
        start_time=agent.start_time,
        connected=agent.connected,
        resources=Resources.from_list(agent.info.resources),
        attributes=dict(agent.info.attributes),
        flags=format_flags(agent.flags),
        frameworks=frameworks,
    )


def _framework_record(framework: AgentFramework, completed: bool) -> FrameworkRecord:
    executors = [_executor_record(framework, e, completed) for e in framework.executors.values()]
    executors += [_executor_record(framework, e, True) for e in framework.completed_executors]
    return FrameworkRecord(framework, completed, executors)


def _kind(task: AgentTask) -> str:
    if task.state.terminal:
        return TERMINATED
    return LAUNCHED if task.delivered else QUEUED


def _executor_record(
    framework: AgentFramework, executor: AgentExecutor, completed: bool
) -> ExecutorRecord:
    tasks = [
        TaskRecord(task, framework.id, executor.id, _kind(task)) for task in executor.tasks.values()
    ]
    tasks += [
        TaskRecord(task, framework.id, executor.id, COMPLETED) for task in executor.completed_tasks
    ]
    return ExecutorRecord(executor, completed, tasks)


# -- Mesos's /state ------------------------------------------------------------------


def state_json(snapshot: AgentSnapshot) -> dict[str, Any]:
    """Mesos's agent /state, field for field where we have the field."""
    total = snapshot.resources
    reserved_roles = sorted({resource.role for resource in total.reserved()})
    allocated = Resources()
    for record in snapshot.frameworks:
        for executor in record.executors:
            if not executor.completed:
                allocated = allocated + _allocated(executor)
    return {
        "version": MESOS_VERSION,
        "start_time": snapshot.start_time,
        "id": snapshot.id,
        "pid": snapshot.pid,
        "hostname": snapshot.hostname,
        "port": snapshot.http_port,
        "capabilities": [],
        "resources": resources_json(total),
        "reserved_resources": {
            role: resources_json(total.reserved(role)) for role in reserved_roles
        },
        "unreserved_resources": resources_json(total.unreserved()),
        "reserved_resources_full": {
            role: resources_to_v1(total.reserved(role)) for role in reserved_roles
        },
        "unreserved_resources_full": resources_to_v1(total.unreserved()),
        "reserved_resources_allocated": {
            role: resources_json(allocated.reserved(role))
            for role in sorted({resource.role for resource in allocated.reserved()})
        },
        "unreserved_resources_allocated": resources_json(allocated.unreserved()),
        "volumes": [_volume_json(volume) for volume in total.persistent_volumes()],
        "attributes": snapshot.attributes,
        "master_hostname": snapshot.master.partition("@")[2].rpartition(":")[0],
        "connected": snapshot.connected,
        "flags": snapshot.flags,
        "frameworks": [_framework_json(r) for r in snapshot.frameworks if not r.completed],
        "completed_frameworks": [_framework_json(r) for r in snapshot.frameworks if r.completed],
    }


def _volume_json(volume: Any) -> dict[str, Any]:
    disk = volume.disk
    return {
        "role": volume.role,
        "persistence_id": disk.persistence_id if disk else "",
        "container_path": disk.container_path if disk else "",
        "size": volume.scalar,
        "resource": resources_to_v1(Resources([volume]))[0],
    }


def _allocated(record: ExecutorRecord) -> Resources:
    """An executor's resources and those of its tasks not yet terminal (Mesos's
    allocatedResources)."""
    total = Resources(record.executor.info.resources)
    for task in record.tasks:
        if task.kind in (LAUNCHED, QUEUED):
            total = total + Resources(task.task.info.resources)
    return total


def _framework_json(record: FrameworkRecord) -> dict[str, Any]:
    info = record.framework.info
    result: dict[str, Any] = {
        "id": record.framework.id,
        "name": info.name,
        "user": info.user,
        "failover_timeout": info.failover_timeout,
        "checkpoint": info.checkpoint,
        "hostname": info.hostname,
        "roles": list(info.roles),
        "role": info.roles[0] if info.roles else "*",
        "capabilities": list(info.capabilities),
        "executors": [_executor_json(e, info.roles) for e in record.executors if not e.completed],
        "completed_executors": [
            _executor_json(e, info.roles) for e in record.executors if e.completed
        ],
    }
    if info.principal:
        result["principal"] = info.principal
    return result


def _executor_json(record: ExecutorRecord, roles: tuple[str, ...]) -> dict[str, Any]:
    executor = record.executor
    return {
        "id": executor.id,
        "name": executor.info.name,
        "source": executor.info.source,
        "container": executor.container_id,
        "directory": str(executor.sandbox),
        "resources": resources_json(_allocated(record)),
        "role": roles[0] if len(roles) == 1 else "",
        "type": str(executor.info.type or ("DEFAULT" if executor.command_executor else "CUSTOM")),
        "state": executor.state.value,
        "tasks": [_task_json(t, roles) for t in record.tasks if t.kind == LAUNCHED],
        "queued_tasks": [_task_json(t, roles) for t in record.tasks if t.kind == QUEUED],
        # Mesos lists the terminal tasks not yet acknowledged with the completed ones.
        "completed_tasks": [
            _task_json(t, roles) for t in record.tasks if t.kind in (TERMINATED, COMPLETED)
        ],
    }


def _task_json(record: TaskRecord, roles: tuple[str, ...]) -> dict[str, Any]:
    task = record.task
    info = task.info
    result: dict[str, Any] = {
        "id": task.id,
        "name": info.name,
        "framework_id": record.framework_id,
        "executor_id": record.executor_id if info.executor is not None else "",
        "slave_id": info.agent_id,
        "agent_id": info.agent_id,
        "state": str(task.state),
        "resources": resources_json(Resources(info.resources)),
        "role": roles[0] if len(roles) == 1 else "",
        "statuses": [_status_json(status) for status in task.statuses],
        "labels": [{"key": key, "value": value} for key, value in info.labels.items()],
    }
    if info.command is not None:
        result["command"] = {"value": info.command.value, "shell": info.command.shell}
    return result


def _status_json(status: TaskStatus) -> dict[str, Any]:
    result: dict[str, Any] = {
        "state": str(status.state),
        "timestamp": status.timestamp,
        "source": str(status.source),
    }
    if status.reason is not None:
        result["reason"] = str(status.reason)
    if status.message:
        result["message"] = status.message
    return result


# -- the v1 operator API (agent.proto) ---------------------------------------------------


def get_frameworks(snapshot: AgentSnapshot) -> dict[str, Any]:
    def framework(record: FrameworkRecord) -> dict[str, Any]:
        return {"framework_info": framework_info_to_v1(record.framework.info)}

    return {
        "frameworks": [framework(r) for r in snapshot.frameworks if not r.completed],
        "completed_frameworks": [framework(r) for r in snapshot.frameworks if r.completed],
    }


def get_executors(snapshot: AgentSnapshot) -> dict[str, Any]:
    live: list[dict[str, Any]] = []
    completed: list[dict[str, Any]] = []
    for framework in snapshot.frameworks:
        for record in framework.executors:
            info = executor_to_v1(record.executor.info)
            info["framework_id"] = ident(framework.framework.id)
            (completed if record.completed else live).append({"executor_info": info})
    return {"executors": live, "completed_executors": completed}


def get_tasks(snapshot: AgentSnapshot) -> dict[str, Any]:
    """Mesos's lists: queued (waiting for their executor), launched (live), terminated
    (terminal, not yet acknowledged) and completed (acknowledged)."""
    lists: dict[str, list[dict[str, Any]]] = {
        "pending_tasks": [],
        "queued_tasks": [],
        "launched_tasks": [],
        "terminated_tasks": [],
        "completed_tasks": [],
    }
    for framework in snapshot.frameworks:
        for executor in framework.executors:
            for record in executor.tasks:
                lists[f"{record.kind}_tasks"].append(_task_v1(record, snapshot.id))
    return lists


def _task_v1(record: TaskRecord, agent_id: str) -> dict[str, Any]:
    task = record.task
    result: dict[str, Any] = {
        "name": task.info.name,
        "task_id": ident(task.id),
        "framework_id": ident(record.framework_id),
        "executor_id": ident(record.executor_id),
        "agent_id": ident(task.info.agent_id or agent_id),
        "state": str(task.state),
        "resources": resources_to_v1(Resources(task.info.resources)),
        "statuses": [task_status_to_v1(status) for status in task.statuses],
    }
    if task.statuses:
        result["status_update_state"] = str(task.statuses[-1].state)
    return result


def get_state(snapshot: AgentSnapshot) -> dict[str, Any]:
    return {
        "get_tasks": get_tasks(snapshot),
        "get_executors": get_executors(snapshot),
        "get_frameworks": get_frameworks(snapshot),
    }


# -- /flags and /metrics/snapshot ------------------------------------------------------------


def flags_view(agent: Agent) -> dict[str, Any]:
    """Mesos's /flags: `{"flags": {name: value}}`."""
    return {"flags": format_flags(agent.flags)}


def metrics_view(agent: Agent) -> dict[str, float]:
    """Mesos's `slave/...` names where Mesos has them, plus the agent's own counters."""
    executors = [e for f in agent.frameworks.values() for e in f.executors.values()]
    live: dict[TaskState, int] = {}
    for executor in executors:
        for task in executor.tasks.values():
            live[task.state] = live.get(task.state, 0) + 1
    counters = agent.metrics
    metrics: dict[str, float] = {
        "slave/uptime_secs": clock.now() - agent.start_time,
        "slave/registered": 1.0 if agent.connected else 0.0,
        "slave/recovery_errors": 0.0,
        "slave/frameworks_active": float(len(agent.frameworks)),
        "slave/valid_status_updates": float(counters["status_updates"]),
        "slave/invalid_status_updates": float(counters["invalid_status_updates"]),
        "slave/invalid_messages": float(counters["invalid_messages"]),
        "slave/dropped_messages": float(counters["dropped_messages"]),
    }
    for state in (TaskState.STAGING, TaskState.STARTING, TaskState.RUNNING, TaskState.KILLING):
        metrics[f"slave/tasks_{state.removeprefix('TASK_').lower()}"] = float(live.get(state, 0))
    for state in TaskState:
        if state.terminal:
            name = f"tasks_{state.removeprefix('TASK_').lower()}"
            metrics[f"slave/{name}"] = float(counters[name])
    for executor_state in ExecutorState:
        metrics[f"slave/executors_{executor_state.value.lower()}"] = float(
            sum(e.state is executor_state for e in executors)
        )
    total = Resources.from_list(agent.info.resources)
    used = Resources()
    for framework in agent.frameworks.values():
        for executor in framework.executors.values():
            used = used + _allocated(_executor_record(framework, executor, False))
    for name in ("cpus", "mem", "disk", "gpus"):
        total_amount, used_amount = total.scalar(name), used.scalar(name)
        metrics[f"slave/{name}_total"] = total_amount
        metrics[f"slave/{name}_used"] = used_amount
        metrics[f"slave/{name}_percent"] = used_amount / total_amount if total_amount else 0.0
    for name, value in counters.items():
        metrics.setdefault(f"slave/{name}", float(value))
    return dict(sorted(metrics.items()))
