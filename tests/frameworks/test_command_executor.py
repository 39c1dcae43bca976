"""The command executor in-process against a fake agent, running real commands."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from frameworks import DriverStatus, ExecutorDriver
from frameworks.command_executor import CommandExecutor
from libprocess import Node
from tests.frameworks.test_executor import FRAMEWORK, FakeAgent, environment
from zmesos.protocol import (
    CheckInfo,
    CheckStatusInfo,
    CheckType,
    CommandCheckStatus,
    CommandInfo,
    FrameworkInfo,
    HealthCheck,
    HealthCheckType,
    KillPolicy,
    KillTask,
    Reason,
    RunTask,
    ShutdownExecutor,
    StatusUpdateMessage,
    TaskInfo,
    TaskState,
    TaskStatus,
)

RUNNING_THEN = [TaskState.STARTING, TaskState.RUNNING]


def task(command: CommandInfo, task_id: str = "t1", **fields: object) -> TaskInfo:
    return TaskInfo(name=task_id, task_id=task_id, agent_id="a1", command=command, **fields)  # type: ignore[arg-type]


async def launch(
    node: Node,
    sandbox: Path,
    task_info: TaskInfo,
    *,
    framework: FrameworkInfo = FRAMEWORK,
    auto_ack: bool = True,
    **executor_options: float,
) -> tuple[FakeAgent, ExecutorDriver, CommandExecutor]:
    agent = FakeAgent(auto_ack=auto_ack, framework=framework)
    node.spawn(agent)
    executor = CommandExecutor(**executor_options)
    driver = ExecutorDriver(executor, environment(node, sandbox=str(sandbox)))
    node.spawn(driver)
    await agent.wait_for(lambda: driver.connected)
    agent.send(
        driver.pid, RunTask(framework=framework, framework_pid="scheduler@h:1", task=task_info)
    )
    return agent, driver, executor


def last_message(agent: FakeAgent) -> str:
    return agent.of_type(StatusUpdateMessage)[-1].update.status.message


async def test_command_executor_runs_a_shell_command_to_finished_then_exits(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        command = CommandInfo(value="echo $GREETING > out", environment={"GREETING": "hi"})
        agent, driver, _ = await launch(node, tmp_path, task(command))
        status = await asyncio.wait_for(driver.join(), 20)

        assert agent.states() == [*RUNNING_THEN, TaskState.FINISHED]
        assert status is DriverStatus.STOPPED  # once the terminal update was acknowledged
        assert (tmp_path / "out").read_text() == "hi\n"  # cwd is the sandbox


async def test_command_executor_runs_an_argv_without_a_shell(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        command = CommandInfo(value="/bin/sh", shell=False, arguments=("-c", "echo argv > out"))
        agent, driver, _ = await launch(node, tmp_path, task(command))
        await asyncio.wait_for(driver.join(), 20)
        assert agent.states()[-1] is TaskState.FINISHED
        assert (tmp_path / "out").read_text() == "argv\n"


async def test_command_executor_reports_exit_status_and_missing_programs(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        agent, driver, _ = await launch(node, tmp_path, task(CommandInfo(value="exit 3")))
        await asyncio.wait_for(driver.join(), 20)
        assert agent.states() == [*RUNNING_THEN, TaskState.FAILED]
        assert last_message(agent) == "Command exited with status 3"

    async with Node(host="127.0.0.1", port=0) as node:
        missing = CommandInfo(value="/no/such/program", shell=False)
        agent, driver, _ = await launch(node, tmp_path, task(missing))
        await asyncio.wait_for(driver.join(), 20)
        assert agent.states() == [TaskState.STARTING, TaskState.FAILED]
        assert "Failed to launch the command" in last_message(agent)


async def test_command_executor_kill_sends_term_then_killed(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        agent, driver, _ = await launch(node, tmp_path, task(CommandInfo(value="sleep 60")))
        await agent.wait_for(lambda: TaskState.RUNNING in agent.states())
        agent.send(driver.pid, KillTask(framework_id="f1", task_id="t1", agent_id="a1"))
        await asyncio.wait_for(driver.join(), 20)
        assert agent.states() == [*RUNNING_THEN, TaskState.KILLED]
        assert last_message(agent) == "Command terminated by signal SIGTERM"


async def test_command_executor_kill_policy_grace_then_sigkill(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        stubborn = CommandInfo(value="trap '' TERM; echo ready > ready; sleep 60")
        info = task(stubborn, kill_policy=KillPolicy(grace_period_seconds=0.3))
        capable = FrameworkInfo(user="u", name="f", id="f1", capabilities=("TASK_KILLING_STATE",))
        agent, driver, _ = await launch(node, tmp_path, info, framework=capable)
        await agent.wait_for(lambda: (tmp_path / "ready").exists())
        agent.send(driver.pid, KillTask(framework_id="f1", task_id="t1", agent_id="a1"))
        await asyncio.wait_for(driver.join(), 20)
        assert agent.states() == [*RUNNING_THEN, TaskState.KILLING, TaskState.KILLED]
        assert last_message(agent) == "Command terminated by signal SIGKILL"


async def test_command_executor_shutdown_kills_the_task(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        agent, driver, _ = await launch(node, tmp_path, task(CommandInfo(value="sleep 60")))
        await agent.wait_for(lambda: TaskState.RUNNING in agent.states())
        agent.send(driver.pid, ShutdownExecutor())
        assert await asyncio.wait_for(driver.join(), 20) is DriverStatus.STOPPED
        assert agent.states()[-1] is TaskState.KILLED


async def test_command_executor_refuses_a_second_task(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        agent, driver, _ = await launch(node, tmp_path, task(CommandInfo(value="sleep 60")))
        agent.send(
            driver.pid,
            RunTask(
                framework=FRAMEWORK,
                framework_pid="scheduler@h:1",
                task=task(CommandInfo(value="true"), "t2"),
            ),
        )
        await agent.wait_for(
            lambda: any(m.update.status.task_id == "t2" for m in agent.of_type(StatusUpdateMessage))
        )
        [refusal] = [
            m.update.status
            for m in agent.of_type(StatusUpdateMessage)
            if m.update.status.task_id == "t2"
        ]
        assert refusal.state is TaskState.FAILED
        agent.send(driver.pid, KillTask(framework_id="f1", task_id="t1", agent_id="a1"))
        await asyncio.wait_for(driver.join(), 20)


async def test_command_executor_exits_without_an_acknowledgement_after_a_bound(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        agent, driver, _ = await launch(
            node,
            tmp_path,
            task(CommandInfo(value="true")),
            auto_ack=False,
            terminal_ack_timeout=0.2,
        )
        assert await asyncio.wait_for(driver.join(), 20) is DriverStatus.STOPPED
        assert agent.states()[-1] is TaskState.FINISHED
        assert driver.unacknowledged  # nobody took them; the agent fails the task if need be


def statuses(agent: FakeAgent) -> list[TaskStatus]:
    return [message.update.status for message in agent.of_type(StatusUpdateMessage)]


def health(agent: FakeAgent) -> list[bool | None]:
    return [
        s.healthy for s in statuses(agent) if s.reason is Reason.TASK_HEALTH_CHECK_STATUS_UPDATED
    ]


def command_check(value: str, **fields: float) -> HealthCheck:
    timing = {"delay_seconds": 0.0, "interval_seconds": 0.1, "grace_period_seconds": 0.0}
    return HealthCheck(
        type=HealthCheckType.COMMAND,
        command=CommandInfo(value=value),
        **{**timing, **fields},  # type: ignore[arg-type]
    )


async def test_command_executor_health_check_passing_reports_healthy_once(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        info = task(CommandInfo(value="sleep 60"), health_check=command_check("true"))
        agent, driver, executor = await launch(node, tmp_path, info)
        await agent.wait_for(lambda: health(agent) == [True])
        checker = executor.health_checker
        assert checker is not None
        await agent.wait_for(lambda: checker.checks >= 3)
        assert health(agent) == [True]  # reported on change only
        healthy = next(s for s in statuses(agent) if s.healthy is not None)
        assert healthy.state is TaskState.RUNNING
        agent.send(driver.pid, KillTask(framework_id="f1", task_id="t1", agent_id="a1"))
        await asyncio.wait_for(driver.join(), 20)
        assert statuses(agent)[-1].state is TaskState.KILLED
        assert statuses(agent)[-1].healthy is None  # killed by its framework, not its health


async def test_command_executor_health_check_failing_kills_the_task(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        check = command_check("exit 1", consecutive_failures=2)
        info = task(CommandInfo(value="sleep 60"), health_check=check)
        agent, driver, _ = await launch(node, tmp_path, info)
        await asyncio.wait_for(driver.join(), 20)
        assert health(agent) == [False, False]
        final = statuses(agent)[-1]
        assert final.state is TaskState.KILLED and final.healthy is False
        assert "killed after 2 consecutive failed health checks" in final.message
        assert "exited with status 1" in final.message


async def test_command_executor_health_check_flapping_reports_each_change(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        # Passes and fails in turn: never two failures in a row, so never killed.
        flap = "if [ -f up ]; then rm up; exit 0; else touch up; exit 1; fi"
        info = task(
            CommandInfo(value="sleep 60"),
            health_check=command_check(flap, consecutive_failures=2),
        )
        agent, driver, _ = await launch(node, tmp_path, info)
        await agent.wait_for(lambda: len(health(agent)) >= 4)
        seen = health(agent)
        assert all(a != b for a, b in itertools.pairwise(seen))  # each a change
        assert TaskState.KILLED not in agent.states()
        agent.send(driver.pid, KillTask(framework_id="f1", task_id="t1", agent_id="a1"))
        await asyncio.wait_for(driver.join(), 20)


async def test_command_executor_shorter_kill_grace_hastens_sigkill(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        stubborn = CommandInfo(value="trap '' TERM; echo ready > ready; sleep 60")
        info = task(stubborn, kill_policy=KillPolicy(grace_period_seconds=30))
        agent, driver, _ = await launch(node, tmp_path, info)
        await agent.wait_for(lambda: (tmp_path / "ready").exists())
        agent.send(driver.pid, KillTask(framework_id="f1", task_id="t1", agent_id="a1"))
        agent.send(
            driver.pid,
            KillTask(framework_id="f1", task_id="t1", agent_id="a1", grace_period_seconds=0.2),
        )
        await asyncio.wait_for(driver.join(), 10)  # not the policy's 30 s
        assert last_message(agent) == "Command terminated by signal SIGKILL"


# -- checks ----------------------------------------------------------------------

# Exits 0 the first time, 1 every time after (it leaves a file behind in the sandbox).
ZERO_THEN_ONE = "if [ -f checked ]; then exit 1; fi; touch checked"


def check_info(value: str, **fields: float) -> CheckInfo:
    timing = {"delay_seconds": 0.0, "interval_seconds": 0.1}
    return CheckInfo(
        type=CheckType.COMMAND,
        command=CommandInfo(value=value),
        **{**timing, **fields},  # type: ignore[arg-type]
    )


def exit_codes(agent: FakeAgent) -> list[int | None]:
    return [
        s.check_status.command.exit_code
        for s in statuses(agent)
        if s.reason is Reason.TASK_CHECK_STATUS_UPDATED
        and s.check_status is not None
        and s.check_status.command is not None
    ]


async def test_command_executor_check_reports_each_change_and_never_kills(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        info = task(CommandInfo(value="sleep 60"), check=check_info(ZERO_THEN_ONE))
        agent, driver, executor = await launch(node, tmp_path, info)
        await agent.wait_for(lambda: exit_codes(agent) == [0, 1])
        checker = executor.checker
        assert checker is not None
        await agent.wait_for(lambda: checker.checks >= 5)
        assert exit_codes(agent) == [0, 1]  # reported on change only
        empty = CheckStatusInfo.empty(CheckType.COMMAND)
        seen = [(s.state, s.reason, s.check_status) for s in statuses(agent)]
        assert seen == [
            (TaskState.STARTING, None, empty),
            (TaskState.RUNNING, None, empty),  # the first TASK_RUNNING: no result yet
            (
                TaskState.RUNNING,
                Reason.TASK_CHECK_STATUS_UPDATED,
                CheckStatusInfo(type=CheckType.COMMAND, command=CommandCheckStatus(exit_code=0)),
            ),
            (
                TaskState.RUNNING,
                Reason.TASK_CHECK_STATUS_UPDATED,
                CheckStatusInfo(type=CheckType.COMMAND, command=CommandCheckStatus(exit_code=1)),
            ),
        ]
        assert all(s.healthy is None for s in statuses(agent))  # no health check
        agent.send(driver.pid, KillTask(framework_id="f1", task_id="t1", agent_id="a1"))
        await asyncio.wait_for(driver.join(), 20)
        assert statuses(agent)[-1].state is TaskState.KILLED  # by its framework, not its check
        assert exit_codes(agent) == [0, 1]


async def test_command_executor_check_and_health_updates_keep_each_others_news(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        # The second health check leaves `seen2`: by then the task was reported healthy.
        health = command_check("if [ -f seen ]; then touch seen2; fi; touch seen")
        info = task(
            CommandInfo(value="sleep 60"),
            health_check=health,
            check=check_info("test -f seen2"),
        )
        agent, driver, _ = await launch(node, tmp_path, info)
        await agent.wait_for(lambda: 0 in exit_codes(agent))
        passed = next(
            s
            for s in statuses(agent)
            if s.reason is Reason.TASK_CHECK_STATUS_UPDATED
            and s.check_status is not None
            and s.check_status.command == CommandCheckStatus(exit_code=0)
        )
        assert passed.healthy is True  # the check's update carries the last health
        healthy = next(s for s in statuses(agent) if s.healthy is True)
        assert healthy.reason is Reason.TASK_HEALTH_CHECK_STATUS_UPDATED
        assert healthy.check_status is not None  # and a health update the last check status
        agent.send(driver.pid, KillTask(framework_id="f1", task_id="t1", agent_id="a1"))
        await asyncio.wait_for(driver.join(), 20)
