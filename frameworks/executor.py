"""The executor API: subclass `Executor`, hand it to `run_executor` (or an `ExecutorDriver`).

As in Mesos's v0 executor API, the driver is the executor's side of the agent
conversation: it reads what the agent put in its environment (`ZMESOS_AGENT_PID`
and friends, zmesos.protocol.environment), registers with the agent (retrying
until answered), turns the agent's messages into callbacks, and sends status
updates and framework messages. Every callback runs in the driver's actor
context, one at a time; a callback must not block: start async work with
`driver.defer(awaitable, continuation)` and timers with `driver.delay(...)`, whose
continuations run in the same context.

Status updates: `send_status_update` fills in the uuid, timestamp and source
(EXECUTOR) and keeps the update until the agent acknowledges it. If the agent is
lost and comes back (frameworks that checkpoint), the driver re-registers with
its tasks and unacknowledged updates: on its own, retrying with backoff, and at
once when the restarted agent sends ReconnectExecutor (from wherever it now
listens; the agent id must match). It gives up after the recovery timeout. A
framework that does not checkpoint is shut down as soon as its agent is lost,
as in Mesos.

Shutdown: on ShutdownExecutor (or SIGTERM under `run_executor`) the driver calls
`shutdown(driver)` and, if the executor has not stopped the driver within the
shutdown grace period, aborts it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

import uvloop

from frameworks.scheduler import DriverStatus  # one status enum for both drivers, as in Mesos
from libprocess import PID, Node, Process, Timer, clock
from zmesos.backoff import Backoff
from zmesos.protocol import (
    AgentInfo,
    ExecutorInfo,
    ExecutorRegistered,
    ExecutorReregistered,
    ExecutorToFramework,
    FrameworkInfo,
    FrameworkToExecutor,
    KillTask,
    ReconnectExecutor,
    RegisterExecutor,
    ReregisterExecutor,
    RunTask,
    RunTaskGroup,
    ShutdownExecutor,
    Source,
    StatusUpdate,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
    new_status_update,
)
from zmesos.protocol import environment as env

__all__ = [
    "Executor",
    "ExecutorDriver",
    "ExecutorEnvironment",
    "ExecutorEnvironmentError",
    "run_executor",
]

REGISTRATION_RETRY_MIN = 1.0
REGISTRATION_RETRY_MAX = 10.0
DEFAULT_RECOVERY_TIMEOUT = 15 * 60.0
DEFAULT_SHUTDOWN_GRACE_PERIOD = 5.0


class ExecutorEnvironmentError(ValueError):
    """The environment lacks what the agent should have put there; one line naming it."""


class Executor:
    """Override the callbacks you need; each runs in the driver's context, one at a time.

    Mesos's callbacks, plus `acknowledged` (zmesos): the agent took a status update.
    """

    def registered(
        self,
        driver: ExecutorDriver,
        executor_info: ExecutorInfo,
        framework_info: FrameworkInfo,
        agent_info: AgentInfo,
    ) -> None:
        """The agent accepted this executor; tasks follow."""

    def reregistered(self, driver: ExecutorDriver, agent_info: AgentInfo) -> None:
        """The agent came back and took this executor again."""

    def disconnected(self, driver: ExecutorDriver) -> None:
        """The agent is gone (it may come back if the framework checkpoints)."""

    def launch_task(self, driver: ExecutorDriver, task: TaskInfo) -> None:
        """Run `task`; report its progress with `driver.send_status_update`."""

    def launch_task_group(self, driver: ExecutorDriver, task_group: TaskGroupInfo) -> None:
        """Run a task group, delivered whole (LAUNCH_GROUP). By default, `launch_task` for
        each task in order; an executor with group semantics (frameworks.default_executor)
        overrides it."""
        for task in task_group.tasks:
            self.launch_task(driver, task)

    def kill_task(self, driver: ExecutorDriver, task_id: str) -> None:
        """Kill the task; `driver.kill_grace_period(task_id)` tells the grace asked for."""

    def framework_message(self, driver: ExecutorDriver, data: bytes) -> None:
        """The scheduler sent `data`."""

    def shutdown(self, driver: ExecutorDriver) -> None:
        """Kill every task and stop the driver; aborted after the shutdown grace period."""

    def error(self, driver: ExecutorDriver, message: str) -> None:
        """Something went wrong that the executor cannot recover from."""

    def acknowledged(self, driver: ExecutorDriver, task_id: str, uuid: bytes) -> None:
        """The agent acknowledged (took responsibility for) the update `uuid`."""


@dataclasses.dataclass(frozen=True)
class ExecutorEnvironment:
    """What the agent tells an executor through its environment."""

    agent_pid: PID
    framework_id: str
    executor_id: str
    agent_id: str = ""
    sandbox: str = ""
    container_id: str = ""
    checkpoint: bool = False
    recovery_timeout: float = DEFAULT_RECOVERY_TIMEOUT
    shutdown_grace_period: float = DEFAULT_SHUTDOWN_GRACE_PERIOD

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ExecutorEnvironment:
        """Read ZMESOS_*; ExecutorEnvironmentError when a required one is missing or bad."""
        environ = os.environ if environ is None else environ

        def required(name: str) -> str:
            value = environ.get(name, "")
            if not value:
                raise ExecutorEnvironmentError(f"{name} is not set: was this started by an agent?")
            return value

        def seconds(name: str, default: float) -> float:
            text = environ.get(name, "")
            try:
                return float(text) if text else default
            except ValueError:
                raise ExecutorEnvironmentError(f"{name}={text!r} is not a number") from None

        try:
            agent_pid = PID.parse(required(env.AGENT_PID))
        except ValueError as error:
            if isinstance(error, ExecutorEnvironmentError):
                raise
            raise ExecutorEnvironmentError(f"{env.AGENT_PID}: {error}") from None
        return cls(
            agent_pid=agent_pid,
            framework_id=required(env.FRAMEWORK_ID),
            executor_id=required(env.EXECUTOR_ID),
            agent_id=environ.get(env.AGENT_ID, ""),
            sandbox=environ.get(env.SANDBOX, "") or os.getcwd(),
            container_id=environ.get(env.CONTAINER_ID, ""),
            checkpoint=environ.get(env.CHECKPOINT, "0") == "1",
            recovery_timeout=seconds(env.RECOVERY_TIMEOUT, DEFAULT_RECOVERY_TIMEOUT),
            shutdown_grace_period=seconds(env.SHUTDOWN_GRACE_PERIOD, DEFAULT_SHUTDOWN_GRACE_PERIOD),
        )


class ExecutorDriver(Process):
    """The executor's actor: registration, callbacks, status updates, shutdown.

    Spawn it on a node (`run_executor` does); `await driver.join()` returns the
    final DriverStatus once it stops.
    """

    def __init__(
        self,
        executor: Executor,
        environment: ExecutorEnvironment | None = None,
        name: str | None = "executor",
    ) -> None:
        super().__init__(name)
        self.executor = executor
        self.environment = environment or ExecutorEnvironment.from_environ()
        self.agent = self.environment.agent_pid
        self.status = DriverStatus.NOT_STARTED
        self.connected = False
        self.executor_info: ExecutorInfo | None = None
        self.framework_info: FrameworkInfo | None = None
        self.agent_info: AgentInfo | None = None
        self.tasks: dict[str, TaskInfo] = {}  # launched, not yet terminal-and-acknowledged
        self.unacknowledged: dict[bytes, StatusUpdate] = {}  # by uuid, in send order
        self._kill_grace_periods: dict[str, float] = {}
        self._registration_timer: Timer | None = None
        self._registration_backoff = Backoff(
            REGISTRATION_RETRY_MIN, REGISTRATION_RETRY_MAX, jitter=(1.0, 1.0)
        )
        self._recovery_timer: Timer | None = None
        self._shutdown_timer: Timer | None = None
        self._shutting_down = False

    # -- the executor's surface ------------------------------------------------

    def send_status_update(self, status: TaskStatus) -> bytes:
        """Send a task's status to the agent; returns the uuid it was given.

        Fills in uuid, timestamp, source (EXECUTOR), agent and executor ids. The
        update is kept until the agent acknowledges it. ValueError for TASK_STAGING,
        which only the master and agent may use.
        """
        if status.state is TaskState.STAGING:
            raise ValueError("an executor cannot send TASK_STAGING")
        update = new_status_update(
            self.environment.framework_id,
            status,
            source=Source.EXECUTOR,
            agent_id=self.environment.agent_id,
            executor_id=self.environment.executor_id,
            timestamp=clock.now(),
        )
        update_uuid = update.uuid
        assert update_uuid is not None
        self.unacknowledged[update_uuid] = update
        if self.connected:
            self.send(self.agent, StatusUpdateMessage(update=update, pid=str(self.pid)))
        return update_uuid

    def send_framework_message(self, data: bytes) -> None:
        """Send `data` to the scheduler (through agent and master; at most once)."""
        self.send(
            self.agent,
            ExecutorToFramework(
                agent_id=self.environment.agent_id,
                framework_id=self.environment.framework_id,
                executor_id=self.environment.executor_id,
                data=data,
            ),
        )

    def kill_grace_period(self, task_id: str) -> float | None:
        """The grace period the last KillTask for `task_id` asked for, if it named one."""
        return self._kill_grace_periods.get(task_id)

    def stop(self) -> None:
        """Stop the driver: no more callbacks; `join()` returns DriverStatus.STOPPED."""
        self._finish(DriverStatus.STOPPED)

    def abort(self) -> None:
        """Stop the driver; `join()` returns DriverStatus.ABORTED."""
        self._finish(DriverStatus.ABORTED)

    async def join(self) -> DriverStatus:
        """Wait until the driver has stopped; returns how it ended."""
        await self.node.wait(self.pid)
        return self.status

    # -- life cycle ------------------------------------------------------------

    def initialize(self) -> None:
        self.install(ExecutorRegistered, self._registered)
        self.install(ExecutorReregistered, self._reregistered)
        self.install(ReconnectExecutor, self._reconnect)
        self.install(RunTask, self._run_task)
        self.install(RunTaskGroup, self._run_task_group)
        self.install(KillTask, self._kill_task)
        self.install(FrameworkToExecutor, self._framework_message)
        self.install(ShutdownExecutor, self._shutdown_message)
        self.install(StatusUpdateAcknowledgement, self._acknowledgement)
        self.status = DriverStatus.RUNNING
        self.link(self.agent)
        self.log.info(
            "executor_starting",
            agent=str(self.agent),
            framework_id=self.environment.framework_id,
            executor_id=self.environment.executor_id,
        )
        self._attempt_registration()

    def finalize(self) -> None:
        if self.status is DriverStatus.RUNNING:
            self.status = DriverStatus.ABORTED

    def exited(self, pid: PID) -> None:
        if pid != self.agent:
            return
        was_connected, self.connected = self.connected, False
        self.log.warning("agent_lost", agent=str(pid), checkpoint=self.environment.checkpoint)
        if was_connected:
            self._callback("disconnected")
        if not self.environment.checkpoint:
            self._begin_shutdown("the agent exited and the framework does not checkpoint")
            return
        if self._recovery_timer is None:
            self._recovery_timer = self.delay(
                self.environment.recovery_timeout, self._recovery_timed_out
            )
        self._registration_backoff.reset()
        self._attempt_registration()

    def shutdown_now(self) -> None:
        """Shut down as if the agent asked (run_executor calls it on SIGTERM)."""
        self._begin_shutdown("asked to shut down")

    # -- registration ----------------------------------------------------------

    def _attempt_registration(self) -> None:
        self._registration_timer = None
        if self.connected or self._shutting_down:
            return
        framework_id, executor_id = self.environment.framework_id, self.environment.executor_id
        if self.executor_info is None:
            self.send(
                self.agent, RegisterExecutor(framework_id=framework_id, executor_id=executor_id)
            )
        else:
            message = ReregisterExecutor(
                framework_id=framework_id,
                executor_id=executor_id,
                tasks=tuple(self.tasks.values()),
                updates=tuple(self.unacknowledged.values()),
            )
            self.send(self.agent, message)
        delay = self._registration_backoff.next()
        self._registration_timer = self.delay(delay, self._attempt_registration)

    def _registered(self, sender: PID, message: ExecutorRegistered) -> None:
        if not self._from_agent(sender, message) or self.executor_info is not None:
            return
        self.executor_info = message.executor
        self.framework_info = message.framework
        self.agent_info = message.agent
        self._now_connected()
        self.log.info("executor_registered", agent_id=message.agent.id)
        self._callback("registered", message.executor, message.framework, message.agent)

    def _reregistered(self, sender: PID, message: ExecutorReregistered) -> None:
        if not self._from_agent(sender, message) or self.connected:
            return
        self.agent_info = message.agent
        self._now_connected()
        self.log.info("executor_reregistered", resending=len(self.unacknowledged))
        for update in list(self.unacknowledged.values()):
            self.send(self.agent, StatusUpdateMessage(update=update, pid=str(self.pid)))
        self._callback("reregistered", message.agent)

    def _reconnect(self, sender: PID, message: ReconnectExecutor) -> None:
        """A restarted agent recovered this executor: re-register with it now."""
        expected = self.environment.agent_id
        if not self.environment.checkpoint or not expected or message.agent_id != expected:
            self.log.warning(
                "dropping_message",
                message="ReconnectExecutor",
                sender=str(sender),
                agent_id=message.agent_id,
                reason="not this executor's agent, or the framework does not checkpoint",
            )
            return
        if self._shutting_down:
            return
        self.log.info("agent_reconnecting", agent=str(sender))
        self.connected = False
        self.agent = sender
        self.link(sender)
        if self._registration_timer is not None:
            self._registration_timer.cancel()
        self._registration_backoff.reset()
        self._attempt_registration()

    def _now_connected(self) -> None:
        self.connected = True
        for timer in (self._registration_timer, self._recovery_timer):
            if timer is not None:
                timer.cancel()
        self._registration_timer = self._recovery_timer = None
        self.link(self.agent)

    def _recovery_timed_out(self) -> None:
        self._recovery_timer = None
        if not self.connected:
            timeout = self.environment.recovery_timeout
            self._begin_shutdown(f"the agent did not return within {timeout}s")

    # -- the agent's messages --------------------------------------------------

    def _run_task(self, sender: PID, message: RunTask) -> None:
        if not self._from_agent(sender, message) or self._shutting_down:
            return
        self.tasks[message.task.task_id] = message.task
        self._callback("launch_task", message.task)

    def _run_task_group(self, sender: PID, message: RunTaskGroup) -> None:
        if not self._from_agent(sender, message) or self._shutting_down:
            return
        for task in message.task_group.tasks:
            self.tasks[task.task_id] = task
        self._callback("launch_task_group", message.task_group)

    def _kill_task(self, sender: PID, message: KillTask) -> None:
        if not self._from_agent(sender, message) or self._shutting_down:
            return
        if message.grace_period_seconds is not None:
            self._kill_grace_periods[message.task_id] = message.grace_period_seconds
        self._callback("kill_task", message.task_id)

    def _framework_message(self, sender: PID, message: FrameworkToExecutor) -> None:
        if not self._from_agent(sender, message) or self._shutting_down:
            return
        self._callback("framework_message", message.data)

    def _shutdown_message(self, sender: PID, message: ShutdownExecutor) -> None:
        if not self._from_agent(sender, message):
            return
        self._begin_shutdown(message.message or "the agent asked")

    def _acknowledgement(self, sender: PID, message: StatusUpdateAcknowledgement) -> None:
        if not self._from_agent(sender, message):
            return
        update = self.unacknowledged.pop(message.uuid, None)
        if update is None:
            self.log.debug("dropping_message", message="StatusUpdateAcknowledgement", reason="dup")
            return
        if update.status.state.terminal:
            self.tasks.pop(message.task_id, None)
        self._callback("acknowledged", message.task_id, message.uuid)

    # -- shutdown --------------------------------------------------------------

    def _begin_shutdown(self, reason: str) -> None:
        if self._shutting_down or self.terminated:
            return
        self._shutting_down = True
        if self._registration_timer is not None:
            self._registration_timer.cancel()
            self._registration_timer = None
        self.log.info("executor_shutting_down", reason=reason)
        self._shutdown_timer = self.delay(
            self.environment.shutdown_grace_period, self._shutdown_timed_out
        )
        self._callback("shutdown")

    def _shutdown_timed_out(self) -> None:
        self.log.warning("executor_shutdown_timeout", action="aborting")
        self.abort()

    def _finish(self, status: DriverStatus) -> None:
        if self.status is DriverStatus.RUNNING:
            self.status = status
            self.log.info("executor_driver_stopped", status=status.value)
        self.terminate()

    # -- helpers ---------------------------------------------------------------

    def _from_agent(self, sender: PID, message: Any) -> bool:
        if sender == self.agent:
            return True
        self.log.warning(
            "dropping_message",
            message=type(message).__name__,
            sender=str(sender),
            reason="it did not come from the agent",
        )
        return False

    def _callback(self, name: str, *args: Any) -> None:
        """Run an executor callback; an exception in it is reported to `error` and logged."""
        if self.terminated:
            return
        try:
            getattr(self.executor, name)(self, *args)
        except Exception as failure:
            self.log.exception("executor_callback_failed", callback=name)
            if name != "error":
                self._callback("error", f"{name} raised {type(failure).__name__}: {failure}")


def run_executor(executor: Executor, environ: Mapping[str, str] | None = None) -> int:
    """Run `executor` under uvloop until its driver stops; returns an exit code for __main__.

    0 when the executor stopped the driver, 1 when it was aborted or the
    environment is not an agent's.
    """
    try:
        environment = ExecutorEnvironment.from_environ(environ)
    except ExecutorEnvironmentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return uvloop.run(_run(executor, environment))


async def _run(executor: Executor, environment: ExecutorEnvironment) -> int:
    node = await Node(port=0).start()  # binds LIBPROCESS_IP, the agent's host
    driver = ExecutorDriver(executor, environment)
    node.spawn(driver)
    loop = asyncio.get_running_loop()

    def on_sigterm() -> None:
        pending = node.dispatch(driver.pid, ExecutorDriver.shutdown_now)
        pending.add_done_callback(lambda done: done.cancelled() or done.exception())

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        status = await driver.join()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await node.stop()
    return 0 if status is DriverStatus.STOPPED else 1
