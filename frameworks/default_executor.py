"""The default executor: runs task groups (`python -m frameworks.default_executor`).

The agent starts it for an executor of type DEFAULT (Mesos's default executor),
which a framework launches with LAUNCH_GROUP. Each task of a group runs as its
own child process (frameworks.task_process.TaskProcess: STARTING, RUNNING, then
FINISHED, FAILED or KILLED; kill policies, checks and health checks as that
module says) in its own sandbox, `tasks/<task_id>` under the executor's, with its
`stdout` and `stderr` there and MESOS_SANDBOX naming it. A persistent volume
of a task, which the agent puts in the executor's sandbox, appears in the
task's sandbox at its container path too (a symbolic link).

Mesos's default policy for a group: when one of its tasks ends FAILED or
KILLED, the other tasks of that group still running are killed (their
message says which task ended how). Groups launched later on the same executor
(a second LAUNCH_GROUP naming the executor's id) run alongside, each with its
own policy.

The executor exits once it has no task left running and the agent has
acknowledged every terminal update (or after `TERMINAL_ACK_TIMEOUT` connected
to it; while the agent of a checkpointing framework is away it waits for it to
return). On shutdown every task is killed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

from frameworks.executor import Executor, ExecutorDriver, run_executor
from frameworks.task_process import TaskProcess
from zmesos.protocol import (
    AgentInfo,
    ExecutorInfo,
    FrameworkInfo,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
)
from zmesos.protocol import environment as env
from zmesos.resources import container_path_problem

__all__ = ["TASKS_DIRECTORY", "DefaultExecutor", "main", "task_sandbox"]

TERMINAL_ACK_TIMEOUT = 5.0  # how long to wait for the agent to take the terminal updates
TASKS_DIRECTORY = "tasks"
# States that end a group's other tasks (Mesos's default executor: failed or killed).
_ENDS_GROUP = frozenset({TaskState.FAILED, TaskState.KILLED})


def task_sandbox(executor_sandbox: Path, task_id: str) -> Path:
    """Where a task of the default executor runs. ValueError for an id that is no name."""
    if not task_id or task_id in (".", "..") or "/" in task_id or "\0" in task_id:
        raise ValueError(f"task id {task_id!r} cannot name a directory")
    return executor_sandbox / TASKS_DIRECTORY / task_id


class DefaultExecutor(Executor):
    """Runs the tasks of task groups, each its own process; see the module docstring."""

    def __init__(self, terminal_ack_timeout: float = TERMINAL_ACK_TIMEOUT) -> None:
        self.terminal_ack_timeout = terminal_ack_timeout
        self.framework_info: FrameworkInfo | None = None
        self.tasks: dict[str, TaskProcess] = {}  # until its terminal update is acknowledged
        self.groups: dict[str, tuple[str, ...]] = {}  # task id -> its group's task ids
        self.group_ending: set[str] = set()  # tasks of groups whose kill has begun
        self.unacknowledged: set[bytes] = set()  # terminal updates the agent has not taken
        self.shutting_down = False
        self._outputs: dict[str, list[IO[Any]]] = {}
        self._ack_timer_armed = False

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
        """A task launched alone runs as a group of one."""
        self.launch_task_group(driver, TaskGroupInfo(tasks=(task,)))

    def launch_task_group(self, driver: ExecutorDriver, task_group: TaskGroupInfo) -> None:
        if self.shutting_down:
            driver.log.warning(
                "dropping_task_group", task_ids=list(task_group.task_ids), reason="shutting down"
            )
            return
        fresh = [task for task in task_group.tasks if task.task_id not in self.tasks]
        for task in task_group.tasks:
            if task not in fresh:
                driver.log.warning("dropping_task", task_id=task.task_id, reason="id in use")
        group = tuple(task.task_id for task in fresh)
        driver.log.info("launching_task_group", task_ids=list(group))
        # Every task of the group is known before any starts: one failing at once still
        # ends the rest of its group.
        processes = [self._process(driver, task) for task in fresh]
        for process in processes:
            self.groups[process.task_id] = group
            self.tasks[process.task_id] = process
        for process in processes:
            self._launch(driver, process)

    def kill_task(self, driver: ExecutorDriver, task_id: str) -> None:
        process = self.tasks.get(task_id)
        if self.shutting_down or process is None or process.done:
            driver.log.warning("dropping_kill", task_id=task_id, reason="not a running task")
            return
        process.kill()

    def shutdown(self, driver: ExecutorDriver) -> None:
        self.shutting_down = True
        live = [process for process in self.tasks.values() if not process.done]
        if not live:
            driver.stop()
            return
        # Leave time for the TASK_KILLED updates to leave before the driver's deadline.
        limit = driver.environment.shutdown_grace_period / 2
        for process in live:
            process.kill(min(process.grace_period(), limit))

    def acknowledged(self, driver: ExecutorDriver, task_id: str, uuid: bytes) -> None:
        if uuid not in self.unacknowledged:
            return
        self.unacknowledged.discard(uuid)
        self.tasks.pop(task_id, None)
        self.groups.pop(task_id, None)
        self.group_ending.discard(task_id)
        self._maybe_stop(driver)

    def error(self, driver: ExecutorDriver, message: str) -> None:
        driver.log.error("default_executor_error", error=message)

    # -- tasks -----------------------------------------------------------------

    def _process(self, driver: ExecutorDriver, task: TaskInfo) -> TaskProcess:
        environment = dict(os.environ)
        environment.pop(env.VOLUME_MOUNTS, None)
        return TaskProcess(
            driver,
            task,
            framework=self.framework_info,
            cwd=None,
            environment=environment,
            on_terminal=lambda ended, state: self._terminal(driver, ended, state),
        )

    def _launch(self, driver: ExecutorDriver, process: TaskProcess) -> None:
        """Make the task's sandbox and start it (unless its group ended meanwhile)."""
        if process.done:
            return
        executor_sandbox = Path(driver.environment.sandbox or os.getcwd())
        try:
            sandbox = task_sandbox(executor_sandbox, process.task_id)
            sandbox.mkdir(parents=True, exist_ok=True)
            _link_volumes(process.task, executor_sandbox, sandbox)
            outputs: list[IO[Any]] = [
                open(sandbox / name, "ab")  # noqa: SIM115 (closed when the task ends)
                for name in ("stdout", "stderr")
            ]
        except (OSError, ValueError) as error:
            process.fail(f"Failed to prepare the task's sandbox: {error}")
            return
        self._outputs[process.task_id] = outputs
        process.cwd = str(sandbox)
        process.stdout, process.stderr = outputs
        process.environment[env.MESOS_SANDBOX] = str(sandbox)
        process.start()

    def _terminal(self, driver: ExecutorDriver, process: TaskProcess, state: TaskState) -> None:
        assert process.terminal_uuid is not None
        self.unacknowledged.add(process.terminal_uuid)
        for output in self._outputs.pop(process.task_id, []):
            with contextlib.suppress(OSError):
                output.close()
        if state in _ENDS_GROUP and not self.shutting_down:
            self._end_group(process, state)
        self._maybe_stop(driver)

    def _end_group(self, ended: TaskProcess, state: TaskState) -> None:
        """Mesos's default policy: a task failed or killed kills the rest of its group."""
        if ended.task_id in self.group_ending:
            return  # the group is being killed already
        group = self.groups.get(ended.task_id, ())
        self.group_ending.update(group)
        note = f"killed because task {ended.task_id!r} of its group ended {state}"
        for task_id in group:
            sibling = self.tasks.get(task_id)
            if sibling is None or sibling is ended or sibling.done or sibling.kill_requested:
                continue
            ended.driver.log.info("killing_task_of_group", task_id=task_id, because=ended.task_id)
            sibling.kill(note=note)

    def _maybe_stop(self, driver: ExecutorDriver) -> None:
        """Exit once no task runs and the agent has every terminal update."""
        if any(not process.done for process in self.tasks.values()):
            return
        if not self.unacknowledged:
            driver.stop()
            return
        if not self._ack_timer_armed:
            self._ack_timer_armed = True
            driver.delay(self.terminal_ack_timeout, self._ack_timed_out, driver)

    def _ack_timed_out(self, driver: ExecutorDriver) -> None:
        self._ack_timer_armed = False
        if any(not process.done for process in self.tasks.values()):
            return  # a new group arrived meanwhile
        if not driver.connected and driver.environment.checkpoint:
            # The agent is away; it takes the updates when it re-registers us.
            self._ack_timer_armed = True
            driver.delay(self.terminal_ack_timeout, self._ack_timed_out, driver)
            return
        driver.stop()


def _link_volumes(task: TaskInfo, executor_sandbox: Path, sandbox: Path) -> None:
    """The task's persistent volumes, which the agent put in the executor's sandbox, at
    their container paths in the task's sandbox too."""
    for resource in task.resources:
        if not resource.is_persistent_volume or resource.disk is None:
            continue
        path = resource.disk.container_path
        problem = container_path_problem(path)
        if problem is not None:
            raise ValueError(problem)
        target = sandbox / path
        if target.is_symlink() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(executor_sandbox / path)


def main() -> int:
    return run_executor(DefaultExecutor())


if __name__ == "__main__":
    raise SystemExit(main())
