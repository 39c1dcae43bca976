"""Accept validation: offers, then each task against what is left of them."""

from __future__ import annotations

import msgspec
import pytest

from master.validation import validate_id, validate_offers, validate_task, validate_task_group
from zmesos.protocol import (
    MAX_TASK_GROUP_SIZE,
    CheckHTTPInfo,
    CheckInfo,
    CheckType,
    CommandInfo,
    ExecutorInfo,
    ExecutorType,
    Offer,
    Operation,
    TaskGroupInfo,
    TaskInfo,
    TCPCheckInfo,
)
from zmesos.resources import Resource, Resources


def _offer(offer_id: str, framework_id: str = "F", agent_id: str = "A") -> Offer:
    return Offer(
        id=offer_id,
        framework_id=framework_id,
        agent_id=agent_id,
        hostname="h",
        resources=tuple(Resources.parse("cpus:2;mem:256").to_list()),
    )


OFFERS = {
    "o1": _offer("o1"),
    "o2": _offer("o2"),
    "other-agent": _offer("other-agent", agent_id="B"),
    "other-framework": _offer("other-framework", framework_id="G"),
}


def _task(task_id: str = "t", resources: str = "cpus:1;mem:128", **fields) -> TaskInfo:
    fields.setdefault("command", CommandInfo(value="true"))
    return TaskInfo(
        name=task_id,
        task_id=task_id,
        agent_id=fields.pop("agent_id", "A"),
        resources=tuple(Resources.parse(resources).to_list()),
        **fields,
    )


def _check(task: TaskInfo, available: str = "cpus:2;mem:256", live=(), executors=None):
    return validate_task(
        task,
        framework_id="F",
        agent_id="A",
        live_task_ids=set(live),
        executors=executors or {},
        available=Resources.parse(available),
    )


def test_validation_offers_valid_when_outstanding_of_the_framework_and_one_agent():
    assert validate_offers(["o1", "o2"], OFFERS.get, "F") is None


@pytest.mark.parametrize(
    ("offer_ids", "expected"),
    [
        ([], "No offers"),
        (["o1", "o1"], "Duplicate offer o1"),
        (["gone"], "Offer gone is no longer valid"),
        (["other-framework"], "has invalid framework G"),
        (["o1", "other-agent"], "must belong to one single agent"),
    ],
)
def test_validation_offers_refused_with_a_reason(offer_ids, expected):
    assert expected in validate_offers(offer_ids, OFFERS.get, "F")


def test_validation_task_valid_consumes_its_resources():
    verdict = _check(_task())
    assert verdict.error is None
    assert verdict.consumed == Resources.parse("cpus:1;mem:128")


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (_task(""), "Task ID must not be empty"),
        (_task("a/b"), "contains '/'"),
        (_task("t", agent_id="B"), "does not match offer's agent ID"),
        (_task("t", command=None), "at least one (but not both)"),
        (
            _task("t", executor=ExecutorInfo(executor_id="e", command=CommandInfo(value="x"))),
            "at least one (but not both)",
        ),
        (_task("t", command=CommandInfo(value="")), "empty value"),
        (_task("t", resources=""), "Task uses no resources"),
        (_task("t", resources="cpus:3"), "more than available"),
    ],
)
def test_validation_task_refused_with_a_reason(task, expected):
    verdict = _check(task)
    assert verdict.error is not None and expected in verdict.error


TCP = TCPCheckInfo(port=8080)


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (CheckInfo(tcp=TCP), "CheckInfo must specify 'type'"),
        (CheckInfo(type=CheckType.UNKNOWN, tcp=TCP), "'UNKNOWN' is not a valid check type"),
        (CheckInfo(type=CheckType.COMMAND), "Expecting 'command' to be set for COMMAND check"),
        (
            CheckInfo(type=CheckType.COMMAND, command=CommandInfo()),
            "Command check must contain 'shell command'",
        ),
        (
            CheckInfo(type=CheckType.COMMAND, command=CommandInfo(shell=False)),
            "Command check must contain 'executable path'",
        ),
        (CheckInfo(type=CheckType.HTTP), "Expecting 'http' to be set for HTTP check"),
        (
            CheckInfo(type=CheckType.HTTP, http=CheckHTTPInfo(port=80, path="ready")),
            "The path 'ready' of HTTP check must start with '/'",
        ),
        (CheckInfo(type=CheckType.TCP), "Expecting 'tcp' to be set for TCP check"),
        (
            CheckInfo(type=CheckType.TCP, tcp=TCP, delay_seconds=-1),
            "Expecting 'delay_seconds' to be non-negative",
        ),
        (
            CheckInfo(type=CheckType.TCP, tcp=TCP, interval_seconds=-0.5),
            "Expecting 'interval_seconds' to be non-negative",
        ),
        (
            CheckInfo(type=CheckType.TCP, tcp=TCP, timeout_seconds=-3),
            "Expecting 'timeout_seconds' to be non-negative",
        ),
        (
            CheckInfo(type=CheckType.TCP, tcp=TCP, delay_seconds=float("nan")),
            "Expecting 'delay_seconds' to be non-negative",
        ),
        (
            CheckInfo(type=CheckType.TCP, tcp=TCP, interval_seconds=float("inf")),
            "Expecting 'interval_seconds' to be at most 31536000 seconds",
        ),
        (
            CheckInfo(type=CheckType.TCP, tcp=TCP, timeout_seconds=1e9),
            "Expecting 'timeout_seconds' to be at most 31536000 seconds",
        ),
    ],
)
def test_validation_task_with_an_invalid_check_refused_with_mesos_message(check, expected):
    assert _check(_task(check=check)).error == f"Task uses invalid check: {expected}"
    verdict = _group_check([_task("a", check=check)], None)
    assert verdict.error == f"Task 'a' is invalid: Task uses invalid check: {expected}"


@pytest.mark.parametrize(
    "check",
    [
        CheckInfo(type=CheckType.COMMAND, command=CommandInfo(value="test -f ready")),
        CheckInfo(type=CheckType.HTTP, http=CheckHTTPInfo(port=80)),
        CheckInfo(type=CheckType.HTTP, http=CheckHTTPInfo(port=80, path="/ready")),
        CheckInfo(
            type=CheckType.TCP, tcp=TCP, delay_seconds=0, interval_seconds=0, timeout_seconds=0
        ),
    ],
)
def test_validation_task_with_a_valid_check_launches(check):
    assert _check(_task(check=check)).error is None


def test_validation_task_duplicate_id_refused():
    assert "duplicate ID: t" in _check(_task("t"), live={"t"}).error


def test_validation_task_invalid_resources_refused():
    bad = Resource(name="cpus", type="SCALAR", scalar=-1.0)
    task = TaskInfo(
        name="t", task_id="t", agent_id="A", resources=(bad,), command=CommandInfo(value="x")
    )
    assert "invalid resources" in _check(task).error


def test_validation_task_new_executor_consumes_its_resources_known_one_does_not():
    executor = ExecutorInfo(
        executor_id="e",
        command=CommandInfo(value="run-executor"),
        resources=tuple(Resources.parse("cpus:0.5;mem:32").to_list()),
    )
    task = _task("t", command=None, executor=executor)
    verdict = _check(task)
    assert verdict.error is None
    assert verdict.consumed == Resources.parse("cpus:1.5;mem:160")
    assert verdict.new_executor is not None and verdict.new_executor.framework_id == "F"
    known = {"e": verdict.new_executor}
    again = _check(task, executors=known)
    assert again.error is None and again.new_executor is None
    assert again.consumed == Resources.parse("cpus:1;mem:128")


def test_validation_task_executor_differing_from_the_running_one_refused():
    executor = ExecutorInfo(executor_id="e", command=CommandInfo(value="one"))
    other = ExecutorInfo(executor_id="e", framework_id="F", command=CommandInfo(value="two"))
    verdict = _check(_task("t", command=None, executor=executor), executors={"e": other})
    assert "not compatible" in verdict.error


def test_validation_task_executor_of_another_framework_refused():
    executor = ExecutorInfo(executor_id="e", framework_id="G", command=CommandInfo(value="x"))
    assert "invalid FrameworkID" in _check(_task("t", command=None, executor=executor)).error


def test_validation_id_rules():
    assert validate_id("Task", "ok-1.2_x") is None
    assert validate_id("Task", "..") is not None
    assert validate_id("Task", "a b") is not None
    assert validate_id("Task", "x" * 256) is not None


def _executor(
    executor_type: ExecutorType | None = ExecutorType.DEFAULT,
    resources: str = "cpus:0.1;mem:32;disk:32",
    **fields,
) -> ExecutorInfo:
    return ExecutorInfo(
        executor_id=fields.pop("executor_id", "E"),
        type=executor_type,
        resources=tuple(Resources.parse(resources).to_list()),
        **fields,
    )


def _group_check(tasks, executor=None, available="cpus:2;mem:256;disk:64", live=(), executors=None):
    return validate_task_group(
        executor or _executor(),
        TaskGroupInfo(tasks=tuple(tasks)),
        framework_id="F",
        agent_id="A",
        live_task_ids=set(live),
        executors=executors or {},
        available=Resources.parse(available),
    )


def test_validation_task_group_valid_consumes_tasks_and_a_new_executor():
    verdict = _group_check([_task("a", "cpus:0.5;mem:64"), _task("b", "cpus:0.5;mem:64")])
    assert verdict.error is None
    assert verdict.consumed == Resources.parse("cpus:1.1;mem:160;disk:32")
    assert verdict.new_executor is not None and verdict.new_executor.framework_id == "F"
    # Each task carries the group's executor, as the master fills it in.
    assert [task.executor for task, _ in verdict.tasks] == [verdict.new_executor] * 2


def test_validation_task_group_on_a_running_executor_consumes_only_the_tasks():
    running = _executor(framework_id="F")
    verdict = _group_check([_task("a", "cpus:2;mem:256")], executors={"E": running})
    assert verdict.error is None and verdict.new_executor is None
    assert verdict.consumed == Resources.parse("cpus:2;mem:256")


@pytest.mark.parametrize(
    ("tasks", "executor", "expected"),
    [
        ([], None, "Task group has no tasks"),
        ([_task("a"), _task("a")], None, "duplicate task ID: a"),
        ([_task("a/b")], None, "Task 'a/b' is invalid: Task ID"),
        ([_task("a", agent_id="B")], None, "does not match offer's agent ID"),
        ([_task("a", command=None)], None, "needs a command"),
        ([_task("a", "")], None, "Task uses no resources"),
        (
            [_task("a", executor=_executor(executor_id="other"))],
            None,
            "is different from executor 'E'",
        ),
        ([_task("a")], _executor(None), "'ExecutorInfo.type' must be set"),
        (
            [_task("a")],
            _executor(command=CommandInfo(value="x")),
            "'ExecutorInfo.command' must not be set for 'DEFAULT'",
        ),
        ([_task("a")], _executor(ExecutorType.CUSTOM), "CommandInfo has an empty value"),
        ([_task("a")], _executor(resources="cpus:0.001;mem:32;disk:1"), "less CPUs"),
        ([_task("a")], _executor(resources="cpus:0.1;mem:16;disk:1"), "less memory"),
        ([_task("a")], _executor(resources="cpus:0.1;mem:32"), "uses no disk"),
        ([_task("a", "cpus:2;mem:256")], None, "Total resources"),
    ],
)
def test_validation_task_group_invalid(tasks, executor, expected):
    verdict = _group_check(tasks, executor)
    assert verdict.error is not None and expected in verdict.error
    assert verdict.consumed == Resources() and verdict.new_executor is None


def test_validation_task_group_refuses_a_live_task_id_and_a_changed_executor():
    assert "duplicate ID: a" in (_group_check([_task("a")], live=["a"]).error or "")
    running = _executor(resources="cpus:0.2;mem:32;disk:32", framework_id="F")
    verdict = _group_check([_task("a")], executors={"E": running})
    assert verdict.error is not None and "not compatible" in verdict.error


def test_validation_launch_refuses_a_default_executor():
    verdict = _check(_task(command=None, executor=_executor()))
    assert verdict.error is not None and "must be 'CUSTOM'" in verdict.error


def test_operation_launch_group_without_executor_or_group_does_not_decode():
    body = msgspec.msgpack.encode({"type": "LAUNCH_GROUP"})
    with pytest.raises(msgspec.ValidationError, match="LAUNCH_GROUP needs"):
        msgspec.msgpack.decode(body, type=Operation)
    group = {"tasks": [msgspec.to_builtins(_task(str(i))) for i in range(MAX_TASK_GROUP_SIZE + 1)]}
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(group, TaskGroupInfo)
