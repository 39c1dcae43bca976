"""The master's task handlers: kill, reconcile, status updates and their acknowledgements,
executor exits, and framework messages both ways.
"""

from __future__ import annotations

import msgspec

from libprocess import PID
from master.base import MasterBase
from master.state import MasterTask
from zmesos.protocol import (
    ExecutorToFramework,
    ExitedExecutor,
    FrameworkToExecutor,
    KillTask,
    Reason,
    ReconcileTasks,
    ShutdownFrameworkExecutor,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    TaskState,
    TaskStatus,
)
from zmesos.resources import Resources

__all__ = ["MasterTaskHandlers"]


class MasterTaskHandlers(MasterBase):
    """Tasks after launch, and the messages the master relays between schedulers and agents."""

    def kill_task(self, sender: PID, message: KillTask) -> None:
        self.metrics["messages_kill_task"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        task = framework.tasks.get(message.task_id)
        if task is None:
            # Mesos answers a kill of an unknown task as a reconciliation would.
            self._send_status(
                framework,
                self._master_status(
                    message.task_id,
                    TaskState.LOST,
                    Reason.RECONCILIATION,
                    "Reconciliation: Task is unknown",
                    message.agent_id,
                ),
            )
            return
        agent = self.cluster.agents.get(task.agent_id)
        if agent is None:
            return
        self.send(
            agent.pid,
            KillTask(
                framework_id=framework.id,
                task_id=task.id,
                agent_id=agent.id,
                grace_period_seconds=message.grace_period_seconds,
            ),
        )
        self.log.info("task_kill_requested", framework_id=framework.id, task_id=task.id)

    def shutdown_framework_executor(self, sender: PID, message: ShutdownFrameworkExecutor) -> None:
        self.metrics["messages_shutdown_executor"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        agent = self.cluster.agents.get(message.agent_id)
        if agent is None or not agent.connected:
            self._drop(message, sender, f"agent {message.agent_id!r} is not connected")
            return
        self.send(agent.pid, message)
        self.log.info(
            "executor_shutdown_requested",
            framework_id=framework.id,
            executor_id=message.executor_id,
            agent_id=agent.id,
        )

    def reconcile_tasks(self, sender: PID, message: ReconcileTasks) -> None:
        """Answer with the latest known state of each task (Mesos's reconciliation).

        Implicit (no statuses): every task of the framework, its tasks on
        unreachable agents included. Explicit: each task named; one the master
        does not have is answered by what it knows of the agent named: UNREACHABLE
        or GONE_BY_OPERATOR for a partition-aware framework (LOST otherwise), no
        answer while that agent may still re-register after a master failover,
        else UNKNOWN (LOST for a framework that is not partition-aware).
        """
        self.metrics["messages_reconcile_tasks"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        if not message.statuses:
            known = [*framework.tasks.values(), *framework.unreachable_tasks.values()]
            for known_task in known:
                self._send_status(framework, self._reconciled(known_task))
            return
        for named in message.statuses:
            task = framework.tasks.get(named.task_id) or framework.unreachable_tasks.get(
                named.task_id
            )
            if task is not None:
                self._send_status(framework, self._reconciled(task))
                continue
            state = self._state_of_unknown_task(framework.partition_aware, named.agent_id)
            if state is not None:
                status = self._master_status(
                    named.task_id,
                    state,
                    Reason.RECONCILIATION,
                    "Reconciliation: Task is unknown",
                    named.agent_id,
                )
                self._send_status(framework, status)

    def _reconciled(self, task: MasterTask) -> TaskStatus:
        status = self._master_status(
            task.id,
            task.state,
            Reason.RECONCILIATION,
            "Reconciliation: Latest task state",
            task.agent_id,
            task.executor_id,
        )
        latest = task.status
        if latest is not None:  # what the task last said of itself, as Mesos answers
            status = msgspec.structs.replace(
                status,
                data=latest.data,
                healthy=latest.healthy,
                check_status=latest.check_status,
            )
        return status

    def _state_of_unknown_task(self, partition_aware: bool, agent_id: str) -> TaskState | None:
        registry = self.registrar.registry
        if agent_id and agent_id in self.awaiting_reregistration:
            return None
        if agent_id and agent_id in registry.unreachable:
            return TaskState.UNREACHABLE if partition_aware else TaskState.LOST
        if agent_id and agent_id in registry.gone:
            return TaskState.GONE_BY_OPERATOR if partition_aware else TaskState.LOST
        return TaskState.UNKNOWN if partition_aware else TaskState.LOST

    def status_update(self, sender: PID, message: StatusUpdateMessage) -> None:
        self.metrics["messages_status_update"] += 1
        update = message.update
        agent = self.cluster.agents_by_pid.get(sender)
        if agent is None or (update.agent_id and update.agent_id != agent.id):
            self._drop(message, sender, "not from a registered agent", "invalid_status_updates")
            return
        framework = self.cluster.frameworks.get(update.framework_id)
        if framework is None:
            self._drop(
                message,
                sender,
                f"framework {update.framework_id!r} is not registered",
                "invalid_status_updates",
            )
            return
        status = update.status
        if status.agent_id != agent.id:
            status = msgspec.structs.replace(status, agent_id=agent.id)
            update = msgspec.structs.replace(update, status=status, agent_id=agent.id)
            message = StatusUpdateMessage(update=update, pid=message.pid)
        self.metrics["valid_status_updates"] += 1
        task = agent.tasks.get((framework.id, status.task_id))
        if task is not None:
            was_terminal = task.state.terminal
            self._set_task_status(task, status)
            if status.state.terminal and not was_terminal:
                if update.uuid is None:  # nothing will acknowledge it
                    self._task_done(task)
                else:
                    task.terminal_uuid = update.uuid
        self.log.info(
            "status_update",
            framework_id=framework.id,
            task_id=status.task_id,
            state=str(status.state),
            agent_id=agent.id,
        )
        if framework.connected and framework.pid is not None:
            self.send(framework.pid, message)

    def status_update_acknowledgement(
        self, sender: PID, message: StatusUpdateAcknowledgement
    ) -> None:
        self.metrics["messages_status_update_acknowledgement"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        agent = self.cluster.agents.get(message.agent_id)
        if agent is None or not agent.connected:
            self._drop(
                message,
                sender,
                f"agent {message.agent_id!r} is not connected",
                "invalid_status_update_acknowledgements",
            )
            return
        self.send(agent.pid, message)
        task = agent.tasks.get((framework.id, message.task_id))
        if (
            task is not None
            and task.terminal_uuid is not None
            and task.terminal_uuid == message.uuid
        ):
            self._task_done(task)

    def exited_executor(self, sender: PID, message: ExitedExecutor) -> None:
        self.metrics["messages_exited_executor"] += 1
        agent = self.cluster.agents_by_pid.get(sender)
        if agent is None or agent.id != message.agent_id:
            self._drop(message, sender, "not from that registered agent", "invalid_messages")
            return
        executor = self.cluster.remove_executor(agent.id, message.framework_id, message.executor_id)
        if executor is not None:
            self._recover(message.framework_id, agent.id, Resources(executor.resources))
        framework = self.cluster.frameworks.get(message.framework_id)
        if framework is not None and framework.connected and framework.pid is not None:
            self.send(framework.pid, message)

    def framework_to_executor(self, sender: PID, message: FrameworkToExecutor) -> None:
        self.metrics["messages_framework_to_executor"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        agent = self.cluster.agents.get(message.agent_id)
        if agent is None or not agent.connected:
            self._drop(
                message,
                sender,
                f"agent {message.agent_id!r} is not connected",
                "invalid_framework_to_executor_messages",
            )
            return
        self.send(agent.pid, message)
        self.metrics["valid_framework_to_executor_messages"] += 1

    def executor_to_framework(self, sender: PID, message: ExecutorToFramework) -> None:
        self.metrics["messages_executor_to_framework"] += 1
        agent = self.cluster.agents_by_pid.get(sender)
        framework = self.cluster.frameworks.get(message.framework_id)
        if agent is None or framework is None or not framework.connected or framework.pid is None:
            self._drop(
                message,
                sender,
                "unknown agent or framework not connected",
                "invalid_executor_to_framework_messages",
            )
            return
        self.send(framework.pid, message)
        self.metrics["valid_executor_to_framework_messages"] += 1
