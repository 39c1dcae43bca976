"""What the master asks its authorizer (zmesos.authorization), and how it answers a denial.

Pure helpers over plain values; the handlers ask through `MasterBase._authorized`
(which logs and counts each denial) and refuse in the caller's language:
FrameworkError for a registration, TASK_ERROR (REASON_TASK_UNAUTHORIZED) for a
launch, an operation refusal (`master/operations_refused/unauthorized`) for an
offer operation, 403 for HTTP (a `Forbidden` reason from a dispatched call).

- `operation_requests`: the (action, object) pairs an offer or operator
  operation needs, as Mesos asks them (RESERVE: the role; UNRESERVE: who
  reserved it; CREATE: the role; DESTROY: who created the volume;
  GROW_VOLUME and SHRINK_VOLUME: the role).
- `task_user`: the user a task runs as (its command's, its executor's, else
  the framework's), the object of `run_tasks` and `view_tasks`.
- `Viewer`: what one principal may see of the cluster (view_frameworks,
  view_tasks, view_executors, view_agents, view_roles, view_flags); it counts what it
  hid. Resources are seen as Mesos shows them under view_roles: a resource only when
  every role of its reservation stack is visible, and allocated or offered resources
  only when the role they are allocated to is.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping

from zmesos.protocol import FrameworkInfo, Operation, OperationType, TaskInfo
from zmesos.resources import Resource, Resources

__all__ = ["Forbidden", "Viewer", "operation_requests", "refusal_message", "task_user"]


class Forbidden(str):  # a str: it travels where reasons do
    """A refusal for who asks rather than for what is asked: HTTP answers it 403."""


def operation_requests(operation: Operation) -> list[tuple[str, str | None]]:
    """The (action, object) pairs `operation` needs allowed, without repeats, in order."""
    requests: list[tuple[str, str | None]] = []
    kind = operation.type
    for resource in operation.resources:
        if kind == OperationType.RESERVE:
            requests.append(("reserve_resources", resource.role))
        elif kind == OperationType.UNRESERVE:
            reserver = resource.reservations[-1].principal if resource.reservations else ""
            requests.append(("unreserve_resources", reserver or None))
        elif kind == OperationType.CREATE:
            requests.append(("create_volumes", resource.role))
        elif kind == OperationType.DESTROY:
            creator = resource.disk.principal if resource.disk is not None else ""
            requests.append(("destroy_volumes", creator or None))
    if kind in (OperationType.GROW_VOLUME, OperationType.SHRINK_VOLUME) and operation.volume:
        requests.append(("resize_volumes", operation.volume.role))
    return list(dict.fromkeys(requests))


def refusal_message(action: str, obj: str | None) -> str:
    """One line for the caller: what it may not do, on what."""
    what = action.replace("_", " ").rstrip("s")
    return f"Not authorized to {what} {obj!r}" if obj is not None else f"Not authorized to {what}"


def task_user(task: TaskInfo, framework: FrameworkInfo) -> str:
    if task.command is not None and task.command.user:
        return task.command.user
    if task.executor is not None and task.executor.command.user:
        return task.executor.command.user
    return framework.user


class Viewer:
    """What one principal may see. `allowed(action, object)` is the master's authorizer
    (None: everything is visible); `hidden` counts what was left out, per action."""

    def __init__(self, allowed: Callable[[str, str | None], bool] | None = None) -> None:
        self._allowed = allowed
        self.hidden: collections.Counter[str] = collections.Counter()

    @property
    def sees_all(self) -> bool:
        """Whether no authorizer stands behind this viewer (everything is visible)."""
        return self._allowed is None

    def sees(self, action: str, obj: str | None) -> bool:
        if self._allowed is None or self._allowed(action, obj):
            return True
        self.hidden[action] += 1
        return False

    def framework(self, info: FrameworkInfo) -> bool:
        return self.sees("view_frameworks", info.user)

    def task(self, task: TaskInfo, framework: FrameworkInfo | None) -> bool:
        user = task_user(task, framework) if framework is not None else None
        return self.sees("view_tasks", user)

    def executor(self, framework: FrameworkInfo | None) -> bool:
        return self.sees("view_executors", framework.user if framework is not None else None)

    def agent(self, hostname: str) -> bool:
        return self.sees("view_agents", hostname)

    def role(self, name: str) -> bool:
        return self.sees("view_roles", name)

    def resource(self, resource: Resource) -> bool:
        """view_roles of one resource: every role of its reservation stack (a refined
        reservation is seen only with the roles it refines); unreserved ones always."""
        return all(self.role(reservation.role) for reservation in resource.reservations)

    def resources(self, resources: Resources, allocated_to: str | None = None) -> Resources:
        """What of `resources` this principal may see: each by `resource`, and none when
        they are allocated (or offered) to a role it may not see (`allocated_to`)."""
        if self.sees_all:
            return resources
        if allocated_to is not None and not self.role(allocated_to):
            return Resources()
        return resources.filter(self.resource)

    def allocations(self, by_role: Mapping[str | None, Resources]) -> Resources:
        """The visible part of resources held per role (None: the role is not known)."""
        return sum((self.resources(held, role) for role, held in by_role.items()), Resources())

    def flags(self) -> bool:
        return self.sees("view_flags", None)
