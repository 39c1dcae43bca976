"""The command executor: runs one command task (`python -m frameworks.command_executor`).

The agent starts it for a task that has a command and no executor. The task
runs as a frameworks.task_process.TaskProcess in the sandbox: STARTING,
RUNNING, then FINISHED, FAILED or KILLED, with kills, kill policies, checks and
health checks as that module says. Volumes the agent could not symlink are
bind-mounted in the task's own mount namespace (ZMESOS_VOLUME_MOUNTS). Once the
agent acknowledges the terminal update (or after `TERMINAL_ACK_TIMEOUT`
connected to it), the executor exits. While the agent of a checkpointing
framework is away, it waits for the agent's return (up to the recovery timeout)
so the update is not lost.
"""

from __future__ import annotations

import os

from frameworks.checks import Checker
from frameworks.executor import Executor, ExecutorDriver, run_executor
from frameworks.health_checks import HealthChecker
from frameworks.task_process import (
    DEFAULT_KILL_GRACE_PERIOD,
    KILLING_CAPABILITY,
    TaskProcess,
    describe_exit,
)
from frameworks.volume_mounts import decode_mounts, enter_and_mount
from zmesos.protocol import (
    AgentInfo,
    ExecutorInfo,
    FrameworkInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from zmesos.protocol.environment import VOLUME_MOUNTS

__all__ = [
    "DEFAULT_KILL_GRACE_PERIOD",
    "KILLING_CAPABILITY",
    "CommandExecutor",
    "describe_exit",
    "main",
]

TERMINAL_ACK_TIMEOUT = 5.0  # how long to wait for the agent to take the terminal update


class CommandExecutor(Executor):
    """Runs exactly one command task (a frameworks.task_process.TaskProcess), then exits."""

    def __init__(self, terminal_ack_timeout: float = TERMINAL_ACK_TIMEOUT) -> None:
        self.terminal_ack_timeout = terminal_ack_timeout
        self.framework_info: FrameworkInfo | None = None
        self.task: TaskProcess | None = None

    @property
    def health_checker(self) -> HealthChecker | None:
        return None if self.task is None else self.task.health_checker

    @property
    def checker(self) -> Checker | None:
        return None if self.task is None else self.task.checker

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
        environment = dict(os.environ)
        mounts_text = environment.pop(VOLUME_MOUNTS, "[]")
        self.task = TaskProcess(
            driver,
            task,
            framework=self.framework_info,
            cwd=driver.environment.sandbox or None,
            environment=environment,
            on_terminal=lambda process, state: self._terminal(driver),
        )
        try:
            mounts = decode_mounts(mounts_text)
        except ValueError as error:
            self.task.fail(f"Invalid volume mounts: {error}")
            return
        for source, target, mode in mounts:
            driver.log.info("volume_bind_mounted", source=source, target=target, mode=mode)
        if mounts:
            self.task.prepare_child = lambda: enter_and_mount(mounts)
        self.task.start()

    def kill_task(self, driver: ExecutorDriver, task_id: str) -> None:
        if self.task is None or task_id != self.task.task_id or self.task.done:
            driver.log.warning("dropping_kill", task_id=task_id, reason="not the running task")
            return
        self.task.kill()

    def shutdown(self, driver: ExecutorDriver) -> None:
        task = self.task
        if task is None or task.done:
            driver.stop()
            return
        # Leave time for TASK_KILLED to leave before the driver's own deadline.
        grace = min(task.grace_period(), driver.environment.shutdown_grace_period / 2)
        task.kill(grace)

    def acknowledged(self, driver: ExecutorDriver, task_id: str, uuid: bytes) -> None:
        if self.task is not None and uuid == self.task.terminal_uuid:
            driver.stop()

    def error(self, driver: ExecutorDriver, message: str) -> None:
        driver.log.error("command_executor_error", error=message)

    # -- the end ---------------------------------------------------------------

    def _terminal(self, driver: ExecutorDriver) -> None:
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
