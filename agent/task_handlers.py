"""Tasks: RunTask, KillTask, framework shutdown, status updates and their acknowledgements,
and framework messages both ways.

A task sent to an executor that has not registered waits in its queue; once the
executor registers, queued tasks go to it (agent.executor_handlers). Executors' updates
are acknowledged to them at once and go to the master through the status update
manager; when the master's acknowledgement of a terminal update comes back, the
task is forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from agent.executor_lifecycle import ExecutorLifecycle
from agent.state import AgentFramework, AgentTask, ExecutorState, FrameworkState
from libprocess import PID
from zmesos.protocol import (
    ExecutorInfo,
    ExecutorToFramework,
    FrameworkToExecutor,
    KillTask,
    Reason,
    ReconcileTasks,
    RunTask,
    RunTaskGroup,
    ShutdownFramework,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
    UpdateFramework,
)
from zmesos.resources import Resources

__all__ = ["AgentTaskHandlers"]


class AgentTaskHandlers(ExecutorLifecycle):
    """The master's task messages and the executors' updates and messages."""

    def run_task(self, sender: PID, message: RunTask) -> None:
        self.metrics["messages_run_task"] += 1
        if not self._from_master(sender, message):
            return
        task = message.task
        if (task.command is None) == (task.executor is None):
            self._drop(message, "a task needs exactly one of command and executor", task.task_id)
            return
        executor_info = self._executor_info_for(task, message.framework.id)
        self._queue_tasks(message, executor_info, (task,), None)

    def run_task_group(self, sender: PID, message: RunTaskGroup) -> None:
        """A task group for one executor (Mesos's RunTaskGroupMessage): all its tasks are
        queued, checkpointed and handed over together (one RunTaskGroup to the executor)."""
        self.metrics["messages_run_task_group"] += 1
        if not self._from_master(sender, message):
            return
        group = message.task_group
        if not group.tasks or len(set(group.task_ids)) != len(group.tasks):
            self._drop(message, "a task group needs tasks with distinct ids")
            return
        executor_info = message.executor
        if not executor_info.framework_id:
            executor_info = msgspec.structs.replace(
                executor_info, framework_id=message.framework.id
            )
        self._queue_tasks(message, executor_info, group.tasks, group)

    def _queue_tasks(
        self,
        message: RunTask | RunTaskGroup,
        executor_info: ExecutorInfo,
        tasks: Sequence[TaskInfo],
        group: TaskGroupInfo | None,
    ) -> None:
        """Queue `tasks` (one task, or a `group`) on their executor, launching it if new;
        each task that cannot run gets its terminal update instead."""
        framework_id = message.framework.id
        first = tasks[0].task_id
        if self.shutting_down:
            self._drop(message, "the agent is shutting down", first)
            return
        if not self.agent_id or not framework_id:
            self._drop(message, "the agent is not registered or the framework has no id")
            return
        framework = self.frameworks.get(framework_id)
        if framework is None:
            framework = self.frameworks[framework_id] = AgentFramework(
                info=message.framework, pid=message.framework_pid
            )
            changed = True
        else:
            changed = (framework.info, framework.pid) != (message.framework, message.framework_pid)
            framework.info, framework.pid = message.framework, message.framework_pid
        if changed and self._checkpoints(framework):
            self.checkpointer.framework(self.agent_id, framework.info, framework.pid)
        if framework.state is FrameworkState.TERMINATING:
            self._drop(message, "the framework is terminating", first)
            return
        if any(framework.executor_of_task(task.task_id) is not None for task in tasks):
            self._drop(message, "the framework already has a task with this id", first)
            return

        def refuse(executor_id: str, state: TaskState, reason: Reason, why: str) -> None:
            for task in tasks:
                self._agent_update(framework_id, task.task_id, executor_id, state, reason, why)
            self._remove_framework_if_idle(framework)

        task_resources = [r for task in tasks for r in task.resources]
        volumes = [r for r in (*task_resources, *executor_info.resources) if r.is_persistent_volume]
        unknown = [volume for volume in volumes if not self.checkpointed.contains(volume)]
        if unknown:
            refuse(
                executor_info.executor_id,
                self._never_launched(framework_id),
                Reason.RESOURCES_UNKNOWN,
                f"Task uses persistent volumes the agent does not have: {Resources(unknown)}",
            )
            return
        executor = framework.executors.get(executor_info.executor_id)
        running_executor = executor is not None  # its sandbox exists: volumes get symlinks
        if executor is None:
            command_executor = group is None and tasks[0].executor is None
            executor = self._launch_executor(
                framework, executor_info, command_executor, volumes, task_resources
            )
            if executor is None:
                refuse(
                    executor_info.executor_id,
                    TaskState.FAILED,
                    Reason.CONTAINER_LAUNCH_FAILED,
                    "Failed to create the executor's sandbox",
                )
                return
        elif not _same_executor(executor.info, executor_info):
            refuse(
                executor.id,
                self._never_launched(framework_id),
                Reason.TASK_INVALID,
                "ExecutorInfo differs from that of the running executor with this id",
            )
            return
        if executor.state in (ExecutorState.TERMINATING, ExecutorState.TERMINATED):
            refuse(
                executor.id,
                self._never_launched(framework_id),
                Reason.EXECUTOR_TERMINATED,
                "Executor terminating",
            )
            return
        if running_executor and self._link_volumes(executor.sandbox, volumes, bind=False) is None:
            refuse(
                executor.id,
                TaskState.FAILED,
                Reason.CONTAINER_LAUNCH_FAILED,
                "Failed to make the task's volumes appear in its sandbox",
            )
            return
        records = []
        for task in tasks:
            if self._checkpoints(framework):
                self.checkpointer.task(
                    self.agent_id, framework_id, executor.id, executor.container_id, task
                )
            record = executor.tasks[task.task_id] = AgentTask(info=task, group=group)
            records.append(record)
        self._resize_container(executor)
        self.log.info(
            "task_received" if group is None else "task_group_received",
            task_ids=[task.task_id for task in tasks],
            framework_id=framework_id,
            executor_id=executor.id,
            executor_state=executor.state.value,
        )
        if executor.state is ExecutorState.RUNNING:
            self._hand_over(framework, executor, records)

    def kill_task(self, sender: PID, message: KillTask) -> None:
        self.metrics["messages_kill_task"] += 1
        if not self._from_master(sender, message):
            return
        framework = self.frameworks.get(message.framework_id)
        if framework is None or framework.state is FrameworkState.TERMINATING:
            self._drop(message, "no such framework is running", message.task_id)
            return
        executor = framework.executor_of_task(message.task_id)
        if executor is None:
            # Unknown here: it may never have arrived. Tell the scheduler it is gone.
            self._agent_update(
                framework.id,
                message.task_id,
                "",
                self._never_launched(framework.id),
                Reason.EXECUTOR_TERMINATED,
                "Cannot find executor",
            )
            return
        task = executor.tasks[message.task_id]
        if task.state.terminal:
            self._drop(message, "the task is terminal already", task.id)
            return
        if not task.delivered:
            # A task of a queued group takes its whole group with it (Mesos too).
            killed = [task] if task.group is None else executor.queued_group(task.group)
            for queued in killed:
                why = "Killed before delivery to the executor"
                if queued is not task:
                    why = f"A task within the task group ({task.id}) was killed before delivery"
                self._agent_update(
                    framework.id,
                    queued.id,
                    executor.id,
                    TaskState.KILLED,
                    Reason.TASK_KILLED_DURING_LAUNCH,
                    why,
                )
            if not executor.live_tasks():
                # A single-task executor would wait forever for work that never comes.
                self._destroy_executor(executor)
            return
        if executor.state is not ExecutorState.RUNNING or executor.pid is None:
            self._drop(message, "the executor is terminating", task.id)
            return
        self.log.info("killing_task", task_id=task.id, executor_id=executor.id)
        self.send(
            executor.pid,
            KillTask(
                framework_id=framework.id,
                task_id=task.id,
                agent_id=self.agent_id,
                grace_period_seconds=message.grace_period_seconds,
            ),
        )

    def shutdown_framework(self, sender: PID, message: ShutdownFramework) -> None:
        self.metrics["messages_shutdown_framework"] += 1
        if not self._from_master(sender, message):
            return
        framework = self.frameworks.get(message.framework_id)
        if framework is None:
            self._drop(message, "no such framework")
            return
        self._shutdown_framework(framework)

    def _shutdown_framework(self, framework: AgentFramework) -> None:
        """Shut its executors down; no more updates for it; forget it once they are gone."""
        self.log.info("shutting_down_framework", framework_id=framework.id)
        framework.state = FrameworkState.TERMINATING
        self.status_updates.cleanup(framework.id)
        for executor in list(framework.executors.values()):
            if executor.state is ExecutorState.TERMINATED:
                self._remove_executor_if_done(framework, executor)
            else:
                self._shutdown_executor(executor)
        self._remove_framework_if_idle(framework)

    def reconcile_tasks(self, sender: PID, message: ReconcileTasks) -> None:
        """The master asks about tasks it launched here that this agent did not report.

        One this agent has goes on as it is (its updates follow). One it never
        received (its RunTask was lost, say while the agent restarted) is TASK_LOST
        (TASK_DROPPED for a partition-aware framework the agent knows), reason
        RECONCILIATION, sent reliably like any agent update (Mesos too).
        """
        self.metrics["messages_reconcile_tasks"] += 1
        if not self._from_master(sender, message):
            return
        framework = self.frameworks.get(message.framework_id)
        for status in message.statuses:
            if framework is not None and framework.executor_of_task(status.task_id) is not None:
                continue
            self._agent_update(
                message.framework_id,
                status.task_id,
                "",
                self._never_launched(message.framework_id),
                Reason.RECONCILIATION,
                "Reconciliation: task unknown to the agent",
            )

    def update_framework(self, sender: PID, message: UpdateFramework) -> None:
        if not self._from_master(sender, message):
            return
        framework = self.frameworks.get(message.framework_id)
        if framework is not None and framework.pid != message.framework_pid:
            framework.pid = message.framework_pid
            if self._checkpoints(framework):
                self.checkpointer.framework_pid(self.agent_id, framework.id, framework.pid)

    def status_update_acknowledgement(
        self, sender: PID, message: StatusUpdateAcknowledgement
    ) -> None:
        self.metrics["messages_status_update_acknowledgement"] += 1
        if not self._from_master(sender, message):
            return
        acknowledged = self.status_updates.acknowledge(
            message.framework_id, message.task_id, message.uuid
        )
        if acknowledged is None:
            self.metrics["unexpected_acknowledgements"] += 1
            self._drop(message, "it does not match the stream's pending update", message.task_id)
            return
        if acknowledged.status.state.terminal:
            self._task_completed(message.framework_id, message.task_id)

    def framework_to_executor(self, sender: PID, message: FrameworkToExecutor) -> None:
        self.metrics["messages_framework_to_executor"] += 1
        if not self._from_master(sender, message):
            return
        framework = self.frameworks.get(message.framework_id)
        executor = framework.executors.get(message.executor_id) if framework else None
        if executor is None or executor.state is not ExecutorState.RUNNING or not executor.pid:
            self.metrics["invalid_framework_messages"] += 1
            self._drop(message, "the executor is not running")
            return
        self.send(executor.pid, message)

    def status_update(self, sender: PID, message: StatusUpdateMessage) -> None:
        self.metrics["messages_status_update"] += 1
        self._take_executor_update(sender, message.update)

    def executor_to_framework(self, sender: PID, message: ExecutorToFramework) -> None:
        self.metrics["messages_executor_to_framework"] += 1
        framework = self.frameworks.get(message.framework_id)
        if framework is None or message.executor_id not in framework.executors:
            self._drop(message, "unknown framework or executor")
            return
        if not self.connected:
            self._drop(message, "the agent is not connected to a master")
            return
        self._send_master(
            ExecutorToFramework(
                agent_id=self.agent_id,
                framework_id=message.framework_id,
                executor_id=message.executor_id,
                data=message.data,
            ),
        )

    def _task_completed(self, framework_id: str, task_id: str) -> None:
        """The scheduler acknowledged the task's terminal update: forget the task."""
        framework = self.frameworks.get(framework_id)
        executor = framework.executor_of_task(task_id) if framework else None
        if framework is None or executor is None:
            return
        task = executor.tasks[task_id]
        if not task.state.terminal:
            return  # a stale terminal ack; the task runs again under the same id
        del executor.tasks[task_id]
        executor.completed_tasks.append(task)
        if self._checkpoints(framework):
            self.checkpointer.remove_task(
                self.agent_id, framework_id, executor.id, executor.container_id, task_id
            )
        self._remove_executor_if_done(framework, executor)


def _same_executor(running: ExecutorInfo, asked: ExecutorInfo) -> bool:
    """Whether a task's ExecutorInfo names the executor already running under that id."""
    return (running.command, running.resources, running.name, running.type) == (
        asked.command,
        asked.resources,
        asked.name,
        asked.type,
    )
