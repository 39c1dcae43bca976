"""Validation of an Accept: its offers, then each task or task group it launches (Mesos
master/validation.cpp).

Pure functions over plain values: each returns None when the input is valid,
or a one-line message naming the problem, which the master sends to the
framework in a TASK_DROPPED (invalid offers) or TASK_ERROR (invalid task)
status update.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence

import msgspec

from zmesos.errors import ResourcesError
from zmesos.protocol import (
    CommandInfo,
    ExecutorInfo,
    ExecutorType,
    Offer,
    TaskGroupInfo,
    TaskInfo,
    check_info_error,
)
from zmesos.resources import Resources

__all__ = [
    "MIN_EXECUTOR_CPUS",
    "MIN_EXECUTOR_MEM_MB",
    "GroupVerdict",
    "TaskVerdict",
    "validate_id",
    "validate_offers",
    "validate_task",
    "validate_task_group",
]

_MAX_ID_LENGTH = 255
# Mesos's MIN_CPUS and MIN_MEM: the least an executor of a task group may have.
MIN_EXECUTOR_CPUS = 0.01
MIN_EXECUTOR_MEM_MB = 32.0


def validate_id(kind: str, value: str) -> str | None:
    """A task, executor or offer id: non-empty, short, printable, without '/' (Mesos's rules)."""
    if not value:
        return f"{kind} ID must not be empty"
    if len(value) > _MAX_ID_LENGTH:
        return f"{kind} ID is longer than {_MAX_ID_LENGTH} characters"
    if value in (".", ".."):
        return f"{kind} ID {value!r} is '.' or '..'"
    if "/" in value or any(not char.isprintable() or char.isspace() for char in value):
        return f"{kind} ID {value!r} contains '/', whitespace or a control character"
    return None


def validate_offers(
    offer_ids: Sequence[str],
    lookup: Callable[[str], Offer | None],
    framework_id: str,
) -> str | None:
    """The offers of one Accept: named once each, outstanding, the framework's, one agent's."""
    if not offer_ids:
        return "No offers were named"
    seen: set[str] = set()
    agent_id: str | None = None
    for offer_id in offer_ids:
        if offer_id in seen:
            return f"Duplicate offer {offer_id} in offer list"
        seen.add(offer_id)
        offer = lookup(offer_id)
        if offer is None:
            return f"Offer {offer_id} is no longer valid"
        if offer.framework_id != framework_id:
            return (
                f"Offer {offer_id} has invalid framework {offer.framework_id}"
                f" while framework {framework_id} is expected"
            )
        if agent_id is None:
            agent_id = offer.agent_id
        elif offer.agent_id != agent_id:
            return (
                f"Aggregated offers must belong to one single agent. Offer {offer_id}"
                f" uses agent {offer.agent_id} and agent {agent_id}"
            )
    return None


@dataclasses.dataclass(frozen=True)
class TaskVerdict:
    """A task's validation: `error` (None when valid) and what it consumes from the offers."""

    error: str | None
    consumed: Resources = dataclasses.field(default_factory=Resources)
    task_resources: Resources = dataclasses.field(default_factory=Resources)
    new_executor: ExecutorInfo | None = None


def validate_task(
    task: TaskInfo,
    *,
    framework_id: str,
    agent_id: str,
    live_task_ids: Collection[str],
    executors: Mapping[str, ExecutorInfo],
    available: Resources,
) -> TaskVerdict:
    """One task of a LAUNCH, against what is left of the offers.

    `live_task_ids`: the framework's live tasks and those launched earlier in
    this Accept. `executors`: the framework's executors on that agent; a task
    naming one of them must carry the same ExecutorInfo, and a new executor's
    resources are consumed along with the task's.
    """
    error, task_resources = _check_task(task, agent_id, live_task_ids)
    if error is not None:
        return TaskVerdict(error)
    if (task.command is None) == (task.executor is None):
        return TaskVerdict(
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
        )
    if task.command is not None and not task.command.value:
        return TaskVerdict("Task's CommandInfo has an empty value")
    total = task_resources
    new_executor = None
    if task.executor is not None:
        if task.executor.type is ExecutorType.DEFAULT:
            return TaskVerdict("'ExecutorInfo.type' must be 'CUSTOM' (use LAUNCH_GROUP)")
        executor_error, executor_resources, new_executor = _check_executor(
            task.executor, framework_id, executors
        )
        if executor_error is not None:
            return TaskVerdict(executor_error)
        total = total + executor_resources
    if not available.contains(total):
        return TaskVerdict(
            f"Total resources {total} required by task and its executor"
            f" is more than available {available}"
        )
    return TaskVerdict(None, total, task_resources, new_executor)


def _check_task(
    task: TaskInfo, agent_id: str, live_task_ids: Collection[str]
) -> tuple[str | None, Resources]:
    """What every launched task must be (LAUNCH and LAUNCH_GROUP): (error, its resources)."""
    error = validate_id("Task", task.task_id)
    if error is not None:
        return error, Resources()
    if task.task_id in live_task_ids:
        return f"Task has duplicate ID: {task.task_id}", Resources()
    if task.agent_id != agent_id:
        return (
            f"Task uses agent ID {task.agent_id!r} which does not match offer's agent ID"
            f" {agent_id!r}",
            Resources(),
        )
    if task.check is not None:
        error = check_info_error(task.check)
        if error is not None:
            return f"Task uses invalid check: {error}", Resources()
    try:
        task_resources = Resources.from_list(task.resources)
    except ResourcesError as problem:
        return f"Task uses invalid resources: {problem}", Resources()
    if not task_resources:
        return "Task uses no resources", Resources()
    return None, task_resources


@dataclasses.dataclass(frozen=True)
class GroupVerdict:
    """A task group's validation: `error` (None when valid); the tasks as launched (each
    carrying the group's executor, as Mesos fills it in) with their resources; what the
    group consumes from the offers; the executor if it is new on the agent."""

    error: str | None
    tasks: tuple[tuple[TaskInfo, Resources], ...] = ()
    consumed: Resources = dataclasses.field(default_factory=Resources)
    new_executor: ExecutorInfo | None = None


def validate_task_group(
    executor: ExecutorInfo,
    group: TaskGroupInfo,
    *,
    framework_id: str,
    agent_id: str,
    live_task_ids: Collection[str],
    executors: Mapping[str, ExecutorInfo],
    available: Resources,
) -> GroupVerdict:
    """A LAUNCH_GROUP, as Mesos's master validates it (master/validation.cpp, task::group).

    One error stands for the whole group: the master refuses every task of it.
    Each task is checked as a LAUNCH's would be (id, duplicate, agent, resources),
    must name no other executor than the group's, and for the DEFAULT executor
    needs a command. The executor: its type set; DEFAULT without a command, CUSTOM
    with one; the same as a running executor of that id; at least Mesos's minimum
    cpus (0.01) and mem (32 MB) and some disk. The tasks, and the executor when it
    is new on the agent, must fit in what is left of the offers.
    """
    executor = _normalized(executor, framework_id)
    if not group.tasks:
        return GroupVerdict("Task group has no tasks")
    seen: set[str] = set()
    launched: list[tuple[TaskInfo, Resources]] = []
    for task in group.tasks:
        error = _check_group_task(task, executor, framework_id, agent_id, live_task_ids, seen)
        if error is not None:
            return GroupVerdict(f"Task {task.task_id!r} is invalid: {error}")
        seen.add(task.task_id)
        _, resources = _check_task(task, agent_id, live_task_ids)
        launched.append((msgspec.structs.replace(task, executor=executor), resources))
    error = _check_group_executor(executor)
    if error is not None:
        return GroupVerdict(error)
    executor_error, executor_resources, new_executor = _check_executor(
        executor, framework_id, executors
    )
    if executor_error is not None:
        return GroupVerdict(executor_error)
    total = sum((resources for _, resources in launched), Resources()) + executor_resources
    if not available.contains(total):
        return GroupVerdict(
            f"Total resources {total} required by task group and its executor are more"
            f" than available {available}"
        )
    return GroupVerdict(None, tuple(launched), total, new_executor)


def _check_group_task(
    task: TaskInfo,
    executor: ExecutorInfo,
    framework_id: str,
    agent_id: str,
    live_task_ids: Collection[str],
    seen: Collection[str],
) -> str | None:
    error, _ = _check_task(task, agent_id, live_task_ids)
    if error is not None:
        return error
    if task.task_id in seen:
        return f"Task group has duplicate task ID: {task.task_id}"
    if task.executor is not None and _normalized(task.executor, framework_id) != executor:
        return (
            f"The ExecutorInfo of task {task.task_id!r} is different from executor"
            f" {executor.executor_id!r}"
        )
    if executor.is_default and (task.command is None or not task.command.value):
        return "a task run by the DEFAULT executor needs a command with a value"
    return None


def _check_group_executor(executor: ExecutorInfo) -> str | None:
    """What LAUNCH_GROUP asks of its executor beyond any executor's rules."""
    if executor.type is None:
        return "'ExecutorInfo.type' must be set"
    if executor.is_default and executor.command != CommandInfo():
        return "'ExecutorInfo.command' must not be set for 'DEFAULT' executor"
    try:
        resources = Resources.from_list(executor.resources)
    except ResourcesError as problem:
        return f"Executor uses invalid resources: {problem}"
    if resources.shared():
        return f"Executor resources {resources} should not contain any shared resources"
    name = executor.executor_id
    if resources.cpus < MIN_EXECUTOR_CPUS:
        return (
            f"Executor {name!r} uses less CPUs ({resources.cpus:g}) than the minimum"
            f" required ({MIN_EXECUTOR_CPUS:g})"
        )
    if resources.mem < MIN_EXECUTOR_MEM_MB:
        return (
            f"Executor {name!r} uses less memory ({resources.mem:g} MB) than the minimum"
            f" required ({MIN_EXECUTOR_MEM_MB:g} MB)"
        )
    if "disk" not in resources.names():
        return f"Executor {name!r} uses no disk"
    return None


def _check_executor(
    executor: ExecutorInfo,
    framework_id: str,
    executors: Mapping[str, ExecutorInfo],
) -> tuple[str | None, Resources, ExecutorInfo | None]:
    """(error, resources consumed, the executor if it is new on the agent)."""
    error = validate_id("Executor", executor.executor_id)
    if error is not None:
        return error, Resources(), None
    if executor.framework_id and executor.framework_id != framework_id:
        return (
            f"ExecutorInfo has an invalid FrameworkID (Actual: {executor.framework_id}"
            f" vs Expected: {framework_id})",
            Resources(),
            None,
        )
    if not executor.is_default and not executor.command.value:
        return "Executor's CommandInfo has an empty value", Resources(), None
    try:
        resources = Resources.from_list(executor.resources)
    except ResourcesError as problem:
        return f"Executor uses invalid resources: {problem}", Resources(), None
    known = executors.get(executor.executor_id)
    if known is not None:
        if _normalized(known, framework_id) != _normalized(executor, framework_id):
            return (
                f"ExecutorInfo is not compatible with ExecutorInfo of existing executor"
                f" {executor.executor_id}",
                Resources(),
                None,
            )
        return None, Resources(), None
    return None, resources, _normalized(executor, framework_id)


def _normalized(executor: ExecutorInfo, framework_id: str) -> ExecutorInfo:
    """The executor with its framework id filled in, as agents and the master keep it."""
    return msgspec.structs.replace(executor, framework_id=framework_id)
