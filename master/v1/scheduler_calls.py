"""v1 scheduler calls (JSON) -> the master's v0 messages, one reader per call type.

Every call but SUBSCRIBE becomes the message an actor scheduler would send
for the same thing, so the master handles both doors with the same handlers.
`CALLS` is the table: call type -> reader(call, framework_id). A reader
validates the call's fields (ApiError naming the field: 400) and returns the
message, or None for a call the master takes and ignores (REQUEST, as
Mesos's hierarchical allocator does). UPDATE_FRAMEWORK, answered only once
applied, is the endpoint's own (a dispatch to the master). Types missing from
the table are answered 400 by the endpoint, which names them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import msgspec

from libprocess import Message
from zmesos.errors import ApiError
from zmesos.protocol import (
    MAX_TASK_SECONDS,
    AcceptOffers,
    DeclineOffers,
    Filters,
    FrameworkToExecutor,
    KillTask,
    Operation,
    OperationType,
    ReconcileTasks,
    ReviveOffers,
    ShutdownFrameworkExecutor,
    StatusUpdateAcknowledgement,
    SuppressOffers,
    TaskState,
    TaskStatus,
    UnregisterFramework,
)
from zmesos.v1.objects import (
    NANOSECONDS,
    executor_from_v1,
    task_group_from_v1,
    task_info_from_v1,
)
from zmesos.v1.operations import OPERATION_READERS
from zmesos.v1.reader import MAX_ID_LENGTH, array, b64, id_value, number, obj, optional_obj

__all__ = ["CALLS", "UNSUPPORTED_CALLS", "read_acknowledge"]

Reader = Callable[[dict[str, Any], str], Message | None]

# Calls Mesos has that zmesos does not (no inverse offers, no operation feedback).
UNSUPPORTED_CALLS = frozenset(
    {
        "ACCEPT_INVERSE_OFFERS",
        "DECLINE_INVERSE_OFFERS",
        "ACKNOWLEDGE_OPERATION_STATUS",
        "RECONCILE_OPERATIONS",
    }
)
MAX_IDS = 100_000


def _body(call: dict[str, Any], key: str, *, required: bool = True) -> dict[str, Any]:
    body = call.get(key)
    if body is None:
        if required:
            raise ApiError(f"Expecting '{key}' to be present")
        return {}
    return obj(body, key)


def _ids(parent: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    entries = array(parent, key, where)
    if len(entries) > MAX_IDS:
        raise ApiError(f"{where}.{key}: more than {MAX_IDS} ids")
    return tuple(
        id_value({"id": entry}, "id", f"{where}.{key}[{index}]", required=True)
        for index, entry in enumerate(entries)
    )


def _filters(parent: dict[str, Any], where: str) -> Filters:
    filters = optional_obj(parent, "filters", where)
    if filters is None:
        return Filters()
    return Filters(
        refuse_seconds=number(
            filters, "refuse_seconds", f"{where}.filters", Filters().refuse_seconds
        )
    )


def _roles(parent: dict[str, Any], where: str) -> tuple[str, ...]:
    roles = array(parent, "roles", where)
    if "role" in parent:  # Mesos before 1.2 had one role
        roles = [*roles, parent["role"]]
    if not all(isinstance(role, str) for role in roles):
        raise ApiError(f"{where}.roles: expected strings")
    return tuple(roles)


def _operation(value: Any, where: str) -> Operation:
    operation = obj(value, where)
    kind = operation.get("type")
    if operation.get("id") is not None:
        raise ApiError(f"{where}.id: operation feedback is not supported")
    if kind == "LAUNCH":
        launch = _body(operation, "launch")
        tasks = array(launch, "task_infos", f"{where}.launch")
        return Operation(
            type=OperationType.LAUNCH,
            tasks=tuple(
                task_info_from_v1(task, f"{where}.launch.task_infos[{index}]")
                for index, task in enumerate(tasks)
            ),
        )
    if kind == "LAUNCH_GROUP":
        launch_group = _body(operation, "launch_group")
        if launch_group.get("executor") is None or launch_group.get("task_group") is None:
            raise ApiError(f"{where}.launch_group: 'executor' and 'task_group' are required")
        return Operation(
            type=OperationType.LAUNCH_GROUP,
            executor=executor_from_v1(launch_group["executor"], f"{where}.launch_group.executor"),
            task_group=task_group_from_v1(
                launch_group["task_group"], f"{where}.launch_group.task_group"
            ),
        )
    if kind not in OPERATION_READERS:
        supported = ", ".join(["LAUNCH", "LAUNCH_GROUP", *OPERATION_READERS])
        raise ApiError(f"{where}.type: {kind!r} is not supported ({supported})")
    key, read = OPERATION_READERS[kind]
    return read(_body(operation, key), f"{where}.{key}")


def _accept(call: dict[str, Any], framework_id: str) -> Message:
    accept = _body(call, "accept")
    operations = array(accept, "operations", "accept")
    return AcceptOffers(
        framework_id=framework_id,
        offer_ids=_ids(accept, "offer_ids", "accept"),
        operations=tuple(
            _operation(operation, f"accept.operations[{index}]")
            for index, operation in enumerate(operations)
        ),
        filters=_filters(accept, "accept"),
    )


def _decline(call: dict[str, Any], framework_id: str) -> Message:
    decline = _body(call, "decline")
    return DeclineOffers(
        framework_id=framework_id,
        offer_ids=_ids(decline, "offer_ids", "decline"),
        filters=_filters(decline, "decline"),
    )


def _revive(call: dict[str, Any], framework_id: str) -> Message:
    revive = _body(call, "revive", required=False)
    return ReviveOffers(framework_id=framework_id, roles=_roles(revive, "revive"))


def _suppress(call: dict[str, Any], framework_id: str) -> Message:
    suppress = _body(call, "suppress", required=False)
    return SuppressOffers(framework_id=framework_id, roles=_roles(suppress, "suppress"))


def _kill(call: dict[str, Any], framework_id: str) -> Message:
    kill = _body(call, "kill")
    grace: float | None = None
    policy = optional_obj(kill, "kill_policy", "kill")
    if policy is not None:
        period = optional_obj(policy, "grace_period", "kill.kill_policy") or {}
        grace = number(period, "nanoseconds", "kill.kill_policy.grace_period") / NANOSECONDS
        if grace > MAX_TASK_SECONDS:
            raise ApiError(f"kill.kill_policy.grace_period: more than {MAX_TASK_SECONDS:g}s")
    return KillTask(
        framework_id=framework_id,
        task_id=id_value(kill, "task_id", "kill", required=True),
        agent_id=id_value(kill, "agent_id", "kill"),
        grace_period_seconds=grace,
    )


def _shutdown(call: dict[str, Any], framework_id: str) -> Message:
    shutdown = _body(call, "shutdown")
    return ShutdownFrameworkExecutor(
        framework_id=framework_id,
        executor_id=id_value(shutdown, "executor_id", "shutdown", required=True),
        agent_id=id_value(shutdown, "agent_id", "shutdown", required=True),
    )


def _acknowledge(call: dict[str, Any], framework_id: str) -> Message:
    acknowledge = _body(call, "acknowledge")
    uuid = b64(acknowledge, "uuid", "acknowledge")
    if len(uuid) != 16:
        raise ApiError("acknowledge.uuid: expected the 16 bytes of the update's uuid")
    return StatusUpdateAcknowledgement(
        agent_id=id_value(acknowledge, "agent_id", "acknowledge", required=True),
        framework_id=framework_id,
        task_id=id_value(acknowledge, "task_id", "acknowledge", required=True),
        uuid=uuid,
    )


class _Id(msgspec.Struct, frozen=True):
    value: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]


class _AcknowledgeBody(msgspec.Struct, frozen=True):
    agent_id: _Id
    task_id: _Id
    uuid: Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]  # Base64 in JSON


class _AcknowledgeCall(msgspec.Struct, frozen=True, tag_field="type", tag="ACKNOWLEDGE"):
    framework_id: _Id
    acknowledge: _AcknowledgeBody


_decode_acknowledge = msgspec.json.Decoder(_AcknowledgeCall).decode


def read_acknowledge(body: bytes) -> tuple[str, StatusUpdateAcknowledgement] | None:
    """A well-formed ACKNOWLEDGE call's framework id and message, decoded straight from
    JSON to typed structs; None for any other body, which `_acknowledge` and the other
    readers take (they name what is wrong).

    A v1 framework sends one ACKNOWLEDGE per status update, most of its calls: this
    path skips the generic JSON tree and its field-by-field readers.
    """
    try:
        call = _decode_acknowledge(body)
    except msgspec.DecodeError:  # malformed, another call type, or a field out of shape
        return None
    acknowledge = call.acknowledge
    framework_id = call.framework_id.value
    return framework_id, StatusUpdateAcknowledgement(
        agent_id=acknowledge.agent_id.value,
        framework_id=framework_id,
        task_id=acknowledge.task_id.value,
        uuid=acknowledge.uuid,
    )


def _reconcile(call: dict[str, Any], framework_id: str) -> Message:
    reconcile = _body(call, "reconcile", required=False)
    tasks = array(reconcile, "tasks", "reconcile")
    if len(tasks) > MAX_IDS:
        raise ApiError(f"reconcile.tasks: more than {MAX_IDS} tasks")
    statuses = []
    for index, entry in enumerate(tasks):
        where = f"reconcile.tasks[{index}]"
        task = obj(entry, where)
        statuses.append(
            TaskStatus(
                task_id=id_value(task, "task_id", where, required=True),
                state=TaskState.UNKNOWN,  # what the master knows is the answer
                agent_id=id_value(task, "agent_id", where),
            )
        )
    return ReconcileTasks(framework_id=framework_id, statuses=tuple(statuses))


def _message(call: dict[str, Any], framework_id: str) -> Message:
    message = _body(call, "message")
    return FrameworkToExecutor(
        agent_id=id_value(message, "agent_id", "message", required=True),
        framework_id=framework_id,
        executor_id=id_value(message, "executor_id", "message", required=True),
        data=b64(message, "data", "message"),
    )


def _teardown(call: dict[str, Any], framework_id: str) -> Message:
    return UnregisterFramework(framework_id=framework_id)


def _request(call: dict[str, Any], framework_id: str) -> None:
    _body(call, "request", required=False)
    return None  # Mesos's hierarchical allocator ignores requests; so does ours


CALLS: dict[str, Reader] = {
    "TEARDOWN": _teardown,
    "ACCEPT": _accept,
    "DECLINE": _decline,
    "REVIVE": _revive,
    "SUPPRESS": _suppress,
    "KILL": _kill,
    "SHUTDOWN": _shutdown,
    "ACKNOWLEDGE": _acknowledge,
    "RECONCILE": _reconcile,
    "MESSAGE": _message,
    "REQUEST": _request,
}
