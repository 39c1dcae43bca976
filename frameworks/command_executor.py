"""The command executor: runs one command task (`python -m frameworks.command_executor`).

The agent starts it for a task that has a command and no executor. On
launch_task it sends TASK_STARTING, starts `/bin/sh -c <value>` (shell) or
`[value, *arguments]` in the sandbox, in a process group of its own, and sends
TASK_RUNNING; when the command exits it sends TASK_FINISHED (status 0) or
TASK_FAILED (the message names the status or signal). A kill sends SIGTERM to
the task's process group and SIGKILL after the grace period (the KillTask's, else
the task's kill policy, else 3 s), then TASK_KILLED. Once the agent acknowledges
the terminal update (or after `TERMINAL_ACK_TIMEOUT` connected to it), the
executor exits. While the agent of a checkpointing framework is away, it waits
for the agent's return (up to the recovery timeout) so the update is not lost.

A KillTask whose grace period ends before the running one's brings SIGKILL
forward, as Mesos's command executor does; a longer one changes nothing.

A task with a health check (frameworks.health_checks) is checked once it runs.
Each change the checker reports goes out as TASK_RUNNING with `healthy` set and
reason REASON_TASK_HEALTH_CHECK_STATUS_UPDATED; once the checks have failed
`consecutive_failures` times in a row the task is killed (its kill policy's
grace) and ends TASK_KILLED with healthy=false. A kill stops the checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from frameworks.executor import Executor, ExecutorDriver, run_executor
from frameworks.health_checks import HealthChecker, HealthStatus, probe_for
from frameworks.volume_mounts import decode_mounts, enter_and_mount
from libprocess import clock
from zmesos.protocol import (
    AgentInfo,
    CommandInfo,
    ExecutorInfo,
    FrameworkInfo,
    Reason,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from zmesos.protocol.commands import command_argv
from zmesos.protocol.environment import VOLUME_MOUNTS

__all__ = ["CommandExecutor", "main"]

DEFAULT_KILL_GRACE_PERIOD = 3.0
TERMINAL_ACK_TIMEOUT = 5.0  # how long to wait for the agent to take the terminal update
KILLING_CAPABILITY = "TASK_KILLING_STATE"


def describe_exit(returncode: int) -> str:
    if returncode >= 0:
        return f"Command exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = str(-returncode)
    return f"Command terminated by signal {name}"


class CommandExecutor(Executor):
    """Runs exactly one command task, then exits."""

    def __init__(self, terminal_ack_timeout: float = TERMINAL_ACK_TIMEOUT) -> None:
        self.terminal_ack_timeout = terminal_ack_timeout
        self.framework_info: FrameworkInfo | None = None
        self.task: TaskInfo | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.kill_requested = False  # a kill arrived (maybe before the process started)
        self.killing = False  # SIGTERM sent
        self.terminal_uuid: bytes | None = None
        self.health_checker: HealthChecker | None = None
        self.unhealthy: HealthStatus | None = None  # the failure that got the task killed
        self.environment: dict[str, str] = {}
        self._escalation: Any = None

    # -- callbacks -------------------------------------------------------------

    def registered(
        self,
        driver: ExecutorDriver,
        executor_info: ExecutorInfo,
        framework_info: FrameworkInfo,
        agent_info: AgentInfo,
    ) -> None:
        self.framework_info = framework_info

    def launch_task(self, driver: ExecutorDriver, task: TaskInfo) -> None:
        if self.task is not None:
            driver.send_status_update(
                TaskStatus(
                    task_id=task.task_id,
                    state=TaskState.FAILED,
                    message="Attempted to run several tasks with one command executor",
                )
            )
            return
        self.task = task
        try:
            argv = command_argv(task.command or CommandInfo())
        except ValueError as error:
            self._terminal(driver, TaskState.FAILED, f"Invalid command: {error}")
            return
        environment = dict(os.environ)
        try:
            mounts = decode_mounts(environment.pop(VOLUME_MOUNTS, "[]"))
        except ValueError as error:
            self._terminal(driver, TaskState.FAILED, f"Invalid volume mounts: {error}")
            return
        self._update(driver, TaskState.STARTING)
        environment.update((task.command or CommandInfo()).environment)
        self.environment = environment
        driver.log.info("task_starting", task_id=task.task_id, argv=argv)
        for source, target, mode in mounts:
            driver.log.info("volume_bind_mounted", source=source, target=target, mode=mode)

        def prepare_child() -> None:
            os.setpgrp()  # its own process group: a kill spares the executor
            if mounts:
                enter_and_mount(mounts)

        driver.defer(
            asyncio.create_subprocess_exec(
                *argv,
                cwd=driver.environment.sandbox or None,
                env=environment,
                stdin=asyncio.subprocess.DEVNULL,
                preexec_fn=prepare_child,
            ),
            lambda done: self._started(driver, done),
        )

    def kill_task(self, driver: ExecutorDriver, task_id: str) -> None:
        if self.task is None or task_id != self.task.task_id or self.terminal_uuid is not None:
            driver.log.warning("dropping_kill", task_id=task_id, reason="not the running task")
            return
        self.kill_requested = True
        if self.process is not None:
            self._kill(driver, self._grace_period(driver))

    def shutdown(self, driver: ExecutorDriver) -> None:
        if self.process is None or self.process.returncode is not None:
            if self.task is None or self.terminal_uuid is not None:
                driver.stop()
            else:
                self.kill_requested = True  # launching: killed once it exists
            return
        # Leave time for TASK_KILLED to leave before the driver's own deadline.
        grace = min(self._grace_period(driver), driver.environment.shutdown_grace_period / 2)
        self.kill_requested = True
        self._kill(driver, grace)

    def acknowledged(self, driver: ExecutorDriver, task_id: str, uuid: bytes) -> None:
        if uuid == self.terminal_uuid:
            driver.stop()

    def error(self, driver: ExecutorDriver, message: str) -> None:
        driver.log.error("command_executor_error", error=message)

    # -- the task's process ----------------------------------------------------

    def _started(self, driver: ExecutorDriver, done: asyncio.Future[Any]) -> None:
        error = done.exception()
        if error is not None:
            self._terminal(driver, TaskState.FAILED, f"Failed to launch the command: {error}")
            return
        self.process = done.result()
        driver.log.info("task_running", os_pid=self.process.pid)
        self._update(driver, TaskState.RUNNING)
        driver.defer(self.process.wait(), lambda exited: self._exited(driver, exited))
        if self.kill_requested:
            self._kill(driver, self._grace_period(driver))
        else:
            self._start_health_checks(driver)

    def _exited(self, driver: ExecutorDriver, done: asyncio.Future[Any]) -> None:
        if self._escalation is not None:
            self._escalation.cancel()
        self._stop_health_checks()
        returncode: int = done.result()
        message = describe_exit(returncode)
        driver.log.info("task_exited", returncode=returncode)
        if self.kill_requested:
            state = TaskState.KILLED
        elif returncode == 0:
            state = TaskState.FINISHED
        else:
            state = TaskState.FAILED
        if self.unhealthy is not None:
            failures = self.unhealthy.consecutive_failures
            message = (
                f"{message}; killed after {failures} consecutive failed health checks"
                f" ({self.unhealthy.reason})"
            )
        self._terminal(driver, state, message)

    def _kill(self, driver: ExecutorDriver, grace_period: float) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        if self.killing:
            self._hasten_escalation(driver, grace_period)
            return
        self.killing = True
        self._stop_health_checks()
        if self.framework_info and KILLING_CAPABILITY in self.framework_info.capabilities:
            self._update(driver, TaskState.KILLING)
        driver.log.info("task_killing", os_pid=process.pid, grace_period=grace_period)
        self._signal_group(signal.SIGTERM)
        self._escalation = driver.delay(grace_period, self._signal_group, signal.SIGKILL)

    def _hasten_escalation(self, driver: ExecutorDriver, grace_period: float) -> None:
        """A second kill while the first's grace runs: SIGKILL sooner if it asks for it."""
        escalation = self._escalation
        deadline = clock.now() + grace_period
        if escalation is None or escalation.cancelled or deadline >= escalation.deadline:
            return
        driver.log.info("task_kill_hastened", grace_period=grace_period)
        escalation.cancel()
        self._escalation = driver.delay(grace_period, self._signal_group, signal.SIGKILL)

    def _signal_group(self, sig: int) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return  # reaped: its pid may belong to someone else now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    def _grace_period(self, driver: ExecutorDriver) -> float:
        assert self.task is not None
        asked = driver.kill_grace_period(self.task.task_id)
        if asked is not None:
            return asked
        if self.task.kill_policy is not None:
            return self.task.kill_policy.grace_period_seconds
        return DEFAULT_KILL_GRACE_PERIOD

    # -- health checks ---------------------------------------------------------

    def _start_health_checks(self, driver: ExecutorDriver) -> None:
        assert self.task is not None
        check = self.task.health_check
        if check is None:
            return
        try:
            probe = probe_for(
                check, cwd=driver.environment.sandbox or None, environment=self.environment
            )
        except ValueError as error:
            driver.log.error("health_check_invalid", error=str(error))
            return
        self.health_checker = HealthChecker(
            check,
            probe,
            delay=driver.delay,
            defer=driver.defer,
            on_health=lambda status: self._health_changed(driver, status),
            log=driver.log,
        )
        self.health_checker.start()

    def _stop_health_checks(self) -> None:
        if self.health_checker is not None:
            self.health_checker.stop()

    def _health_changed(self, driver: ExecutorDriver, status: HealthStatus) -> None:
        if self.killing or self.kill_requested or self.terminal_uuid is not None:
            return  # no TASK_RUNNING after a kill began (Mesos neither)
        self._update(
            driver,
            TaskState.RUNNING,
            status.reason,
            healthy=status.healthy,
            reason=Reason.TASK_HEALTH_CHECK_STATUS_UPDATED,
        )
        if status.kill_task:
            driver.log.warning(
                "task_unhealthy_killing", consecutive_failures=status.consecutive_failures
            )
            self.unhealthy = status
            self.kill_requested = True
            self._kill(driver, self._grace_period(driver))

    # -- updates ---------------------------------------------------------------

    def _update(
        self,
        driver: ExecutorDriver,
        state: TaskState,
        message: str = "",
        *,
        healthy: bool | None = None,
        reason: Reason | None = None,
    ) -> bytes:
        assert self.task is not None
        if self.unhealthy is not None and state.terminal:
            healthy = False  # Mesos marks a task killed for its health unhealthy
        return driver.send_status_update(
            TaskStatus(
                task_id=self.task.task_id,
                state=state,
                message=message,
                healthy=healthy,
                reason=reason,
            )
        )

    def _terminal(self, driver: ExecutorDriver, state: TaskState, message: str) -> None:
        self.terminal_uuid = self._update(driver, state, message)
        driver.delay(self.terminal_ack_timeout, self._terminal_ack_timed_out, driver)

    def _terminal_ack_timed_out(self, driver: ExecutorDriver) -> None:
        if not driver.connected and driver.environment.checkpoint:
            # The agent is away; it takes the update when it re-registers us.
            driver.delay(self.terminal_ack_timeout, self._terminal_ack_timed_out, driver)
            return
        driver.stop()


def main() -> int:
    return run_executor(CommandExecutor())


if __name__ == "__main__":
    raise SystemExit(main())
