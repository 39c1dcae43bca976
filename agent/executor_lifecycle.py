"""The executor's life as the agent drives it: launch in a sandbox, hand-over of
tasks, exit, registration timeout, shutdown.

RunTask for an unknown executor creates a sandbox, fetches the executor's URIs
into it (a command task's own URIs go to its command executor; agent.fetcher),
and starts the executor program (the command executor for command tasks)
through the containerizer, with the environment of zmesos.protocol.environment.
A failed fetch fails the tasks with REASON_CONTAINER_LAUNCH_FAILED and its reason.
The process's exit comes back as an event (`defer`): its live tasks become
TASK_FAILED, reason EXECUTOR_TERMINATED, whatever the executor (command, default
or custom, as current Mesos does), unless the agent ended it for another reason
that names its own state and reason; and the master hears ExitedExecutor. Shutdown sends
ShutdownExecutor and kills the container after `executor_shutdown_grace_period`;
an executor that never registers is killed `executor_registration_timeout` after
its launch (its fetch does not count).

These helpers are the common base of the task and executor handler groups
(agent.task_handlers, agent.executor_handlers), which both drive executors.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from agent import paths
from agent.checkpoints import ExecutorRecord
from agent.container_monitor import ContainerMonitor, container_limits
from agent.containerizer import (
    COMMAND_EXECUTOR_MODULE,
    DEFAULT_EXECUTOR_MODULE,
    Container,
    describe_exit,
)
from agent.errors import FetchError
from agent.isolation import Limits
from agent.state import (
    AgentExecutor,
    AgentFramework,
    AgentTask,
    ExecutorState,
    FrameworkState,
    Termination,
)
from agent.volume_links import BIND, can_bind_mount
from libprocess import curve
from zmesos.protocol import (
    CommandInfo,
    ExecutorInfo,
    ExitedExecutor,
    Reason,
    RunTask,
    RunTaskGroup,
    ShutdownExecutor,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
)
from zmesos.protocol import environment as env
from zmesos.protocol.commands import command_argv
from zmesos.resources import Resource

__all__ = ["EXIT_STATUS_NOT_STARTED", "ExecutorLifecycle"]

SUBSCRIPTION_BACKOFF_MAX = 2.0  # seconds; Mesos's default --executor_reregistration_timeout
EXIT_STATUS_NOT_STARTED = 127  # ExitedExecutor.status when the program never ran
# The directory that holds the agent and frameworks packages: executors import from it.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class ExecutorLifecycle(ContainerMonitor):
    """Launch, hand-over, exit, timeouts and shutdown of executors (no message handlers)."""

    def _executor_info_for(self, task: TaskInfo, framework_id: str) -> ExecutorInfo:
        if task.executor is not None:
            info = task.executor
            if not info.framework_id:
                info = msgspec.structs.replace(info, framework_id=framework_id)
            return info
        return ExecutorInfo(
            executor_id=task.task_id,
            framework_id=framework_id,
            command=CommandInfo(
                value=sys.executable,
                shell=False,
                arguments=("-m", COMMAND_EXECUTOR_MODULE),
                uris=task.command.uris if task.command is not None else (),
            ),
            name=f"Command Executor (Task: {task.task_id})",
            source=task.task_id,
        )

    def _launch_executor(
        self,
        framework: AgentFramework,
        info: ExecutorInfo,
        command_executor: bool,
        volumes: Sequence[Resource] = (),
        task_resources: Sequence[Resource] = (),
    ) -> AgentExecutor | None:
        """Make the sandbox (with `volumes` in it) and start the executor's container,
        limited to the executor's resources and `task_resources` (its first task's).

        A command executor's volumes are bind-mounted in its task's own mount
        namespace where the agent can mount; everything else gets symlinks.
        """
        container_id = paths.new_container_id()
        try:
            work_dir = self.flags.work_dir
            self._keep(paths.framework_dir(work_dir, self.agent_id, framework.id))
            self._keep(paths.executor_dir(work_dir, self.agent_id, framework.id, info.executor_id))
            sandbox = paths.create_sandbox(
                self.flags.work_dir, self.agent_id, framework.id, info.executor_id, container_id
            )
        except (OSError, ValueError) as error:
            self.log.error("sandbox_failed", executor_id=info.executor_id, error=str(error))
            return None
        bind = command_executor and can_bind_mount()
        links = self._link_volumes(sandbox, volumes, bind=bind)
        if links is None:
            return None
        executor = AgentExecutor(
            info=info,
            framework_id=framework.id,
            container_id=container_id,
            sandbox=sandbox,
            command_executor=command_executor,
        )
        framework.executors[info.executor_id] = executor
        if self._checkpoints(framework):
            record = ExecutorRecord(info=info, command_executor=command_executor)
            self.checkpointer.executor(self.agent_id, framework.id, record, container_id)
        environment = self._executor_environment(framework, executor)
        mounts = [
            (str(link.source), str(link.target), link.mode) for link in links if link.how == BIND
        ]
        if mounts:
            environment[env.VOLUME_MOUNTS] = json.dumps(mounts)
        limits = container_limits(info, command_executor, task_resources)
        self.defer(
            self._start_container(executor, environment, limits),
            functools.partial(
                self._executor_launched, framework.id, info.executor_id, container_id
            ),
        )
        self.log.info(
            "launching_executor",
            executor_id=info.executor_id,
            framework_id=framework.id,
            container_id=container_id,
            sandbox=str(sandbox),
        )
        return executor

    async def _start_container(
        self, executor: AgentExecutor, environment: dict[str, str], limits: Limits
    ) -> Container:
        argv = (
            [sys.executable, "-m", DEFAULT_EXECUTOR_MODULE]
            if executor.info.is_default
            else command_argv(executor.info.command)
        )
        if executor.info.command.uris:
            await self.fetcher.fetch(executor.info.command.uris, executor.sandbox)
        return await self.containerizer.launch(
            executor.container_id, executor.sandbox, argv, environment, limits
        )

    def _executor_environment(
        self, framework: AgentFramework, executor: AgentExecutor
    ) -> dict[str, str]:
        environment = dict(os.environ)
        for inherited in (
            "LIBPROCESS_PORT",
            "LIBPROCESS_ADVERTISE_IP",
            "LIBPROCESS_ADVERTISE_PORT",
        ):
            environment.pop(inherited, None)
        environment.update(executor.info.command.environment)
        environment.pop(curve.ENVIRONMENT, None)
        if self.node.curve is not None:  # the executor's node uses its agent's keys
            environment[curve.ENVIRONMENT] = str(self.node.curve.directory)
        python_path = environment.get("PYTHONPATH")
        environment.update(
            {
                env.AGENT_PID: str(self.pid),
                env.AGENT_ID: self.agent_id,
                env.FRAMEWORK_ID: framework.id,
                env.EXECUTOR_ID: executor.id,
                env.CONTAINER_ID: executor.container_id,
                env.SANDBOX: str(executor.sandbox),
                env.CHECKPOINT: "1" if framework.info.checkpoint else "0",
                env.RECOVERY_TIMEOUT: str(self.flags.recovery_timeout),
                env.SHUTDOWN_GRACE_PERIOD: str(self.flags.executor_shutdown_grace_period),
                env.LIBPROCESS_IP: self.pid.host,
                env.MESOS_FRAMEWORK_ID: framework.id,
                env.MESOS_EXECUTOR_ID: executor.id,
                env.MESOS_AGENT_ID: self.agent_id,
                env.MESOS_DIRECTORY: str(executor.sandbox),
                env.MESOS_SANDBOX: str(executor.sandbox),
                env.MESOS_AGENT_ENDPOINT: f"{self.flags.ip}:{self.flags.port}",
                env.MESOS_CHECKPOINT: "1" if framework.info.checkpoint else "0",
                env.MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD: _duration(
                    self.flags.executor_shutdown_grace_period
                ),
                env.MESOS_RECOVERY_TIMEOUT: _duration(self.flags.recovery_timeout),
                env.MESOS_SUBSCRIPTION_BACKOFF_MAX: _duration(SUBSCRIPTION_BACKOFF_MAX),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), python_path])),
            }
        )
        return environment

    def _executor_launched(
        self, framework_id: str, executor_id: str, container_id: str, done: Any
    ) -> None:
        executor = self._executor(framework_id, executor_id, container_id)
        error = done.exception()
        if error is not None:
            self.log.error("executor_launch_failed", executor_id=executor_id, error=str(error))
            if executor is not None:
                message = (
                    str(error)
                    if isinstance(error, FetchError)
                    else f"Failed to launch the executor: {error}"
                )
                executor.termination = Termination(
                    reason=Reason.CONTAINER_LAUNCH_FAILED,
                    message=message,
                    state=TaskState.FAILED,
                )
                self._executor_terminated(executor, EXIT_STATUS_NOT_STARTED)
            return
        container: Container = done.result()
        if executor is None:  # forgotten meanwhile; nothing may be left running
            self.containerizer.destroy(container)
            return
        executor.container = container
        framework = self.frameworks[framework_id]
        if self._checkpoints(framework):
            self.checkpointer.forked_pid(
                self.agent_id, framework_id, executor_id, container_id, container.pid
            )
        self.log.info("executor_launched", executor_id=executor_id, os_pid=container.pid)
        if executor.state is ExecutorState.TERMINATING:
            self.containerizer.destroy(container)  # killed while it was starting
        elif executor.state is ExecutorState.REGISTERING and executor.registration_timer is None:
            # From the launch on, as in Mesos: the fetch before it may take its time.
            executor.registration_timer = self.delay(
                self.flags.executor_registration_timeout,
                self._registration_timed_out,
                framework_id,
                executor_id,
                container_id,
            )
        self._resize_container(executor)  # tasks that joined while it was starting
        self._watch_container(executor, container)
        self.defer(
            self.containerizer.wait(container),
            functools.partial(self._executor_exited, framework_id, executor_id, container_id),
        )

    def _executor_exited(
        self, framework_id: str, executor_id: str, container_id: str, done: Any
    ) -> None:
        executor = self._executor(framework_id, executor_id, container_id)
        if executor is None or executor.container is None:
            return
        status = None if done.cancelled() or done.exception() else done.result()
        self._termination_at_exit(executor)
        self.containerizer.cleanup(executor.container)
        self.log.info(
            "executor_exited",
            executor_id=executor_id,
            framework_id=framework_id,
            exit=describe_exit(status),
        )
        self._executor_terminated(executor, status)

    def _executor_terminated(self, executor: AgentExecutor, status: int | None) -> None:
        """The executor's process is gone: fail its live tasks, tell the master, tidy up."""
        executor.state = ExecutorState.TERMINATED
        executor.exit_status = status
        executor.cancel_timers()
        framework = self.frameworks[executor.framework_id]
        if framework.state is not FrameworkState.TERMINATING:
            termination = executor.termination or Termination(
                reason=Reason.EXECUTOR_TERMINATED,
                message=f"Executor terminated: {describe_exit(status)}",
            )
            for task in executor.live_tasks():
                self._agent_update(
                    framework.id,
                    task.id,
                    executor.id,
                    termination.state or TaskState.FAILED,
                    termination.reason,
                    termination.message,
                )
        self._notify_master(
            ExitedExecutor(
                agent_id=self.agent_id,
                framework_id=framework.id,
                executor_id=executor.id,
                status=EXIT_STATUS_NOT_STARTED if status is None else status,
            )
        )
        self._remove_executor_if_done(framework, executor)

    def _registration_timed_out(
        self, framework_id: str, executor_id: str, container_id: str
    ) -> None:
        executor = self._executor(framework_id, executor_id, container_id)
        if executor is None or executor.state is not ExecutorState.REGISTERING:
            return
        executor.registration_timer = None
        timeout = self.flags.executor_registration_timeout
        self.log.warning("executor_registration_timeout", executor_id=executor_id, seconds=timeout)
        executor.termination = Termination(
            reason=Reason.EXECUTOR_REGISTRATION_TIMEOUT,
            message=f"Executor did not register within {timeout}s",
            state=TaskState.FAILED,
        )
        self._destroy_executor(executor)

    def _shutdown_executor(self, executor: AgentExecutor) -> None:
        """Ask the executor to stop; kill its container after the shutdown grace period."""
        if executor.state in (ExecutorState.TERMINATING, ExecutorState.TERMINATED):
            return
        if executor.state is ExecutorState.REGISTERING or executor.pid is None:
            self._destroy_executor(executor)
            return
        self.log.info("shutting_down_executor", executor_id=executor.id)
        executor.state = ExecutorState.TERMINATING
        self.send(executor.pid, ShutdownExecutor())
        self._arm_shutdown_timer(executor)

    def _arm_shutdown_timer(self, executor: AgentExecutor) -> None:
        if executor.shutdown_timer is None:
            executor.shutdown_timer = self.delay(
                self.flags.executor_shutdown_grace_period,
                self._shutdown_timed_out,
                executor.framework_id,
                executor.id,
                executor.container_id,
            )

    def _shutdown_timed_out(self, framework_id: str, executor_id: str, container_id: str) -> None:
        executor = self._executor(framework_id, executor_id, container_id)
        if executor is None or executor.state is ExecutorState.TERMINATED:
            return
        executor.shutdown_timer = None
        self.log.warning("executor_shutdown_timeout", executor_id=executor_id, action="killing")
        self._destroy_executor(executor)

    def _destroy_executor(self, executor: AgentExecutor) -> None:
        """Kill the executor's container now; its exit arrives as the usual event."""
        if executor.state is ExecutorState.TERMINATED:
            return
        executor.state = ExecutorState.TERMINATING
        if executor.registration_timer is not None:
            executor.registration_timer.cancel()
            executor.registration_timer = None
        if executor.container is not None:
            self.containerizer.destroy(executor.container)

    def _hand_over(
        self, framework: AgentFramework, executor: AgentExecutor, tasks: Sequence[AgentTask]
    ) -> None:
        """Send tasks to their registered executor: a task alone as RunTask, the tasks of
        a group together as one RunTaskGroup (those of it not killed meanwhile)."""
        assert executor.pid is not None
        sent: set[int] = set()
        for task in tasks:
            if task.delivered or task.state.terminal:
                continue
            group = task.group
            if group is None:
                task.delivered = True
                self.send(
                    executor.pid,
                    RunTask(framework=framework.info, framework_pid=framework.pid, task=task.info),
                )
                continue
            if id(group) in sent:
                continue
            sent.add(id(group))
            members = executor.queued_group(group)
            for member in members:
                member.delivered = True
            self.send(
                executor.pid,
                RunTaskGroup(
                    framework=framework.info,
                    framework_pid=framework.pid,
                    executor=executor.info,
                    task_group=TaskGroupInfo(tasks=tuple(member.info for member in members)),
                ),
            )


def _duration(seconds: float) -> str:
    """Seconds in Mesos's spelling of a duration (`5secs`, `0.5secs`)."""
    return f"{seconds:g}secs"
