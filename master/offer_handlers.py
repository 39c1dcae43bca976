"""The master's offer handlers: allocations into offers, decline, revive, suppress, Accept.

An Accept is validated (master.validation) in Mesos's order: its offers
first (invalid offers drop every task, TASK_DROPPED), then each LAUNCH task
against what is left of the offers (an invalid task gets TASK_ERROR and the
others proceed). A LAUNCH_GROUP is all or none: one invalid or unauthorized
task, or a bad executor, and every task of the group gets TASK_ERROR. What
the Accept leaves unused returns to the allocator with the Accept's filter.
With --acls, a task the framework's principal may not run as its user gets
TASK_ERROR (REASON_TASK_UNAUTHORIZED), and an operation it may not do is
refused (rule `unauthorized`).
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from libprocess import PID, clock
from master.allocator_process import AllocatorProcess
from master.authorization import task_user
from master.base import MasterBase
from master.operations import Conversion, Refusal, apply_operation
from master.state import MasterAgent, MasterFramework, MasterTask
from master.validation import validate_offers, validate_task, validate_task_group
from zmesos.protocol import (
    AcceptOffers,
    DeclineOffers,
    Filters,
    Offer,
    Operation,
    OperationType,
    Reason,
    ResourceOffers,
    ReviveOffers,
    RunTask,
    RunTaskGroup,
    SuppressOffers,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
)
from zmesos.resources import Resources

__all__ = ["OfferHandlers"]

# Filters longer than a year are clamped to one (Mesos does the same).
_MAX_REFUSE_SECONDS = 365 * 24 * 3600.0


class OfferHandlers(MasterBase):
    """Offers out, Accepts and Declines in."""

    def receive_allocations(self, allocations: list[Any]) -> None:
        """From the allocator: make offers and send each framework its batch."""
        batches: dict[str, list[Offer]] = {}
        for allocation in allocations:
            framework = self.cluster.frameworks.get(allocation.framework_id)
            agent = self.cluster.agents.get(allocation.agent_id)
            if (
                framework is None
                or agent is None
                or not framework.active
                or not agent.connected
                or framework.pid is None
            ):
                # The world moved since the allocator decided: give it back.
                if framework is not None and agent is not None:
                    self._recover(
                        allocation.framework_id,
                        allocation.agent_id,
                        allocation.resources,
                        role=allocation.role,
                    )
                continue
            offer = Offer(
                id=self.offers.new_id(),
                framework_id=framework.id,
                agent_id=agent.id,
                hostname=agent.hostname,
                resources=tuple(allocation.resources.to_list()),
                role=allocation.role,
                attributes=agent.info.attributes,
                executor_ids=tuple(sorted(framework.executors.get(agent.id, {}))),
                agent_pid=str(agent.pid),
            )
            outstanding = self.offers.add(offer, allocation.resources, clock.now())
            if self.flags.offer_timeout is not None:
                outstanding.timer = self.delay(
                    self.flags.offer_timeout, self._offer_timed_out, offer.id
                )
            batches.setdefault(framework.id, []).append(offer)
        for framework_id, offers in batches.items():
            framework = self.cluster.frameworks[framework_id]
            assert framework.pid is not None
            self.metrics["offers_sent"] += len(offers)
            self.send(framework.pid, ResourceOffers(offers=tuple(offers)))

    def _offer_timed_out(self, offer_id: str) -> None:
        outstanding = self.offers.get(offer_id)
        if outstanding is not None:
            self.log.info("offer_timed_out", offer_id=offer_id)
            self.metrics["offers_timed_out"] += 1
            self._rescind(outstanding)

    def decline_offers(self, sender: PID, message: DeclineOffers) -> None:
        self.metrics["messages_decline_offers"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        refuse = _refuse_seconds(message.filters)
        for offer_id in message.offer_ids:
            outstanding = self.offers.get(offer_id)
            if outstanding is None or outstanding.framework_id != framework.id:
                self.log.info("ignoring_decline", offer_id=offer_id, reason="not an offer of it")
                continue
            self.offers.remove(offer_id)
            self.metrics["offers_declined"] += 1
            self._recover(
                framework.id, outstanding.agent_id, outstanding.resources, refuse, outstanding.role
            )

    def revive_offers(self, sender: PID, message: ReviveOffers) -> None:
        self.metrics["messages_revive_offers"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        roles = message.roles or framework.roles
        framework.suppressed_roles.difference_update(roles)
        self._allocator_call(AllocatorProcess.revive, framework.id, tuple(roles))

    def suppress_offers(self, sender: PID, message: SuppressOffers) -> None:
        self.metrics["messages_suppress_offers"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        roles = message.roles or framework.roles
        framework.suppressed_roles.update(roles)
        self._allocator_call(AllocatorProcess.suppress, framework.id, tuple(roles))

    def accept_offers(self, sender: PID, message: AcceptOffers) -> None:
        self.metrics["messages_accept_offers"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        problem = validate_offers(message.offer_ids, self._offer_of, framework.id)
        agent = None
        if problem is None:
            first = self.offers.get(message.offer_ids[0])
            agent = None if first is None else self.cluster.agents.get(first.agent_id)
            if agent is None or not agent.connected:
                problem = "Offers are of an agent that is gone or disconnected"
        if problem is not None or agent is None:
            self._refuse_accept(framework, message, problem or "no agent")
            return
        offered = [o for o in map(self.offers.remove, message.offer_ids) if o is not None]
        self.metrics["offers_accepted"] += len(offered)
        available = sum((o.resources for o in offered), Resources())
        roles = {o.role for o in offered}
        role = roles.pop() if len(roles) == 1 else None
        checkpoint_pending = False
        refusals: list[str] = []  # named in the TASK_ERROR of a task that needed their resources
        held_before = self._shared_in_use(agent, framework.id)
        for operation in message.operations:
            if operation.type in (OperationType.LAUNCH, OperationType.LAUNCH_GROUP):
                if checkpoint_pending:
                    # The agent has its volumes on disk before any task can use them.
                    self._checkpoint_resources(agent)
                    checkpoint_pending = False
                launch = (
                    self._launch_operation
                    if operation.type == OperationType.LAUNCH
                    else self._launch_group_operation
                )
                available = launch(framework, agent, operation, available, role, refusals)
                continue
            result = self._operation_refusal(
                framework.info.principal or None, operation, framework_id=framework.id
            ) or apply_operation(
                operation,
                framework=framework.info,
                available=available,
                agent_total=agent.total,
                in_use=agent.used,
            )
            if isinstance(result, Refusal):
                self._refuse_operation(framework, agent, operation, result)
                refusals.append(f"{operation.type} refused ({result.rule}): {result.message}")
                continue
            available = available - result.consumed + result.converted
            self._convert(framework, agent, operation, result, role)
            checkpoint_pending = True
        if checkpoint_pending:
            self._checkpoint_resources(agent)
        # Shared volumes tasks start using here stay held: one copy for all the framework's
        # tasks on the agent (see _releasable). Offered copies of volumes its tasks already
        # held go back, as do the copies of those no task uses.
        available = available - (self._shared_in_use(agent, framework.id) - held_before)
        self._recover(framework.id, agent.id, available, _refuse_seconds(message.filters), role)

    def _refuse_operation(
        self, framework: MasterFramework, agent: MasterAgent, operation: Operation, refusal: Refusal
    ) -> None:
        """An invalid operation: logged and counted; the rest of the Accept goes on."""
        self.metrics["operations_refused"] += 1
        self.metrics[f"operations_refused/{refusal.rule}"] += 1
        self.log.warning(
            "operation_refused",
            framework_id=framework.id,
            agent_id=agent.id,
            operation=str(operation.type),
            rule=refusal.rule,
            reason=refusal.message,
        )

    def _convert(
        self,
        framework: MasterFramework,
        agent: MasterAgent,
        operation: Operation,
        conversion: Conversion,
        role: str | None,
    ) -> None:
        """A valid operation changes the agent's total and the framework's allocation alike."""
        if operation.type == OperationType.DESTROY:
            # First, while the allocator still counts the volume in the agent's total.
            self._rescind_offers_holding(agent.id, conversion.consumed.shared())
        agent.total = agent.total - conversion.consumed + conversion.converted
        self._allocator_call(
            AllocatorProcess.update_allocation,
            framework.id,
            agent.id,
            conversion.consumed,
            conversion.converted,
            role,
        )
        self.metrics["operations_applied"] += 1
        self.metrics[f"operations/{str(operation.type).lower()}"] += 1
        self.log.info(
            "operation_applied",
            framework_id=framework.id,
            agent_id=agent.id,
            operation=str(operation.type),
            consumed=str(conversion.consumed),
            converted=str(conversion.converted),
        )

    def _rescind_offers_holding(self, agent_id: str, volumes: Resources) -> None:
        """A destroyed shared volume may sit in other frameworks' offers too (it is offered
        while in use): take those back, as Mesos does, so no task is launched on it."""
        for resource in volumes:
            for outstanding in self.offers.of_agent(agent_id):
                if resource in outstanding.resources.shared():
                    self.log.info(
                        "offer_rescinded",
                        offer_id=outstanding.id,
                        reason=f"shared volume {resource} destroyed",
                    )
                    self._rescind(outstanding)

    def _launch_operation(
        self,
        framework: MasterFramework,
        agent: MasterAgent,
        operation: Operation,
        available: Resources,
        role: str | None,
        refusals: list[str],
    ) -> Resources:
        """Validate and launch each task in order; returns what is left of `available`.

        A task refused for its resources hears, too, which operations of this
        Accept were refused before it (`refusals`): the likely reason.
        """
        executors = dict(framework.executors.get(agent.id, {}))
        principal = framework.info.principal or None
        for task in operation.tasks:
            user = task_user(task, framework.info)
            if not self._authorized(
                "run_tasks", principal, user, framework_id=framework.id, task_id=task.task_id
            ):
                message = f"Not authorized to launch as user {user!r} (principal {principal!r})"
                self._task_invalid(framework, task, agent.id, message, Reason.TASK_UNAUTHORIZED)
                continue
            verdict = validate_task(
                task,
                framework_id=framework.id,
                agent_id=agent.id,
                live_task_ids=framework.tasks.keys(),
                executors=executors,
                available=available,
            )
            if verdict.error is not None:
                error = verdict.error
                if refusals and verdict.error.startswith("Total resources"):
                    error = f"{error}; earlier in this Accept: {'; '.join(refusals)}"
                self._task_invalid(framework, task, agent.id, error)
                continue
            # A shared volume stays in what is left: later tasks of this Accept may use it too.
            available = available - verdict.consumed + verdict.consumed.shared()
            if verdict.new_executor is not None:
                executors[verdict.new_executor.executor_id] = verdict.new_executor
                self.cluster.add_executor(agent.id, framework.id, verdict.new_executor)
            self._launch(framework, agent, task, verdict.task_resources, role)
        return available

    def _launch_group_operation(
        self,
        framework: MasterFramework,
        agent: MasterAgent,
        operation: Operation,
        available: Resources,
        role: str | None,
        refusals: list[str],
    ) -> Resources:
        """Launch a task group all or none (Mesos's LAUNCH_GROUP); returns what is left.

        Every task must be authorized and the group valid (validate_task_group);
        otherwise each task of it gets TASK_ERROR with the one reason
        (REASON_TASK_GROUP_UNAUTHORIZED or REASON_TASK_GROUP_INVALID) and nothing
        of it is launched. A valid group goes to the agent in one RunTaskGroup.
        """
        assert operation.executor is not None and operation.task_group is not None
        group = operation.task_group
        if not group.tasks:
            self._refuse_operation(
                framework, agent, operation, Refusal("empty_group", "Task group has no tasks")
            )
            return available
        unauthorized = self._unauthorized_in_group(framework, group)
        if unauthorized is not None:
            self._refuse_group(
                framework, agent, group, unauthorized, Reason.TASK_GROUP_UNAUTHORIZED
            )
            return available
        verdict = validate_task_group(
            operation.executor,
            group,
            framework_id=framework.id,
            agent_id=agent.id,
            live_task_ids=framework.tasks.keys(),
            executors=framework.executors.get(agent.id, {}),
            available=available,
        )
        if verdict.error is not None:
            error = verdict.error
            if refusals and error.startswith("Total resources"):
                error = f"{error}; earlier in this Accept: {'; '.join(refusals)}"
            self._refuse_group(framework, agent, group, error, Reason.TASK_GROUP_INVALID)
            return available
        executor = msgspec.structs.replace(operation.executor, framework_id=framework.id)
        if verdict.new_executor is not None:
            self.cluster.add_executor(agent.id, framework.id, verdict.new_executor)
        for task, resources in verdict.tasks:
            self._add_task(framework, agent, task, resources, role)
        self.metrics["task_groups_launched"] += 1
        self.send(
            agent.pid,
            RunTaskGroup(
                framework=framework.info,
                framework_pid=str(framework.pid),
                executor=executor,
                task_group=TaskGroupInfo(tasks=tuple(task for task, _ in verdict.tasks)),
            ),
        )
        self.log.info(
            "task_group_launched",
            framework_id=framework.id,
            executor_id=executor.executor_id,
            task_ids=list(group.task_ids),
            agent_id=agent.id,
            new_executor=verdict.new_executor is not None,
        )
        return available - verdict.consumed

    def _unauthorized_in_group(
        self, framework: MasterFramework, group: TaskGroupInfo
    ) -> str | None:
        """Why the framework may not launch this group under the ACLs, if it may not."""
        principal = framework.info.principal or None
        for task in group.tasks:
            user = task_user(task, framework.info)
            if not self._authorized(
                "run_tasks", principal, user, framework_id=framework.id, task_id=task.task_id
            ):
                return f"Task {task.task_id!r} is not authorized to launch as user {user!r}"
        return None

    def _refuse_group(
        self,
        framework: MasterFramework,
        agent: MasterAgent,
        group: TaskGroupInfo,
        error: str,
        reason: Reason,
    ) -> None:
        """A group refused whole: every task of it gets TASK_ERROR with the one reason."""
        self.metrics["task_groups_refused"] += 1
        for task in group.tasks:
            self._task_invalid(framework, task, agent.id, error, reason)

    def _offer_of(self, offer_id: str) -> Offer | None:
        outstanding = self.offers.get(offer_id)
        return None if outstanding is None else outstanding.offer

    def _refuse_accept(
        self, framework: MasterFramework, message: AcceptOffers, problem: str
    ) -> None:
        """Invalid offers: every task is dropped; the framework's valid offers come back."""
        self.log.warning("accept_refused", framework_id=framework.id, reason=problem)
        self.metrics["invalid_accepts"] += 1
        for offer_id in set(message.offer_ids):
            outstanding = self.offers.get(offer_id)
            if outstanding is not None and outstanding.framework_id == framework.id:
                self.offers.remove(offer_id)
                self._recover(
                    framework.id,
                    outstanding.agent_id,
                    outstanding.resources,
                    role=outstanding.role,
                )
        tasks = [task for operation in message.operations for task in operation.launched_tasks]
        for task in tasks:
            status = self._master_status(
                task.task_id,
                TaskState.DROPPED,
                Reason.INVALID_OFFERS,
                f"Task launched with invalid offers: {problem}",
                task.agent_id,
            )
            self._count_terminal(TaskState.DROPPED)
            self._send_status(framework, status)

    def _task_invalid(
        self,
        framework: MasterFramework,
        task: TaskInfo,
        agent_id: str,
        error: str,
        reason: Reason = Reason.TASK_INVALID,
    ) -> None:
        self.log.warning(
            "task_invalid", framework_id=framework.id, task_id=task.task_id, reason=error
        )
        status = self._master_status(task.task_id, TaskState.ERROR, reason, error, agent_id)
        self._count_terminal(TaskState.ERROR)
        self._send_status(framework, status)

    def _launch(
        self,
        framework: MasterFramework,
        agent: MasterAgent,
        task: TaskInfo,
        resources: Resources,
        role: str | None,
    ) -> None:
        task = self._add_task(framework, agent, task, resources, role)
        self.send(
            agent.pid,
            RunTask(framework=framework.info, framework_pid=str(framework.pid), task=task),
        )
        self.log.info(
            "task_launched", framework_id=framework.id, task_id=task.task_id, agent_id=agent.id
        )

    def _add_task(
        self,
        framework: MasterFramework,
        agent: MasterAgent,
        task: TaskInfo,
        resources: Resources,
        role: str | None,
    ) -> TaskInfo:
        """Record a launched task (TASK_STAGING); returns it as the agent gets it."""
        if task.executor is not None and task.executor.framework_id != framework.id:
            task = msgspec.structs.replace(
                task,
                executor=msgspec.structs.replace(task.executor, framework_id=framework.id),
            )
        executor_id = task.executor.executor_id if task.executor is not None else task.task_id
        record = MasterTask(task, framework.id, agent.id, executor_id, resources, role=role)
        record.status = self._master_status(
            task.task_id, TaskState.STAGING, None, "", agent.id, executor_id
        )
        self.cluster.add_task(record)
        self.metrics["tasks_launched"] += 1
        return task


def _refuse_seconds(filters: Filters) -> float:
    """A framework's refuse_seconds, made safe: negative or NaN means the default."""
    value = filters.refuse_seconds
    if math.isnan(value) or value < 0:
        return Filters().refuse_seconds
    return min(value, _MAX_REFUSE_SECONDS)
