"""The default executor in-process against a fake agent, running real commands: task ids
that cannot name a sandbox, ids already in use, shutdown, and a task killed for its
health taking its group with it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from frameworks import DriverStatus, ExecutorDriver
from frameworks.default_executor import DefaultExecutor
from libprocess import Node
from tests.frameworks.test_command_executor import (
    ZERO_THEN_ONE,
    check_info,
    command_check,
    statuses,
)
from tests.frameworks.test_executor import FRAMEWORK, FakeAgent, environment
from zmesos.protocol import (
    CheckStatusInfo,
    CheckType,
    CommandInfo,
    Reason,
    RunTaskGroup,
    ShutdownExecutor,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from zmesos.v1.objects import executor_from_v1

EXECUTOR = executor_from_v1({"executor_id": {"value": "e1"}, "type": "DEFAULT"}, "executor")


def task(task_id: str, command: str, **fields: object) -> TaskInfo:
    return TaskInfo(
        name=task_id,
        task_id=task_id,
        agent_id="a1",
        command=CommandInfo(value=command),
        **fields,  # type: ignore[arg-type]
    )


async def start(node: Node, sandbox: Path) -> tuple[FakeAgent, ExecutorDriver]:
    agent = FakeAgent(auto_ack=True)
    node.spawn(agent)
    driver = ExecutorDriver(DefaultExecutor(), environment(node, sandbox=str(sandbox)))
    node.spawn(driver)
    await agent.wait_for(lambda: driver.connected)
    return agent, driver


def launch(agent: FakeAgent, driver: ExecutorDriver, *tasks: TaskInfo) -> None:
    group = TaskGroupInfo(tasks=tasks)
    agent.send(
        driver.pid,
        RunTaskGroup(
            framework=FRAMEWORK, framework_pid="scheduler@h:1", executor=EXECUTOR, task_group=group
        ),
    )


def of(agent: FakeAgent, task_id: str) -> list[TaskStatus]:
    return [status for status in statuses(agent) if status.task_id == task_id]


async def test_default_executor_fails_a_task_whose_id_cannot_name_a_sandbox(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        agent, driver = await start(node, tmp_path)
        launch(agent, driver, task("..", "true"), task("ok", "true"))
        assert await asyncio.wait_for(driver.join(), 20) is DriverStatus.STOPPED
        [failed] = of(agent, "..")
        assert failed.state is TaskState.FAILED
        assert "Failed to prepare the task's sandbox" in failed.message
        # Its group ends with it: the other task is killed before it ever runs.
        [killed] = of(agent, "ok")
        assert killed.state is TaskState.KILLED
        assert "task '..' of its group ended TASK_FAILED" in killed.message
        assert not (tmp_path.parent / "stdout").exists()  # nothing escaped its sandbox


async def test_default_executor_drops_a_task_whose_id_is_in_use(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        agent, driver = await start(node, tmp_path)
        launch(agent, driver, task("t", "sleep 60"))
        await agent.wait_for(lambda: TaskState.RUNNING in [s.state for s in of(agent, "t")])
        launch(agent, driver, task("t", "true"))
        agent.send(driver.pid, ShutdownExecutor())
        assert await asyncio.wait_for(driver.join(), 20) is DriverStatus.STOPPED
        assert [s.state for s in of(agent, "t")] == [
            TaskState.STARTING,
            TaskState.RUNNING,
            TaskState.KILLED,
        ]


async def test_default_executor_a_task_killed_for_its_health_takes_its_group(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        agent, driver = await start(node, tmp_path)
        sick = task(
            "sick", "sleep 60", health_check=command_check("exit 1", consecutive_failures=1)
        )
        launch(agent, driver, sick, task("buddy", "sleep 60"))
        assert await asyncio.wait_for(driver.join(), 20) is DriverStatus.STOPPED
        final = of(agent, "sick")[-1]
        assert final.state is TaskState.KILLED and final.healthy is False
        buddy = of(agent, "buddy")[-1]
        assert buddy.state is TaskState.KILLED
        assert "task 'sick' of its group ended TASK_KILLED" in buddy.message


async def test_default_executor_runs_the_check_of_a_task_in_a_group(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        agent, driver = await start(node, tmp_path)
        checked = task("checked", "sleep 60", check=check_info(ZERO_THEN_ONE))
        launch(agent, driver, checked, task("plain", "sleep 60"))

        def exit_codes() -> list[int | None]:
            return [
                s.check_status.command.exit_code
                for s in of(agent, "checked")
                if s.reason is Reason.TASK_CHECK_STATUS_UPDATED
                and s.check_status is not None
                and s.check_status.command is not None
            ]

        await agent.wait_for(lambda: exit_codes() == [0, 1])
        running = [s for s in of(agent, "checked") if s.state is TaskState.RUNNING]
        assert running[0].check_status == CheckStatusInfo.empty(CheckType.COMMAND)
        assert (tmp_path / "tasks" / "checked" / "checked").exists()  # run in its sandbox
        assert all(s.check_status is None for s in of(agent, "plain"))
        assert TaskState.KILLED not in [s.state for s in of(agent, "checked")]
        agent.send(driver.pid, ShutdownExecutor())
        assert await asyncio.wait_for(driver.join(), 20) is DriverStatus.STOPPED
