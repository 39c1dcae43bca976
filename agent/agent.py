"""The Agent actor: registers with the master, runs executors, relays tasks and updates.

Conversations (every message it takes is installed in `initialize`):
- master -> agent: AgentRegistered, AgentReregistered, Ping, RunTask, KillTask,
  ShutdownFramework, UpdateFramework, StatusUpdateAcknowledgement, FrameworkToExecutor.
- executor -> agent: RegisterExecutor, ReregisterExecutor, StatusUpdateMessage,
  ExecutorToFramework.

Life of an executor: RunTask for an unknown executor creates a sandbox and
launches the executor program (the command executor for command tasks) through
the containerizer; the task waits in the executor's queue until it registers,
then goes to it. The process's exit comes back as an event (`defer`): its live
tasks fail through the status update manager and the master hears
ExitedExecutor. Updates (the executor's and the agent's own) reach the master
through the status update manager, one at a time per task, until acknowledged.

Registration: RegisterAgent (ReregisterAgent once the agent has an id) is sent
at once and then retried after a random delay in [0, b], b starting at
`registration_backoff_factor` and doubling up to a minute, until the master
answers. The agent links to the master; when the master exits, or stops pinging
for five ping intervals, the agent re-registers the same way.
"""

from __future__ import annotations

import collections
import functools
import os
import random
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import msgspec

from agent import paths
from agent.containerizer import Container, Containerizer, command_argv, describe_exit
from agent.flags import AgentFlags, detect_resources
from agent.state import (
    Executor,
    ExecutorState,
    Framework,
    FrameworkState,
    Task,
    Termination,
)
from agent.status_updates import StatusUpdateManager
from libprocess import PID, Process, Timer, clock
from zmesos.protocol import (
    AgentInfo,
    AgentRegistered,
    AgentReregistered,
    CommandInfo,
    ExecutorInfo,
    ExecutorRegistered,
    ExecutorReregistered,
    ExecutorToFramework,
    ExitedExecutor,
    FrameworkToExecutor,
    KillTask,
    Ping,
    Pong,
    Reason,
    RegisterAgent,
    RegisterExecutor,
    ReregisterAgent,
    ReregisterExecutor,
    RunTask,
    ShutdownExecutor,
    ShutdownFramework,
    Source,
    StatusUpdate,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    TaskInfo,
    TaskState,
    TaskStatus,
    UpdateFramework,
)
from zmesos.protocol import environment as env

__all__ = ["Agent"]

REGISTRATION_RETRY_MAX = 60.0  # Mesos: REGISTER_RETRY_INTERVAL_MAX
REGISTRATION_RETRY_MIN = 0.01  # a zero backoff factor must not spin
MAX_MISSED_PINGS = 5  # Mesos's default --max_agent_ping_timeouts
COMMAND_EXECUTOR_MODULE = "frameworks.command_executor"
EXIT_STATUS_NOT_STARTED = 127  # ExitedExecutor.status when the program never ran
# The directory that holds the agent and frameworks packages: executors import from it.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Agent(Process):
    """One agent. `name` defaults to "agent"; give each its own when several share a node.

    `containerizer` and `rng` are seams for tests (the registration jitter).
    `state()` (via dispatch) returns a plain snapshot for tests and endpoints.
    """

    def __init__(
        self,
        flags: AgentFlags,
        name: str | None = "agent",
        *,
        containerizer: Containerizer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(name)
        self.flags = flags
        self.containerizer = containerizer or Containerizer()
        self.rng = rng or random.Random()
        self.master: PID = flags.master_pid
        self.agent_id = ""
        self.info: AgentInfo = None  # type: ignore[assignment]  # set in initialize
        self.connected = False
        self.frameworks: dict[str, Framework] = {}
        self.metrics: collections.Counter[str] = collections.Counter()
        self.status_updates: StatusUpdateManager = None  # type: ignore[assignment]
        self._registration_timer: Timer | None = None
        self._registration_backoff = flags.registration_backoff_factor
        self._ping_timer: Timer | None = None
        self._ping_timeout = 0.0

    # -- life cycle ------------------------------------------------------------

    def initialize(self) -> None:
        Path(self.flags.work_dir).mkdir(parents=True, exist_ok=True)
        resources = detect_resources(self.flags)
        self.info = AgentInfo(
            hostname=self.flags.hostname or socket.gethostname(),
            resources=tuple(resources.to_list()),
            attributes=self.flags.attribute_map,
            port=self.pid.port,
        )
        self.status_updates = StatusUpdateManager(self._forward_update, self.delay)
        self.status_updates.pause()  # until registered

        self.install(AgentRegistered, self.registered)
        self.install(AgentReregistered, self.reregistered)
        self.install(Ping, self.ping)
        self.install(RunTask, self.run_task)
        self.install(KillTask, self.kill_task)
        self.install(ShutdownFramework, self.shutdown_framework)
        self.install(UpdateFramework, self.update_framework)
        self.install(StatusUpdateAcknowledgement, self.status_update_acknowledgement)
        self.install(FrameworkToExecutor, self.framework_to_executor)
        self.install(RegisterExecutor, self.register_executor)
        self.install(ReregisterExecutor, self.reregister_executor)
        self.install(StatusUpdateMessage, self.status_update)
        self.install(ExecutorToFramework, self.executor_to_framework)

        self.log.info(
            "agent_started",
            master=str(self.master),
            resources=str(resources),
            work_dir=self.flags.work_dir,
        )
        self._start_registration()

    def finalize(self) -> None:
        """Executors of frameworks that do not checkpoint die with the agent (Mesos too)."""
        for framework in self.frameworks.values():
            if framework.info.checkpoint:
                continue
            for executor in framework.executors.values():
                if executor.container is not None:
                    self.containerizer.destroy(executor.container)
        self.status_updates.close_all()

    def exited(self, pid: PID) -> None:
        if pid == self.master:
            if self.connected:
                self.log.warning("master_exited", master=str(pid))
                self._master_lost()
            return
        executor = self._executor_by_pid(pid)
        if executor is not None and executor.state in (
            ExecutorState.RUNNING,
            ExecutorState.REGISTERING,
        ):
            # Its runtime is gone; the process should follow. Give it the shutdown grace
            # to exit by itself before killing what is left of the container.
            self.log.info("executor_disconnected", executor_id=executor.id, executor_pid=str(pid))
            self._arm_shutdown_timer(executor)

    def state(self) -> dict[str, Any]:
        """A plain snapshot: the agent's id and connection, frameworks, executors, tasks."""
        return {
            "id": self.agent_id,
            "pid": str(self.pid),
            "connected": self.connected,
            "hostname": self.info.hostname,
            "resources": [msgspec.to_builtins(r) for r in self.info.resources],
            "attributes": dict(self.info.attributes),
            "frameworks": {
                framework_id: {
                    "state": framework.state.value,
                    "pid": framework.pid,
                    "executors": {
                        executor.id: {
                            "state": executor.state.value,
                            "container_id": executor.container_id,
                            "sandbox": str(executor.sandbox),
                            "os_pid": executor.container.pid if executor.container else None,
                            "pid": str(executor.pid) if executor.pid else None,
                            "tasks": {
                                task.id: task.state.value for task in executor.tasks.values()
                            },
                        }
                        for executor in framework.executors.values()
                    },
                }
                for framework_id, framework in self.frameworks.items()
            },
            "status_update_streams": len(self.status_updates),
        }

    # -- registration ----------------------------------------------------------

    def _start_registration(self) -> None:
        self.connected = False
        self.status_updates.pause()
        self._cancel_ping_timer()
        if self._registration_timer is not None:
            self._registration_timer.cancel()
        self._registration_backoff = self.flags.registration_backoff_factor
        self._attempt_registration()

    def _attempt_registration(self) -> None:
        self._registration_timer = None
        if self.connected:
            return
        if self.agent_id:
            self.send(self.master, self._reregistration_message())
            self.metrics["reregistration_attempts"] += 1
        else:
            self.send(self.master, RegisterAgent(agent=self.info))
            self.metrics["registration_attempts"] += 1
        delay = max(self.rng.uniform(0, self._registration_backoff), REGISTRATION_RETRY_MIN)
        self._registration_backoff = min(self._registration_backoff * 2, REGISTRATION_RETRY_MAX)
        self._registration_timer = self.delay(delay, self._attempt_registration)

    def _reregistration_message(self) -> ReregisterAgent:
        tasks: list[TaskInfo] = []
        task_framework_ids: list[str] = []
        task_states: dict[str, str] = {}
        executors: list[ExecutorInfo] = []
        frameworks = []
        framework_pids: dict[str, str] = {}
        for framework in self.frameworks.values():
            if framework.state is FrameworkState.TERMINATING:
                continue
            frameworks.append(framework.info)
            framework_pids[framework.id] = framework.pid
            for executor in framework.executors.values():
                # Command executors are the agent's own making; the master does not keep them.
                if not executor.command_executor and executor.state is not ExecutorState.TERMINATED:
                    executors.append(executor.info)
                for task in executor.tasks.values():
                    tasks.append(task.info)
                    task_framework_ids.append(framework.id)
                    task_states[task.id] = task.state.value
        return ReregisterAgent(
            agent=self.info,
            tasks=tuple(tasks),
            task_states=task_states,
            frameworks=tuple(frameworks),
            framework_pids=framework_pids,
            executors=tuple(executors),
            task_framework_ids=tuple(task_framework_ids),
        )

    def registered(self, sender: PID, message: AgentRegistered) -> None:
        self.metrics["messages/AgentRegistered"] += 1
        if not self._from_master(sender, message):
            return
        if self.connected and message.agent_id == self.agent_id:
            self.log.info(
                "dropping_message", message="AgentRegistered", reason="already registered"
            )
            return
        if self.agent_id and message.agent_id != self.agent_id:
            # The master does not know us any more: what we run is not accounted anywhere.
            self.log.error(
                "agent_id_changed",
                old_agent_id=self.agent_id,
                new_agent_id=message.agent_id,
                action="killing every executor and starting afresh",
            )
            self._forget_everything()
        self._connected(message.agent_id, message.ping_interval, "agent_registered")

    def reregistered(self, sender: PID, message: AgentReregistered) -> None:
        self.metrics["messages/AgentReregistered"] += 1
        if not self._from_master(sender, message):
            return
        if message.agent_id != self.agent_id:
            self.log.warning(
                "dropping_message",
                message="AgentReregistered",
                reason="it names another agent id",
                agent_id=message.agent_id,
            )
            return
        if self.connected:
            self.log.info("dropping_message", message="AgentReregistered", reason="already so")
            return
        self._connected(message.agent_id, message.ping_interval, "agent_reregistered")

    def _connected(self, agent_id: str, ping_interval: float, event: str) -> None:
        self.agent_id = agent_id
        self.info = msgspec.structs.replace(self.info, id=agent_id)
        self.connected = True
        if self._registration_timer is not None:
            self._registration_timer.cancel()
            self._registration_timer = None
        self.link(self.master)
        self._ping_timeout = ping_interval * MAX_MISSED_PINGS
        self._arm_ping_timer()
        self.status_updates.resume()
        self.log.info(event, agent_id=agent_id, master=str(self.master))

    def _master_lost(self) -> None:
        self.metrics["master_disconnections"] += 1
        self._start_registration()

    def ping(self, sender: PID, message: Ping) -> None:
        self.metrics["messages/Ping"] += 1
        self.send(sender, Pong())
        if sender != self.master or not self.connected:
            return
        if not message.connected:
            self.log.warning("master_thinks_agent_disconnected", action="re-registering")
            self._master_lost()
            return
        self._arm_ping_timer()

    def _arm_ping_timer(self) -> None:
        self._cancel_ping_timer()
        if self._ping_timeout > 0:
            self._ping_timer = self.delay(self._ping_timeout, self._ping_timed_out)

    def _cancel_ping_timer(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None

    def _ping_timed_out(self) -> None:
        self._ping_timer = None
        if self.connected:
            self.log.warning("master_ping_timeout", seconds=self._ping_timeout)
            self._master_lost()

    # -- tasks from the master -------------------------------------------------

    def run_task(self, sender: PID, message: RunTask) -> None:
        self.metrics["messages/RunTask"] += 1
        if not self._from_master(sender, message):
            return
        task, framework_id = message.task, message.framework.id
        if not self.agent_id or not framework_id:
            self._drop(message, "the agent is not registered or the framework has no id")
            return
        if (task.command is None) == (task.executor is None):
            self._drop(message, "a task needs exactly one of command and executor", task.task_id)
            return
        framework = self.frameworks.get(framework_id)
        if framework is None:
            framework = self.frameworks[framework_id] = Framework(
                info=message.framework, pid=message.framework_pid
            )
        else:
            framework.info, framework.pid = message.framework, message.framework_pid
        if framework.state is FrameworkState.TERMINATING:
            self._drop(message, "the framework is terminating", task.task_id)
            return
        if framework.executor_of_task(task.task_id) is not None:
            self._drop(message, "the framework already has a task with this id", task.task_id)
            return
        executor_info = self._executor_info_for(task, framework_id)
        executor = framework.executors.get(executor_info.executor_id)
        if executor is None:
            executor = self._launch_executor(framework, executor_info, task.executor is None)
            if executor is None:
                self._agent_update(
                    framework_id,
                    task.task_id,
                    executor_info.executor_id,
                    TaskState.FAILED,
                    Reason.CONTAINER_LAUNCH_FAILED,
                    "Failed to create the executor's sandbox",
                )
                self._remove_framework_if_idle(framework)
                return
        if executor.state in (ExecutorState.TERMINATING, ExecutorState.TERMINATED):
            self._agent_update(
                framework_id,
                task.task_id,
                executor.id,
                TaskState.LOST,
                Reason.EXECUTOR_TERMINATED,
                "Executor terminating",
            )
            return
        record = executor.tasks[task.task_id] = Task(info=task)
        self.log.info(
            "task_received",
            task_id=task.task_id,
            framework_id=framework_id,
            executor_id=executor.id,
            executor_state=executor.state.value,
        )
        if executor.state is ExecutorState.RUNNING:
            self._hand_over(framework, executor, record)

    def kill_task(self, sender: PID, message: KillTask) -> None:
        self.metrics["messages/KillTask"] += 1
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
                TaskState.LOST,
                Reason.EXECUTOR_TERMINATED,
                "Cannot find executor",
            )
            return
        task = executor.tasks[message.task_id]
        if task.state.terminal:
            self._drop(message, "the task is terminal already", task.id)
            return
        if not task.delivered:
            self._agent_update(
                framework.id,
                task.id,
                executor.id,
                TaskState.KILLED,
                Reason.TASK_KILLED_DURING_LAUNCH,
                "Killed before delivery to the executor",
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
        self.metrics["messages/ShutdownFramework"] += 1
        if not self._from_master(sender, message):
            return
        framework = self.frameworks.get(message.framework_id)
        if framework is None:
            self._drop(message, "no such framework")
            return
        self.log.info("shutting_down_framework", framework_id=framework.id)
        framework.state = FrameworkState.TERMINATING
        self.status_updates.cleanup(framework.id)
        for executor in list(framework.executors.values()):
            if executor.state is ExecutorState.TERMINATED:
                self._remove_executor_if_done(framework, executor)
            else:
                self._shutdown_executor(executor)
        self._remove_framework_if_idle(framework)

    def update_framework(self, sender: PID, message: UpdateFramework) -> None:
        if not self._from_master(sender, message):
            return
        framework = self.frameworks.get(message.framework_id)
        if framework is not None:
            framework.pid = message.framework_pid

    def status_update_acknowledgement(
        self, sender: PID, message: StatusUpdateAcknowledgement
    ) -> None:
        self.metrics["messages/StatusUpdateAcknowledgement"] += 1
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
        self.metrics["messages/FrameworkToExecutor"] += 1
        if not self._from_master(sender, message):
            return
        framework = self.frameworks.get(message.framework_id)
        executor = framework.executors.get(message.executor_id) if framework else None
        if executor is None or executor.state is not ExecutorState.RUNNING or not executor.pid:
            self.metrics["invalid_framework_messages"] += 1
            self._drop(message, "the executor is not running")
            return
        self.send(executor.pid, message)

    # -- executors' messages ---------------------------------------------------

    def register_executor(self, sender: PID, message: RegisterExecutor) -> None:
        self.metrics["messages/RegisterExecutor"] += 1
        framework = self.frameworks.get(message.framework_id)
        executor = framework.executors.get(message.executor_id) if framework else None
        if framework is None or executor is None:
            self._refuse_executor(sender, message, "unknown framework or executor")
            return
        if framework.state is FrameworkState.TERMINATING:
            self._refuse_executor(sender, message, "its framework is terminating")
            return
        if executor.state is ExecutorState.RUNNING and executor.pid == sender:
            self.send(sender, ExecutorRegistered(executor.info, framework.info, self.info))
            return  # a retried registration: the answer may have crossed it
        if executor.state is not ExecutorState.REGISTERING:
            self._refuse_executor(sender, message, "it is not expected to register")
            return
        executor.state = ExecutorState.RUNNING
        executor.pid = sender
        if executor.registration_timer is not None:
            executor.registration_timer.cancel()
            executor.registration_timer = None
        self.link(sender)
        self.log.info("executor_registered", executor_id=executor.id, executor_pid=str(sender))
        self.send(sender, ExecutorRegistered(executor.info, framework.info, self.info))
        for task in executor.queued_tasks():
            if not task.state.terminal:
                self._hand_over(framework, executor, task)

    def reregister_executor(self, sender: PID, message: ReregisterExecutor) -> None:
        self.metrics["messages/ReregisterExecutor"] += 1
        framework = self.frameworks.get(message.framework_id)
        executor = framework.executors.get(message.executor_id) if framework else None
        if executor is None or executor.state is not ExecutorState.RUNNING:
            self._refuse_executor(sender, message, "not a running executor of this agent")
            return
        executor.pid = sender
        self.link(sender)
        self.log.info("executor_reregistered", executor_id=executor.id, executor_pid=str(sender))
        self.send(sender, ExecutorReregistered(agent=self.info))

    def status_update(self, sender: PID, message: StatusUpdateMessage) -> None:
        self.metrics["messages/StatusUpdateMessage"] += 1
        update = message.update
        status = update.status
        framework = self.frameworks.get(update.framework_id)
        executor_id = update.executor_id or status.executor_id
        executor = framework.executors.get(executor_id) if framework else None
        if framework is None or executor is None or update.uuid is None:
            self.metrics["invalid_status_updates"] += 1
            self._drop(message, "unknown framework or executor, or no uuid", status.task_id)
            return
        if framework.state is FrameworkState.TERMINATING:
            # The master has marked its tasks killed already; nobody would acknowledge.
            self._acknowledge_executor(sender, update)
            self._drop(message, "the framework is terminating", status.task_id)
            return
        task = executor.tasks.get(status.task_id)
        if task is None or task.state.terminal:
            # Forgotten or finished: acknowledge so the executor stops resending.
            self._acknowledge_executor(sender, update)
            self._drop(message, "the task is unknown or terminal already", status.task_id)
            return
        status = msgspec.structs.replace(
            status, agent_id=self.agent_id, executor_id=executor.id, uuid=update.uuid
        )
        update = msgspec.structs.replace(
            update, status=status, agent_id=self.agent_id, executor_id=executor.id
        )
        task.state = status.state
        if self.status_updates.update(update):
            self.metrics["status_updates"] += 1
            self.log.info(
                "status_update",
                task_id=task.id,
                state=status.state.value,
                framework_id=framework.id,
                source=status.source.value,
            )
        self._acknowledge_executor(sender, update)

    def executor_to_framework(self, sender: PID, message: ExecutorToFramework) -> None:
        self.metrics["messages/ExecutorToFramework"] += 1
        framework = self.frameworks.get(message.framework_id)
        if framework is None or message.executor_id not in framework.executors:
            self._drop(message, "unknown framework or executor")
            return
        if not self.connected:
            self._drop(message, "the agent is not connected to a master")
            return
        self.send(
            self.master,
            ExecutorToFramework(
                agent_id=self.agent_id,
                framework_id=message.framework_id,
                executor_id=message.executor_id,
                data=message.data,
            ),
        )

    # -- executor life ---------------------------------------------------------

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
                value=sys.executable, shell=False, arguments=("-m", COMMAND_EXECUTOR_MODULE)
            ),
            name=f"Command Executor (Task: {task.task_id})",
            source=task.task_id,
        )

    def _launch_executor(
        self, framework: Framework, info: ExecutorInfo, command_executor: bool
    ) -> Executor | None:
        container_id = paths.new_container_id()
        try:
            sandbox = paths.create_sandbox(
                self.flags.work_dir, self.agent_id, framework.id, info.executor_id, container_id
            )
        except (OSError, ValueError) as error:
            self.log.error("sandbox_failed", executor_id=info.executor_id, error=str(error))
            return None
        executor = Executor(
            info=info,
            framework_id=framework.id,
            container_id=container_id,
            sandbox=sandbox,
            command_executor=command_executor,
        )
        framework.executors[info.executor_id] = executor
        executor.registration_timer = self.delay(
            self.flags.executor_registration_timeout,
            self._registration_timed_out,
            framework.id,
            info.executor_id,
            container_id,
        )
        environment = self._executor_environment(framework, executor)
        self.defer(
            self._start_container(executor, environment),
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

    async def _start_container(self, executor: Executor, environment: dict[str, str]) -> Container:
        argv = command_argv(executor.info.command)
        return await self.containerizer.launch(
            executor.container_id, executor.sandbox, argv, environment
        )

    def _executor_environment(self, framework: Framework, executor: Executor) -> dict[str, str]:
        environment = dict(os.environ)
        for inherited in (
            "LIBPROCESS_PORT",
            "LIBPROCESS_ADVERTISE_IP",
            "LIBPROCESS_ADVERTISE_PORT",
        ):
            environment.pop(inherited, None)
        environment.update(executor.info.command.environment)
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
                executor.termination = Termination(
                    reason=Reason.CONTAINER_LAUNCH_FAILED,
                    message=f"Failed to launch the executor: {error}",
                    state=TaskState.FAILED,
                )
                self._executor_terminated(executor, EXIT_STATUS_NOT_STARTED)
            return
        container: Container = done.result()
        if executor is None:  # forgotten meanwhile; nothing may be left running
            self.containerizer.destroy(container)
            return
        executor.container = container
        self.log.info("executor_launched", executor_id=executor_id, os_pid=container.pid)
        if executor.state is ExecutorState.TERMINATING:
            self.containerizer.destroy(container)  # killed while it was starting
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
        self.containerizer.cleanup(executor.container)
        self.log.info(
            "executor_exited",
            executor_id=executor_id,
            framework_id=framework_id,
            exit=describe_exit(status),
        )
        self._executor_terminated(executor, status)

    def _executor_terminated(self, executor: Executor, status: int | None) -> None:
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
            default = TaskState.FAILED if executor.command_executor else TaskState.LOST
            for task in executor.live_tasks():
                self._agent_update(
                    framework.id,
                    task.id,
                    executor.id,
                    termination.state or default,
                    termination.reason,
                    termination.message,
                )
        self.send(
            self.master,
            ExitedExecutor(
                agent_id=self.agent_id,
                framework_id=framework.id,
                executor_id=executor.id,
                status=EXIT_STATUS_NOT_STARTED if status is None else status,
            ),
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

    def _shutdown_executor(self, executor: Executor) -> None:
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

    def _arm_shutdown_timer(self, executor: Executor) -> None:
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

    def _destroy_executor(self, executor: Executor) -> None:
        """Kill the executor's container now; its exit arrives as the usual event."""
        if executor.state is ExecutorState.TERMINATED:
            return
        executor.state = ExecutorState.TERMINATING
        if executor.registration_timer is not None:
            executor.registration_timer.cancel()
            executor.registration_timer = None
        if executor.container is not None:
            self.containerizer.destroy(executor.container)
        # Still launching: _executor_launched destroys it when the process exists.

    def _remove_executor_if_done(self, framework: Framework, executor: Executor) -> None:
        if executor.state is not ExecutorState.TERMINATED:
            return
        if executor.tasks and framework.state is not FrameworkState.TERMINATING:
            return  # terminal updates still wait for acknowledgements
        if framework.executors.get(executor.id) is executor:
            del framework.executors[executor.id]
            self.log.info("executor_removed", executor_id=executor.id, framework_id=framework.id)
        self._remove_framework_if_idle(framework)

    def _remove_framework_if_idle(self, framework: Framework) -> None:
        if framework.executors or self.frameworks.get(framework.id) is not framework:
            return
        del self.frameworks[framework.id]
        if framework.state is FrameworkState.TERMINATING:
            self.status_updates.cleanup(framework.id)
        self.log.info("framework_removed", framework_id=framework.id)

    def _forget_everything(self) -> None:
        for framework in self.frameworks.values():
            for executor in framework.executors.values():
                executor.cancel_timers()
                if executor.container is not None:
                    self.containerizer.destroy(executor.container)
        self.frameworks.clear()
        self.status_updates.close_all()

    # -- tasks and updates -----------------------------------------------------

    def _hand_over(self, framework: Framework, executor: Executor, task: Task) -> None:
        assert executor.pid is not None
        task.delivered = True
        self.send(executor.pid, RunTask(framework.info, framework.pid, task.info))

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
        self._remove_executor_if_done(framework, executor)

    def _agent_update(
        self,
        framework_id: str,
        task_id: str,
        executor_id: str,
        state: TaskState,
        reason: Reason,
        message: str,
    ) -> None:
        """An update the agent makes itself (source AGENT), through the status update manager."""
        update_uuid = uuid.uuid4().bytes
        now = clock.now()
        status = TaskStatus(
            task_id=task_id,
            state=state,
            source=Source.AGENT,
            reason=reason,
            message=message,
            agent_id=self.agent_id,
            executor_id=executor_id,
            timestamp=now,
            uuid=update_uuid,
        )
        framework = self.frameworks.get(framework_id)
        executor = framework.executors.get(executor_id) if framework else None
        if executor is not None and task_id in executor.tasks:
            executor.tasks[task_id].state = state
        self.log.info(
            "status_update",
            task_id=task_id,
            state=state.value,
            framework_id=framework_id,
            source=Source.AGENT.value,
            reason=reason.value,
        )
        self.status_updates.update(
            StatusUpdate(
                framework_id=framework_id,
                status=status,
                agent_id=self.agent_id,
                executor_id=executor_id,
                timestamp=now,
                uuid=update_uuid,
            )
        )

    def _forward_update(self, update: StatusUpdate) -> None:
        self.send(self.master, StatusUpdateMessage(update=update, pid=str(self.pid)))

    def _acknowledge_executor(self, executor_pid: PID, update: StatusUpdate) -> None:
        assert update.uuid is not None
        self.send(
            executor_pid,
            StatusUpdateAcknowledgement(
                agent_id=self.agent_id,
                framework_id=update.framework_id,
                task_id=update.status.task_id,
                uuid=update.uuid,
            ),
        )

    # -- helpers ---------------------------------------------------------------

    def _executor(self, framework_id: str, executor_id: str, container_id: str) -> Executor | None:
        """The executor of that run, if the agent still has it (else a stale event)."""
        framework = self.frameworks.get(framework_id)
        executor = framework.executors.get(executor_id) if framework else None
        if executor is None or executor.container_id != container_id:
            return None
        return executor

    def _executor_by_pid(self, pid: PID) -> Executor | None:
        for framework in self.frameworks.values():
            for executor in framework.executors.values():
                if executor.pid == pid:
                    return executor
        return None

    def _from_master(self, sender: PID, message: Any) -> bool:
        if sender == self.master:
            return True
        self.metrics["messages_not_from_master"] += 1
        self._drop(message, f"it did not come from the master ({self.master})", sender=str(sender))
        return False

    def _refuse_executor(self, sender: PID, message: Any, reason: str) -> None:
        self._drop(message, reason, sender=str(sender))
        self.send(sender, ShutdownExecutor(message=f"Refused by the agent: {reason}"))

    def _drop(self, message: Any, reason: str, task_id: str = "", **fields: Any) -> None:
        self.metrics["dropped_messages"] += 1
        if task_id:
            fields["task_id"] = task_id
        self.log.warning(
            "dropping_message", message=type(message).__name__, reason=reason, **fields
        )
