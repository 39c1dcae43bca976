"""Executors' messages: registration, re-registration, and the framework's request
to shut one down.

An executor registers once its program runs; the agent then hands it the tasks
queued for it. The executor's life (launch, exit, timeouts, shutdown) is driven
by agent.executor_lifecycle, shared with the task handlers.
"""

from __future__ import annotations

from agent.executor_lifecycle import ExecutorLifecycle
from agent.state import AgentExecutor, AgentFramework, ExecutorState, FrameworkState
from libprocess import PID
from zmesos.protocol import (
    ExecutorRegistered,
    ExecutorReregistered,
    Reason,
    RegisterExecutor,
    ReregisterExecutor,
    ShutdownFrameworkExecutor,
    TaskState,
)

__all__ = ["ExecutorHandlers"]


class ExecutorHandlers(ExecutorLifecycle):
    """RegisterExecutor, ReregisterExecutor and ShutdownFrameworkExecutor."""

    def register_executor(self, sender: PID, message: RegisterExecutor) -> None:
        self.metrics["messages_register_executor"] += 1
        framework = self.frameworks.get(message.framework_id)
        executor = framework.executors.get(message.executor_id) if framework else None
        if framework is None or executor is None:
            self._refuse_executor(sender, message, "unknown framework or executor")
            return
        if framework.state is FrameworkState.TERMINATING:
            self._refuse_executor(sender, message, "its framework is terminating")
            return
        if executor.state is ExecutorState.RUNNING and executor.pid == sender:
            self.send(
                sender,
                ExecutorRegistered(
                    executor=executor.info, framework=framework.info, agent=self.info
                ),
            )
            return  # a retried registration: the answer may have crossed it
        if executor.state is not ExecutorState.REGISTERING or (
            executor.recovered and executor.pid is not None
        ):
            self._refuse_executor(sender, message, "it is not expected to register")
            return
        executor.state = ExecutorState.RUNNING
        executor.pid = sender
        if executor.registration_timer is not None:
            executor.registration_timer.cancel()
            executor.registration_timer = None
        self.link(sender)
        self._checkpoint_executor_pid(framework, executor)
        self.log.info("executor_registered", executor_id=executor.id, executor_pid=str(sender))
        self.send(
            sender,
            ExecutorRegistered(executor=executor.info, framework=framework.info, agent=self.info),
        )
        self._hand_over(framework, executor, executor.queued_tasks())
        if executor.recovered:
            self._recovered_executor_back()

    def reregister_executor(self, sender: PID, message: ReregisterExecutor) -> None:
        """An executor back after the agent restarted (or after a broken link healed).

        A recovered executor hands back its unacknowledged updates (duplicates of
        what the agent checkpointed are dropped) and the tasks it knows; a task
        still STAGING that it does not know never reached it: TASK_LOST (TASK_DROPPED
        for a partition-aware framework), reason AGENT_RESTARTED, as in Mesos.
        """
        self.metrics["messages_reregister_executor"] += 1
        framework = self.frameworks.get(message.framework_id)
        executor = framework.executors.get(message.executor_id) if framework else None
        if framework is None or executor is None:
            self._refuse_executor(sender, message, "not an executor of this agent")
            return
        recovering = executor.recovered and executor.state is ExecutorState.REGISTERING
        if not recovering and executor.state is not ExecutorState.RUNNING:
            self._refuse_executor(sender, message, "not a running executor of this agent")
            return
        moved = executor.pid != sender  # a recovered executor's pid is checkpointed already
        executor.pid = sender
        self.link(sender)
        if executor.state is ExecutorState.RUNNING and executor.shutdown_timer is not None:
            # Armed when its link broke (agent.agent.exited): it is back, so it stays.
            executor.shutdown_timer.cancel()
            executor.shutdown_timer = None
        if not recovering:
            if executor.shutdown_timer is not None:  # its old link broke; it is back in time
                executor.shutdown_timer.cancel()
                executor.shutdown_timer = None
            self.log.info(
                "executor_reregistered", executor_id=executor.id, executor_pid=str(sender)
            )
            self.send(sender, ExecutorReregistered(agent=self.info))
            return
        executor.state = ExecutorState.RUNNING
        if moved:
            self._checkpoint_executor_pid(framework, executor)
        for update in message.updates:
            if update.framework_id == framework.id and update.executor_id in ("", executor.id):
                self._take_executor_update(sender, update)
        known = {task.task_id for task in message.tasks}
        for task in list(executor.tasks.values()):
            if task.state is TaskState.STAGING and task.id not in known:
                self._agent_update(
                    framework.id,
                    task.id,
                    executor.id,
                    self._never_launched(framework.id),
                    Reason.AGENT_RESTARTED,
                    "Task launched during agent restart",
                )
        self.log.info(
            "executor_reregistered",
            executor_id=executor.id,
            executor_pid=str(sender),
            updates=len(message.updates),
            tasks=len(message.tasks),
        )
        self.send(sender, ExecutorReregistered(agent=self.info))
        self._recovered_executor_back()

    def _checkpoint_executor_pid(self, framework: AgentFramework, executor: AgentExecutor) -> None:
        if executor.pid is not None and self._checkpoints(framework):
            self.checkpointer.libprocess_pid(
                self.agent_id, framework.id, executor.id, executor.container_id, str(executor.pid)
            )

    def shutdown_framework_executor(self, sender: PID, message: ShutdownFrameworkExecutor) -> None:
        """The framework asked (Mesos's SHUTDOWN call): shut that executor down."""
        self.metrics["messages_shutdown_framework_executor"] += 1
        if not self._from_master(sender, message):
            return
        framework = self.frameworks.get(message.framework_id)
        executor = framework.executors.get(message.executor_id) if framework else None
        if executor is None:
            self._drop(message, "no such executor")
            return
        self._shutdown_executor(executor)
