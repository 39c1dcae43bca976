"""One task's command as a child process: what the command and default executors share.

A `TaskProcess` runs inside an executor's driver context (frameworks.executor):
`start()` sends TASK_STARTING, starts `/bin/sh -c <value>` (shell) or
`[value, *arguments]` in its own process group, and sends TASK_RUNNING; when
the command exits it sends TASK_FINISHED (status 0), TASK_FAILED (the message
names the status or signal) or TASK_KILLED (a kill was asked), then calls
`on_terminal(process, state)`.

`kill(grace)` sends SIGTERM to the task's process group and SIGKILL after the
grace period: the one given, else the last KillTask's, else the task's kill
policy, else 3 s. A second kill whose grace ends before the running one's brings
SIGKILL forward, as Mesos's executors do; a longer one changes nothing. A kill
before the process exists takes effect once it does (before `start()`: the
task ends TASK_KILLED without running). Frameworks with the
TASK_KILLING_STATE capability hear TASK_KILLING first.

A task with a health check (frameworks.health_checks) is checked once it runs.
Each change goes out as TASK_RUNNING with `healthy` set and reason
REASON_TASK_HEALTH_CHECK_STATUS_UPDATED; after `consecutive_failures` failed
checks in a row the task is killed (its kill policy's grace) and ends
TASK_KILLED with healthy=false. A kill stops the checks.

A task with a check (frameworks.checks) is checked once it runs too. Each
change of the check's result goes out as TASK_RUNNING with the new
`check_status` and reason REASON_TASK_CHECK_STATUS_UPDATED. As Mesos's
executors, an update for one kind of check keeps what the other kind last said
(a check update carries the last `healthy`, a health update the last
`check_status`); every other update of such a task carries the empty
`check_status` of its type (TASK_STARTING, the first TASK_RUNNING, the terminal
update), as Mesos's command executor does. A check never kills its task; a kill
stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from typing import IO, Any

from frameworks import checks
from frameworks.executor import ExecutorDriver
from frameworks.health_checks import HealthChecker, HealthStatus, probe_for
from libprocess import Timer, clock
from zmesos.protocol import (
    CheckStatusInfo,
    CommandInfo,
    FrameworkInfo,
    Reason,
    TaskInfo,
    TaskState,
    TaskStatus,
    check_info_error,
)
from zmesos.protocol.commands import command_argv

__all__ = [
    "DEFAULT_KILL_GRACE_PERIOD",
    "KILLING_CAPABILITY",
    "TaskProcess",
    "describe_exit",
]

DEFAULT_KILL_GRACE_PERIOD = 3.0
KILLING_CAPABILITY = "TASK_KILLING_STATE"


def describe_exit(returncode: int) -> str:
    if returncode >= 0:
        return f"Command exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = str(-returncode)
    return f"Command terminated by signal {name}"


class TaskProcess:
    """One task's process and its updates; see the module docstring.

    `environment` is the whole environment of the command (the task's own
    variables are added to it); `prepare_child` runs in the child before exec,
    after it has its own process group; `stdout`/`stderr`, when given, receive
    the command's output (else it shares the executor's).
    """

    def __init__(
        self,
        driver: ExecutorDriver,
        task: TaskInfo,
        *,
        framework: FrameworkInfo | None,
        cwd: str | None,
        environment: Mapping[str, str],
        on_terminal: Callable[[TaskProcess, TaskState], None],
        prepare_child: Callable[[], None] | None = None,
        stdout: IO[Any] | None = None,
        stderr: IO[Any] | None = None,
    ) -> None:
        self.driver = driver
        self.task = task
        self.framework = framework
        self.cwd = cwd
        self.environment = {**environment, **(task.command or CommandInfo()).environment}
        self.on_terminal = on_terminal
        self.prepare_child = prepare_child
        self.stdout = stdout
        self.stderr = stderr
        self.process: asyncio.subprocess.Process | None = None
        self.kill_requested = False  # a kill arrived (maybe before the process started)
        self.killing = False  # SIGTERM sent
        self.kill_note = ""  # why it was killed, when not by its framework (the message says)
        self.terminal_state: TaskState | None = None
        self.terminal_uuid: bytes | None = None
        self.health_checker: HealthChecker | None = None
        self.unhealthy: HealthStatus | None = None  # the failure that got the task killed
        self.healthy: bool | None = None  # what the health check said last
        self.checker: checks.Checker | None = None
        # The check's status before any result: None for a task without a (valid) check.
        self.empty_check_status: CheckStatusInfo | None = None
        if (
            task.check is not None
            and task.check.type is not None
            and check_info_error(task.check) is None
        ):
            self.empty_check_status = CheckStatusInfo.empty(task.check.type)
        self._escalation: Timer | None = None

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def done(self) -> bool:
        """Its terminal update has been sent."""
        return self.terminal_uuid is not None

    def start(self) -> None:
        if self.kill_requested:  # killed before it could start: it never runs
            message = "Task killed before it started"
            self._terminal(
                TaskState.KILLED, f"{message}; {self.kill_note}" if self.kill_note else message
            )
            return
        try:
            argv = command_argv(self.task.command or CommandInfo())
        except ValueError as error:
            self.fail(f"Invalid command: {error}")
            return
        self.update(TaskState.STARTING)
        self.driver.log.info("task_starting", task_id=self.task_id, argv=argv)

        def prepare_child() -> None:
            os.setpgrp()  # its own process group: a kill spares the executor
            if self.prepare_child is not None:
                self.prepare_child()

        self.driver.defer(
            asyncio.create_subprocess_exec(
                *argv,
                cwd=self.cwd,
                env=self.environment,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self.stdout,
                stderr=self.stderr,
                preexec_fn=prepare_child,
            ),
            self._started,
        )

    def fail(self, message: str) -> None:
        """End the task TASK_FAILED before its process ran (a bad command or sandbox)."""
        self._terminal(TaskState.FAILED, message)

    def kill(self, grace_period: float | None = None, *, note: str = "") -> None:
        """Kill the task (see the module docstring); `note` says why in its terminal message."""
        if self.done:
            return
        if note and not self.kill_requested:
            self.kill_note = note
        self.kill_requested = True
        if self.process is not None:
            self._kill(self.grace_period() if grace_period is None else grace_period)

    def grace_period(self) -> float:
        asked = self.driver.kill_grace_period(self.task_id)
        if asked is not None:
            return asked
        if self.task.kill_policy is not None:
            return self.task.kill_policy.grace_period_seconds
        return DEFAULT_KILL_GRACE_PERIOD

    # -- the process ---------------------------------------------------------------

    def _started(self, done: asyncio.Future[Any]) -> None:
        error = done.exception()
        if error is not None:
            self.fail(f"Failed to launch the command: {error}")
            return
        self.process = done.result()
        self.driver.log.info("task_running", task_id=self.task_id, os_pid=self.process.pid)
        self.update(TaskState.RUNNING)
        self.driver.defer(self.process.wait(), self._exited)
        if self.kill_requested:
            self._kill(self.grace_period())
        else:
            self._start_health_checks()
            self._start_checks()

    def _exited(self, done: asyncio.Future[Any]) -> None:
        if self._escalation is not None:
            self._escalation.cancel()
        self._stop_health_checks()
        self._stop_checks()
        returncode: int = done.result()
        message = describe_exit(returncode)
        self.driver.log.info("task_exited", task_id=self.task_id, returncode=returncode)
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
        if self.kill_note:
            message = f"{message}; {self.kill_note}"
        self._terminal(state, message)

    def _kill(self, grace_period: float) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        if self.killing:
            self._hasten_escalation(grace_period)
            return
        self.killing = True
        self._stop_health_checks()
        self._stop_checks()
        if self.framework and KILLING_CAPABILITY in self.framework.capabilities:
            self.update(TaskState.KILLING)
        self.driver.log.info(
            "task_killing", task_id=self.task_id, os_pid=process.pid, grace_period=grace_period
        )
        self._signal_group(signal.SIGTERM)
        self._escalation = self.driver.delay(grace_period, self._signal_group, signal.SIGKILL)

    def _hasten_escalation(self, grace_period: float) -> None:
        """A second kill while the first's grace runs: SIGKILL sooner if it asks for it."""
        escalation = self._escalation
        deadline = clock.now() + grace_period
        if escalation is None or escalation.cancelled or deadline >= escalation.deadline:
            return
        self.driver.log.info("task_kill_hastened", task_id=self.task_id, grace_period=grace_period)
        escalation.cancel()
        self._escalation = self.driver.delay(grace_period, self._signal_group, signal.SIGKILL)

    def _signal_group(self, sig: int) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return  # reaped: its pid may belong to someone else now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    # -- health checks -------------------------------------------------------------

    def _start_health_checks(self) -> None:
        check = self.task.health_check
        if check is None:
            return
        try:
            probe = probe_for(check, cwd=self.cwd, environment=self.environment)
        except ValueError as error:
            self.driver.log.error("health_check_invalid", task_id=self.task_id, error=str(error))
            return
        self.health_checker = HealthChecker(
            check,
            probe,
            delay=self.driver.delay,
            defer=self.driver.defer,
            on_health=self._health_changed,
            log=self.driver.log,
        )
        self.health_checker.start()

    def _stop_health_checks(self) -> None:
        if self.health_checker is not None:
            self.health_checker.stop()

    def _health_changed(self, status: HealthStatus) -> None:
        if self.killing or self.kill_requested or self.done:
            return  # no TASK_RUNNING after a kill began (Mesos neither)
        self.healthy = status.healthy
        self.update(
            TaskState.RUNNING,
            status.reason,
            healthy=status.healthy,
            reason=Reason.TASK_HEALTH_CHECK_STATUS_UPDATED,
            check_status=None if self.checker is None else self.checker.status,
        )
        if status.kill_task:
            self.driver.log.warning(
                "task_unhealthy_killing",
                task_id=self.task_id,
                consecutive_failures=status.consecutive_failures,
            )
            self.unhealthy = status
            self.kill_requested = True
            self._kill(self.grace_period())

    # -- checks --------------------------------------------------------------------

    def _start_checks(self) -> None:
        check = self.task.check
        if check is None:
            return
        try:
            probe = checks.probe_for(check, cwd=self.cwd, environment=self.environment)
        except ValueError as error:
            self.driver.log.error("check_invalid", task_id=self.task_id, error=str(error))
            return
        self.checker = checks.Checker(
            check,
            probe,
            delay=self.driver.delay,
            defer=self.driver.defer,
            on_check=self._check_changed,
            log=self.driver.log.bind(task_id=self.task_id),
        )
        self.checker.start()

    def _stop_checks(self) -> None:
        if self.checker is not None:
            self.checker.stop()

    def _check_changed(self, status: CheckStatusInfo) -> None:
        if self.killing or self.kill_requested or self.done:
            return  # no TASK_RUNNING after a kill began (Mesos neither)
        self.update(
            TaskState.RUNNING,
            healthy=self.healthy,
            reason=Reason.TASK_CHECK_STATUS_UPDATED,
            check_status=status,
        )

    # -- updates -------------------------------------------------------------------

    def update(
        self,
        state: TaskState,
        message: str = "",
        *,
        healthy: bool | None = None,
        reason: Reason | None = None,
        check_status: CheckStatusInfo | None = None,
    ) -> bytes:
        """Send an update; `check_status` None: the empty one, for a task with a check."""
        if self.unhealthy is not None and state.terminal:
            healthy = False  # Mesos marks a task killed for its health unhealthy
        return self.driver.send_status_update(
            TaskStatus(
                task_id=self.task_id,
                state=state,
                message=message,
                healthy=healthy,
                reason=reason,
                check_status=check_status or self.empty_check_status,
            )
        )

    def _terminal(self, state: TaskState, message: str) -> None:
        if self.done:
            return
        self.terminal_state = state
        self.terminal_uuid = self.update(state, message)
        self.on_terminal(self, state)
