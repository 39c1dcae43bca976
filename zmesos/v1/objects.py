"""Mesos's v1 JSON objects and our structs, both ways: frameworks, tasks, statuses, offers.

Reading (`*_from_v1`) validates and raises ApiError naming the field;
writing (`*_to_v1`) gives what Mesos's JSON mapping of its protobufs gives:
ids as `{"value": ...}`, bytes as Base64, enums as their names, fields at
their defaults left out.

A task's `check` and a status's `check_status` are Mesos's CheckInfo and
CheckStatusInfo (a command check's CommandInfo wrapped as `command.command`).

Not carried (accepted and ignored, as zmesos has no such feature yet):
ContainerInfo, discovery info, a health check's `protocol` (IPv4 only).
"""

from __future__ import annotations

import base64
import ipaddress
import math
from typing import Any, TypeVar

import msgspec

from zmesos.errors import ApiError
from zmesos.protocol import (
    MAX_TASK_GROUP_SIZE,
    AgentInfo,
    CheckHTTPInfo,
    CheckInfo,
    CheckStatusInfo,
    CheckType,
    CommandInfo,
    CommandURI,
    ExecutorInfo,
    ExecutorType,
    FrameworkInfo,
    HealthCheck,
    KillPolicy,
    MasterInfo,
    MinAllocatableResources,
    Offer,
    OfferFilters,
    Reason,
    Source,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
    TCPCheckInfo,
)
from zmesos.resources import Resources
from zmesos.v1.reader import array, b64, boolean, id_value, number, obj, optional_obj, string
from zmesos.v1.resources import resources_from_v1, resources_to_v1

__all__ = [
    "agent_info_to_v1",
    "b64_text",
    "check_status_to_v1",
    "command_from_v1",
    "executor_from_v1",
    "executor_to_v1",
    "framework_info_from_v1",
    "framework_info_to_v1",
    "ident",
    "master_info_to_v1",
    "metrics_to_v1",
    "offer_to_v1",
    "read_get_metrics",
    "task_group_from_v1",
    "task_group_to_v1",
    "task_info_from_v1",
    "task_info_to_v1",
    "task_status_from_v1",
    "task_status_to_v1",
]

NANOSECONDS = 1e9

T = TypeVar("T")


def _checked(value: Any, kind: type[T], where: str) -> T:
    """`value` (JSON-shaped) as `kind`, with the struct's own checks; ApiError naming `where`."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as error:
        raise ApiError(f"{where}: {error}") from None


def ident(value: str) -> dict[str, str]:
    """An id as Mesos writes it: `{"value": "..."}`."""
    return {"value": value}


def b64_text(data: bytes) -> str:
    """Bytes as protobuf's JSON writes them: Base64."""
    return base64.b64encode(data).decode("ascii")


def _labels_from_v1(parent: dict[str, Any], where: str) -> dict[str, str]:
    holder = optional_obj(parent, "labels", where) or {}
    labels: dict[str, str] = {}
    for index, label in enumerate(array(holder, "labels", f"{where}.labels")):
        pair = obj(label, f"{where}.labels.labels[{index}]")
        labels[string(pair, "key", where, required=True)] = string(pair, "value", where)
    return labels


def _labels_to_v1(labels: dict[str, str]) -> dict[str, Any]:
    return {"labels": [{"key": key, "value": value} for key, value in labels.items()]}


# -- frameworks ------------------------------------------------------------------------


def framework_info_from_v1(value: Any, where: str) -> FrameworkInfo:
    info = obj(value, where)
    roles = array(info, "roles", where)
    if not all(isinstance(role, str) for role in roles):
        raise ApiError(f"{where}.roles: expected strings")
    if not roles:
        roles = [string(info, "role", where) or "*"]
    capabilities = []
    for index, capability in enumerate(array(info, "capabilities", where)):
        capabilities.append(
            string(obj(capability, f"{where}.capabilities[{index}]"), "type", where)
        )
    return FrameworkInfo(
        user=string(info, "user", where),
        name=string(info, "name", where),
        id=id_value(info, "id", where),
        roles=tuple(roles),
        failover_timeout=number(info, "failover_timeout", where),
        checkpoint=boolean(info, "checkpoint", where),
        principal=string(info, "principal", where),
        hostname=string(info, "hostname", where),
        capabilities=tuple(capabilities),
        webui_url=string(info, "webui_url", where),
        offer_filters=_offer_filters_from_v1(info, where),
    )


def _offer_filters_from_v1(info: dict[str, Any], where: str) -> dict[str, OfferFilters]:
    """`offer_filters`: role -> `{"min_allocatable_resources": {"quantities":
    [{"quantities": {"cpus": {"value": 1}}}]}}`, as Mesos's JSON mapping writes it."""
    by_role = optional_obj(info, "offer_filters", where) or {}
    result: dict[str, OfferFilters] = {}
    for role, value in by_role.items():
        here = f"{where}.offer_filters[{role!r}]"
        minimum = optional_obj(obj(value, here), "min_allocatable_resources", here)
        if minimum is None:
            result[role] = OfferFilters()
            continue
        alternatives = []
        for index, entry in enumerate(array(minimum, "quantities", here)):
            at = f"{here}.min_allocatable_resources.quantities[{index}]"
            quantities = optional_obj(obj(entry, at), "quantities", at) or {}
            alternatives.append(
                {
                    name: number(obj(scalar, f"{at}.{name}"), "value", f"{at}.{name}")
                    for name, scalar in quantities.items()
                }
            )
        result[role] = OfferFilters(
            min_allocatable_resources=MinAllocatableResources(quantities=tuple(alternatives))
        )
    return result


def framework_info_to_v1(info: FrameworkInfo) -> dict[str, Any]:
    result: dict[str, Any] = {
        "user": info.user,
        "name": info.name,
        "roles": list(info.roles),
        "failover_timeout": info.failover_timeout,
        "checkpoint": info.checkpoint,
        "capabilities": [{"type": capability} for capability in info.capabilities],
    }
    if info.id:
        result["id"] = ident(info.id)
    if info.offer_filters:
        result["offer_filters"] = {
            role: (
                {}
                if filters.min_allocatable_resources is None
                else {
                    "min_allocatable_resources": {
                        "quantities": [
                            {"quantities": {n: {"value": v} for n, v in quantities.items()}}
                            for quantities in filters.min_allocatable_resources.quantities
                        ]
                    }
                }
            )
            for role, filters in info.offer_filters.items()
        }
    for key in ("principal", "hostname", "webui_url"):
        if getattr(info, key):
            result[key] = getattr(info, key)
    return result


# -- tasks -----------------------------------------------------------------------------


def command_from_v1(value: Any, where: str) -> CommandInfo:
    command = obj(value, where)
    arguments = array(command, "arguments", where)
    if not all(isinstance(argument, str) for argument in arguments):
        raise ApiError(f"{where}.arguments: expected strings")
    environment: dict[str, str] = {}
    holder = optional_obj(command, "environment", where) or {}
    for index, variable in enumerate(array(holder, "variables", f"{where}.environment")):
        entry = obj(variable, f"{where}.environment.variables[{index}]")
        environment[string(entry, "name", where, required=True)] = string(entry, "value", where)
    shell = boolean(command, "shell", where, default=True)
    if not shell:  # Mesos's arguments start with argv[0]; ours follow the executable
        arguments = arguments[1:]
    uris = _checked(array(command, "uris", where), tuple[CommandURI, ...], f"{where}.uris")
    return CommandInfo(
        value=string(command, "value", where),
        shell=shell,
        arguments=tuple(arguments),
        environment=environment,
        user=string(command, "user", where),
        uris=uris,
    )


def command_to_v1(command: CommandInfo) -> dict[str, Any]:
    result: dict[str, Any] = {"shell": command.shell, "value": command.value}
    if not command.shell:
        result["arguments"] = [command.value, *command.arguments]  # argv[0] first, as Mesos
    if command.environment:
        result["environment"] = {
            "variables": [{"name": k, "value": v} for k, v in command.environment.items()]
        }
    if command.user:
        result["user"] = command.user
    if command.uris:
        result["uris"] = [msgspec.to_builtins(uri) for uri in command.uris]
    return result


def _health_check_from_v1(task: dict[str, Any], where: str) -> HealthCheck | None:
    check = optional_obj(task, "health_check", where)
    if check is None:
        return None
    here = f"{where}.health_check"
    fields = dict(check)
    command = optional_obj(check, "command", here)
    if command is not None:
        fields["command"] = command_from_v1(command, f"{here}.command")
    return _checked(fields, HealthCheck, here)


def _health_check_to_v1(check: HealthCheck) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(check)
    if check.command is not None:
        result["command"] = command_to_v1(check.command)
    return {key: value for key, value in result.items() if value is not None}


def _check_from_v1(task: dict[str, Any], where: str) -> CheckInfo | None:
    """A task's `check`. Only its shape is checked here: the master refuses a check that
    makes no sense (no command, a negative time) with Mesos's messages."""
    check = optional_obj(task, "check", where)
    if check is None:
        return None
    here = f"{where}.check"
    kind = string(check, "type", here)
    try:
        check_type = CheckType(kind) if kind else None
    except ValueError:
        raise ApiError(f"{here}.type: {kind[:64]!r} is not a check type") from None
    command = None
    holder = optional_obj(check, "command", here)
    if holder is not None:
        inner = optional_obj(holder, "command", f"{here}.command")
        if inner is None:
            raise ApiError(f"{here}.command.command is required")
        command = command_from_v1(inner, f"{here}.command.command")
    http = optional_obj(check, "http", here)
    tcp = optional_obj(check, "tcp", here)
    return CheckInfo(
        type=check_type,
        command=command,
        http=None if http is None else _checked(http, CheckHTTPInfo, f"{here}.http"),
        tcp=None if tcp is None else _checked(tcp, TCPCheckInfo, f"{here}.tcp"),
        delay_seconds=number(check, "delay_seconds", here, 15.0, minimum=-math.inf),
        interval_seconds=number(check, "interval_seconds", here, 10.0, minimum=-math.inf),
        timeout_seconds=number(check, "timeout_seconds", here, 20.0, minimum=-math.inf),
    )


def _check_to_v1(check: CheckInfo) -> dict[str, Any]:
    result: dict[str, Any] = {
        "delay_seconds": check.delay_seconds,
        "interval_seconds": check.interval_seconds,
        "timeout_seconds": check.timeout_seconds,
    }
    if check.type is not None:
        result["type"] = str(check.type)
    if check.command is not None:
        result["command"] = {"command": command_to_v1(check.command)}
    if check.http is not None:
        result["http"] = {"port": check.http.port}
        if check.http.path:
            result["http"]["path"] = check.http.path
    if check.tcp is not None:
        result["tcp"] = {"port": check.tcp.port}
    return result


def check_status_to_v1(status: CheckStatusInfo) -> dict[str, Any]:
    """Present parts as objects, even empty (an unknown result), as Mesos writes them."""
    result: dict[str, Any] = {"type": str(status.type)}
    for part in ("command", "http", "tcp"):
        value = getattr(status, part)
        if value is not None:
            fields = msgspec.to_builtins(value)
            result[part] = {key: item for key, item in fields.items() if item is not None}
    return result


def executor_from_v1(value: Any, where: str) -> ExecutorInfo:
    """An ExecutorInfo; `type` DEFAULT or CUSTOM (left unset when absent, as Mesos does):
    the master decides which a LAUNCH or LAUNCH_GROUP may use."""
    executor = obj(value, where)
    kind = string(executor, "type", where)
    try:
        executor_type = ExecutorType(kind) if kind else None
    except ValueError:
        raise ApiError(f"{where}.type: {kind[:64]!r} is not DEFAULT or CUSTOM") from None
    command = optional_obj(executor, "command", where)
    return ExecutorInfo(
        executor_id=id_value(executor, "executor_id", where, required=True),
        framework_id=id_value(executor, "framework_id", where),
        command=command_from_v1(command, f"{where}.command") if command else CommandInfo(),
        resources=tuple(resources_from_v1(executor.get("resources"), f"{where}.resources")),
        name=string(executor, "name", where),
        source=string(executor, "source", where),
        type=executor_type,
    )


def executor_to_v1(executor: ExecutorInfo) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": str(executor.type or ExecutorType.CUSTOM),
        "executor_id": ident(executor.executor_id),
        "resources": resources_to_v1(executor.resources),
    }
    if not executor.is_default:
        result["command"] = command_to_v1(executor.command)
    if executor.framework_id:
        result["framework_id"] = ident(executor.framework_id)
    if executor.name:
        result["name"] = executor.name
    if executor.source:
        result["source"] = executor.source
    return result


def task_group_from_v1(value: Any, where: str) -> TaskGroupInfo:
    """A TaskGroupInfo: `{"tasks": [TaskInfo, ...]}` (at most MAX_TASK_GROUP_SIZE)."""
    tasks = array(obj(value, where), "tasks", where)
    if len(tasks) > MAX_TASK_GROUP_SIZE:
        raise ApiError(f"{where}.tasks: more than {MAX_TASK_GROUP_SIZE} tasks")
    return TaskGroupInfo(
        tasks=tuple(
            task_info_from_v1(task, f"{where}.tasks[{index}]") for index, task in enumerate(tasks)
        )
    )


def task_group_to_v1(group: TaskGroupInfo) -> dict[str, Any]:
    return {"tasks": [task_info_to_v1(task) for task in group.tasks]}


def task_info_from_v1(value: Any, where: str) -> TaskInfo:
    task = obj(value, where)
    command = optional_obj(task, "command", where)
    executor = optional_obj(task, "executor", where)
    kill_policy = None
    policy = optional_obj(task, "kill_policy", where)
    if policy is not None:
        grace = optional_obj(policy, "grace_period", f"{where}.kill_policy") or {}
        nanoseconds = number(grace, "nanoseconds", f"{where}.kill_policy.grace_period", 3e9)
        kill_policy = _checked(
            {"grace_period_seconds": nanoseconds / NANOSECONDS}, KillPolicy, f"{where}.kill_policy"
        )
    return TaskInfo(
        name=string(task, "name", where, required=True),
        task_id=id_value(task, "task_id", where, required=True),
        agent_id=id_value(task, "agent_id", where, required=True),
        resources=tuple(resources_from_v1(task.get("resources"), f"{where}.resources")),
        command=command_from_v1(command, f"{where}.command") if command is not None else None,
        executor=executor_from_v1(executor, f"{where}.executor") if executor is not None else None,
        data=b64(task, "data", where),
        labels=_labels_from_v1(task, where),
        kill_policy=kill_policy,
        health_check=_health_check_from_v1(task, where),
        check=_check_from_v1(task, where),
    )


def task_info_to_v1(task: TaskInfo) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": task.name,
        "task_id": ident(task.task_id),
        "agent_id": ident(task.agent_id),
        "resources": resources_to_v1(task.resources),
    }
    if task.command is not None:
        result["command"] = command_to_v1(task.command)
    if task.executor is not None:
        result["executor"] = executor_to_v1(task.executor)
    if task.data:
        result["data"] = b64_text(task.data)
    if task.labels:
        result["labels"] = _labels_to_v1(task.labels)
    if task.kill_policy is not None:
        nanoseconds = int(task.kill_policy.grace_period_seconds * NANOSECONDS)
        result["kill_policy"] = {"grace_period": {"nanoseconds": nanoseconds}}
    if task.health_check is not None:
        result["health_check"] = _health_check_to_v1(task.health_check)
    if task.check is not None:
        result["check"] = _check_to_v1(task.check)
    return result


def task_status_from_v1(value: Any, where: str) -> TaskStatus:
    """A TaskStatus an executor sends (UPDATE): state and uuid required, reason if known."""
    status = obj(value, where)
    state = string(status, "state", where, required=True)
    try:
        task_state = TaskState(state)
    except ValueError:
        raise ApiError(f"{where}.state: unknown task state {state[:64]!r}") from None
    reason_text = string(status, "reason", where)
    try:
        reason = Reason(reason_text) if reason_text else None
    except ValueError:
        reason = None  # a reason zmesos does not name; the message still says why
    uuid = b64(status, "uuid", where)
    if len(uuid) != 16:
        raise ApiError(f"{where}.uuid: expected 16 bytes")
    healthy = status.get("healthy")
    if healthy is not None and not isinstance(healthy, bool):
        raise ApiError(f"{where}.healthy: expected true or false")
    check_status = optional_obj(status, "check_status", where)
    return TaskStatus(
        task_id=id_value(status, "task_id", where, required=True),
        state=task_state,
        source=Source.EXECUTOR,
        reason=reason,
        message=string(status, "message", where),
        executor_id=id_value(status, "executor_id", where),
        timestamp=number(status, "timestamp", where),
        uuid=uuid,
        data=b64(status, "data", where),
        healthy=healthy,
        check_status=(
            None
            if check_status is None
            else _checked(check_status, CheckStatusInfo, f"{where}.check_status")
        ),
    )


def task_status_to_v1(status: TaskStatus) -> dict[str, Any]:
    result: dict[str, Any] = {
        "task_id": ident(status.task_id),
        "state": str(status.state),
        "source": str(status.source),
        "timestamp": status.timestamp,
    }
    if status.reason is not None:
        result["reason"] = str(status.reason)
    if status.message:
        result["message"] = status.message
    if status.agent_id:
        result["agent_id"] = ident(status.agent_id)
    if status.executor_id:
        result["executor_id"] = ident(status.executor_id)
    if status.uuid is not None:
        result["uuid"] = b64_text(status.uuid)
    if status.data:
        result["data"] = b64_text(status.data)
    if status.healthy is not None:
        result["healthy"] = status.healthy
    if status.check_status is not None:
        result["check_status"] = check_status_to_v1(status.check_status)
    return result


# -- offers, agents, masters -------------------------------------------------------------


def _attributes_to_v1(attributes: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "type": "TEXT", "text": {"value": value}}
        for name, value in attributes.items()
    ]


def offer_to_v1(offer: Offer) -> dict[str, Any]:
    return {
        "id": ident(offer.id),
        "framework_id": ident(offer.framework_id),
        "agent_id": ident(offer.agent_id),
        "hostname": offer.hostname,
        "allocation_info": {"role": offer.role},
        "resources": resources_to_v1(Resources(offer.resources), offer.role),
        "attributes": _attributes_to_v1(offer.attributes),
        "executor_ids": [ident(executor_id) for executor_id in offer.executor_ids],
    }


def agent_info_to_v1(info: AgentInfo) -> dict[str, Any]:
    result: dict[str, Any] = {
        "hostname": info.hostname,
        "port": info.port,
        "resources": resources_to_v1(info.resources),
        "attributes": _attributes_to_v1(info.attributes),
    }
    if info.id:
        result["id"] = ident(info.id)
    return result


def master_info_to_v1(info: MasterInfo, ip: str) -> dict[str, Any]:
    """`ip`: the address the master serves on (MasterInfo.ip is its IPv4 as a uint32)."""
    try:
        packed = int(ipaddress.IPv4Address(ip))
    except ValueError:
        packed = 0
    return {
        "id": info.id,
        "ip": packed,
        "port": info.port,
        "pid": info.pid,
        "hostname": info.hostname,
        "version": info.version,
        "address": {"hostname": info.hostname, "ip": ip, "port": info.port},
    }


def read_get_metrics(call: dict[str, Any]) -> None:
    """Check a GET_METRICS call's optional `get_metrics` (its `timeout`, a DurationInfo).
    The timeout bounds how long Mesos waits for slow metrics; every zmesos metric is
    read at once, so it is checked and not otherwise used."""
    body = optional_obj(call, "get_metrics", "call")
    timeout = optional_obj(body, "timeout", "get_metrics") if body is not None else None
    if timeout is not None:
        number(timeout, "nanoseconds", "get_metrics.timeout")


def metrics_to_v1(snapshot: dict[str, float]) -> dict[str, Any]:
    """Response.GetMetrics: every metric as `{name, value}`, by name."""
    return {"metrics": [{"name": k, "value": v} for k, v in sorted(snapshot.items())]}
