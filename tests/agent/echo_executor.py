"""A custom executor for the agent's tests (`python -m tests.agent.echo_executor`).

It runs no process: a launched task goes TASK_RUNNING at once; a framework
message comes back prefixed with `echo:`; a kill ends the task TASK_KILLED and,
once the agent has that update, the executor stops.
"""

from __future__ import annotations

from frameworks.executor import Executor, ExecutorDriver, run_executor
from zmesos.protocol import TaskInfo, TaskState, TaskStatus


class EchoExecutor(Executor):
    def __init__(self) -> None:
        self.killed: set[bytes] = set()

    def launch_task(self, driver: ExecutorDriver, task: TaskInfo) -> None:
        driver.send_status_update(TaskStatus(task_id=task.task_id, state=TaskState.RUNNING))

    def framework_message(self, driver: ExecutorDriver, data: bytes) -> None:
        driver.send_framework_message(b"echo:" + data)

    def kill_task(self, driver: ExecutorDriver, task_id: str) -> None:
        self.killed.add(
            driver.send_status_update(TaskStatus(task_id=task_id, state=TaskState.KILLED))
        )

    def acknowledged(self, driver: ExecutorDriver, task_id: str, uuid: bytes) -> None:
        if uuid in self.killed and not driver.tasks:
            driver.stop()

    def shutdown(self, driver: ExecutorDriver) -> None:
        driver.stop()


if __name__ == "__main__":
    raise SystemExit(run_executor(EchoExecutor()))
