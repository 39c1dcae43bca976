"""Validation of an Accept: its offers, then each task it launches (Mesos master/validation.cpp).

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
from zmesos.protocol import ExecutorInfo, Offer, TaskInfo
from zmesos.resources import Resources

__all__ = ["TaskVerdict", "validate_id", "validate_offers", "validate_task"]

_MAX_ID_LENGTH = 255


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
    error = validate_id("Task", task.task_id)
    if error is not None:
        return TaskVerdict(error)
    if task.task_id in live_task_ids:
        return TaskVerdict(f"Task has duplicate ID: {task.task_id}")
    if task.agent_id != agent_id:
        return TaskVerdict(
            f"Task uses agent ID {task.agent_id!r} which does not match offer's agent ID"
            f" {agent_id!r}"
        )
    if (task.command is None) == (task.executor is None):
        return TaskVerdict(
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
        )
    if task.command is not None and not task.command.value:
        return TaskVerdict("Task's CommandInfo has an empty value")
    try:
        task_resources = Resources.from_list(task.resources)
    except ResourcesError as problem:
        return TaskVerdict(f"Task uses invalid resources: {problem}")
    if not task_resources:
        return TaskVerdict("Task uses no resources")
    total = task_resources
    new_executor = None
    if task.executor is not None:
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
    if not executor.command.value:
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
