"""zmesos.v1: Mesos's JSON shapes both ways, RecordIO, and refusals that name the field."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given

from tests.zmesos.test_resources import some_resources
from zmesos.errors import ApiError
from zmesos.protocol import (
    CheckHTTPInfo,
    CheckInfo,
    CheckStatusInfo,
    CheckType,
    CommandCheckStatus,
    CommandInfo,
    CommandURI,
    ExecutorInfo,
    ExecutorType,
    HealthCheck,
    HealthCheckType,
    HTTPCheckInfo,
    KillPolicy,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
    TCPCheckInfo,
    TCPCheckStatus,
)
from zmesos.resources import Resources
from zmesos.v1.objects import (
    executor_from_v1,
    executor_to_v1,
    framework_info_from_v1,
    framework_info_to_v1,
    task_group_from_v1,
    task_group_to_v1,
    task_info_from_v1,
    task_info_to_v1,
    task_status_from_v1,
    task_status_to_v1,
)
from zmesos.v1.recordio import RecordReader, encode
from zmesos.v1.resources import resources_from_v1, resources_to_v1


@given(some_resources())
def test_v1_resources_round_trip_through_json(resources: Resources) -> None:
    text = json.dumps(resources_to_v1(resources))
    assert resources_from_v1(json.loads(text), "resources") == resources


def test_v1_resources_read_mesos_older_role_and_reservation_fields():
    [static, dynamic] = resources_from_v1(
        [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "db"},
            {
                "name": "mem",
                "type": "SCALAR",
                "scalar": {"value": 64},
                "role": "db",
                "reservation": {"principal": "ops"},
            },
        ],
        "r",
    )
    assert (static.reservations[0].type, static.role) == ("STATIC", "db")
    assert (dynamic.reservations[0].type, dynamic.reservations[0].principal) == ("DYNAMIC", "ops")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ([{"name": "cpus", "type": "SCALAR", "scalar": {"value": -1}}], "r[0]"),
        ([{"name": "cpus", "type": "TEXT"}], "r[0].type"),
        ([{"name": "cpus", "type": "SCALAR"}], "r[0].scalar"),
        ([{"name": "p", "type": "RANGES", "ranges": {"range": [{"begin": "a"}]}}], "range"),
        ([{"type": "SCALAR", "scalar": {"value": 1}}], "r[0].name"),
        ({"name": "cpus"}, "expected an array"),
    ],
)
def test_v1_bad_resources_name_the_field(value, field):
    with pytest.raises(ApiError, match=field.replace("[", r"\[").replace("]", r"\]")):
        resources_from_v1(value, "r")


def test_v1_resources_read_once_serve_later_reads_of_the_same_json():
    cpus = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}}]
    first = resources_from_v1(json.loads(json.dumps(cpus)), "r")
    assert resources_from_v1(json.loads(json.dumps(cpus)), "r") is first
    assert first == Resources.parse("cpus:1.5")
    # What is refused is never remembered: the same bad JSON is refused again.
    bad = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": -1}}]
    for _ in range(2):
        with pytest.raises(ApiError, match="r"):
            resources_from_v1(bad, "r")
    # NaN and null encode alike: a remembered null never answers for a NaN.
    resources_from_v1([{"name": "cpus", "type": "SCALAR", "scalar": {"value": None}}], "r")
    nan = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": float("nan")}}]
    with pytest.raises(ApiError, match="not a number"):
        resources_from_v1(nan, "r")


def test_v1_task_info_round_trips():
    task = TaskInfo(
        name="t",
        task_id="t1",
        agent_id="S1",
        resources=tuple(Resources.parse("cpus:1;ports:[31000-31001]").to_list()),
        command=CommandInfo(value="echo", environment={"A": "1"}),
        data=b"\x00\xff",
        labels={"k": "v"},
    )
    assert task_info_from_v1(json.loads(json.dumps(task_info_to_v1(task))), "t") == task


def test_v1_framework_info_defaults_and_bad_fields():
    info = framework_info_from_v1({"user": "u", "name": "n", "role": "eng"}, "f")
    assert info.roles == ("eng",) and info.failover_timeout == 0
    for bad, field in [
        ({"user": 1}, "f.user"),
        ({"roles": [1]}, "f.roles"),
        ({"id": "raw"}, "f.id"),
        ({"failover_timeout": "soon"}, "f.failover_timeout"),
    ]:
        with pytest.raises(ApiError, match=field):
            framework_info_from_v1(bad, "f")


def test_v1_framework_info_offer_filters_round_trip_and_bad_ones_name_the_field():
    minimum = {"quantities": [{"quantities": {"cpus": {"value": 2}, "mem": {"value": 512}}}]}
    value = {
        "user": "u",
        "name": "n",
        "roles": ["eng"],
        "offer_filters": {"eng": {"min_allocatable_resources": minimum}, "web": {}},
    }
    info = framework_info_from_v1(value, "f")
    eng = info.offer_filters["eng"].min_allocatable_resources
    assert eng is not None and eng.quantities == ({"cpus": 2.0, "mem": 512.0},)
    assert info.offer_filters["web"].min_allocatable_resources is None
    assert framework_info_from_v1(json.loads(json.dumps(framework_info_to_v1(info))), "f") == info
    for bad, field in [
        ({"offer_filters": []}, "f.offer_filters"),
        ({"offer_filters": {"eng": 1}}, "offer_filters"),
        (
            {"offer_filters": {"eng": {"min_allocatable_resources": {"quantities": [1]}}}},
            "quantities",
        ),
        (
            {
                "offer_filters": {
                    "eng": {
                        "min_allocatable_resources": {
                            "quantities": [{"quantities": {"cpus": {"value": -1}}}]
                        }
                    }
                }
            },
            "cpus",
        ),
    ]:
        with pytest.raises(ApiError, match=field):
            framework_info_from_v1(bad, "f")


def test_v1_recordio_frames_and_reads_in_any_chunks():
    stream = encode(b'{"type":"HEARTBEAT"}') + encode(b"") + encode("é".encode())
    assert stream.startswith(b'20\n{"type"')
    reader = RecordReader()
    records = [
        record for byte in range(len(stream)) for record in reader.feed(stream[byte : byte + 1])
    ]
    assert records == [b'{"type":"HEARTBEAT"}', b"", "é".encode()]


@pytest.mark.parametrize("stream", [b"12x\n", b"9" * 30, b"999999999\n"])
def test_v1_recordio_refuses_bad_or_huge_lengths(stream):
    with pytest.raises(ApiError, match="RecordIO"):
        RecordReader(max_record=1000).feed(stream)


def test_v1_task_health_check_uris_and_kill_policy_round_trip():
    command = CommandInfo(
        value="./run",
        uris=(
            CommandURI(value="http://127.0.0.1:8000/app.tar.gz", cache=True),
            CommandURI(value="/opt/tool", executable=True, output_file="bin/tool"),
        ),
    )
    for check in (
        HealthCheck(type=HealthCheckType.COMMAND, command=CommandInfo(value="test -f ok")),
        HealthCheck(
            type=HealthCheckType.HTTP,
            http=HTTPCheckInfo(port=8080, path="/health", scheme="https", statuses=(200, 204)),
            delay_seconds=1,
            interval_seconds=2,
            timeout_seconds=3,
            consecutive_failures=4,
            grace_period_seconds=5,
        ),
    ):
        task = TaskInfo(
            name="web",
            task_id="web-1",
            agent_id="A",
            command=command,
            health_check=check,
            kill_policy=KillPolicy(grace_period_seconds=7),
        )
        text = json.dumps(task_info_to_v1(task))
        assert task_info_from_v1(json.loads(text), "task") == task


def test_v1_task_status_carries_healthy():
    status = TaskStatus(task_id="t", state=TaskState.RUNNING, healthy=False, uuid=b"u" * 16)
    written = task_status_to_v1(status)
    assert written["healthy"] is False
    assert task_status_from_v1(written, "status").healthy is False
    with pytest.raises(ApiError, match="healthy"):
        task_status_from_v1({**written, "healthy": "yes"}, "status")


def test_v1_task_check_round_trips_in_mesos_shape():
    checks = (
        CheckInfo(
            type=CheckType.COMMAND,
            command=CommandInfo(value="ready", shell=False, arguments=("--quick",)),
        ),
        CheckInfo(
            type=CheckType.HTTP,
            http=CheckHTTPInfo(port=8080, path="/ready"),
            delay_seconds=1,
            interval_seconds=2,
            timeout_seconds=3,
        ),
        CheckInfo(type=CheckType.TCP, tcp=TCPCheckInfo(port=9000)),
    )
    for check in checks:
        task = TaskInfo(
            name="t", task_id="t", agent_id="A", command=CommandInfo(value="x"), check=check
        )
        written = json.loads(json.dumps(task_info_to_v1(task)))
        assert task_info_from_v1(written, "task") == task
    command = task_info_to_v1(
        TaskInfo(
            name="t", task_id="t", agent_id="A", command=CommandInfo(value="x"), check=checks[0]
        )
    )["check"]
    assert command["type"] == "COMMAND"
    assert command["command"]["command"]["value"] == "ready"  # Mesos's CheckInfo.Command
    # What Mesos refuses with its own message reads here; the master refuses it.
    loose = task_info_from_v1(
        {
            "name": "t",
            "task_id": {"value": "t"},
            "agent_id": {"value": "a"},
            "check": {"type": "UNKNOWN", "delay_seconds": -1},
        },
        "task",
    ).check
    assert loose == CheckInfo(type=CheckType.UNKNOWN, delay_seconds=-1.0)


def test_v1_task_status_carries_check_status():
    for check_status, shape in (
        (
            CheckStatusInfo(type=CheckType.COMMAND, command=CommandCheckStatus(exit_code=3)),
            {"type": "COMMAND", "command": {"exit_code": 3}},
        ),
        (CheckStatusInfo.empty(CheckType.HTTP), {"type": "HTTP", "http": {}}),
        (
            CheckStatusInfo(type=CheckType.TCP, tcp=TCPCheckStatus(succeeded=False)),
            {"type": "TCP", "tcp": {"succeeded": False}},
        ),
    ):
        status = TaskStatus(
            task_id="t", state=TaskState.RUNNING, check_status=check_status, uuid=b"u" * 16
        )
        written = json.loads(json.dumps(task_status_to_v1(status)))
        assert written["check_status"] == shape
        assert task_status_from_v1(written, "status").check_status == check_status
    with pytest.raises(ApiError, match=r"status\.check_status"):
        task_status_from_v1(
            {**written, "check_status": {"type": "TCP", "tcp": {"succeeded": 1}}}, "status"
        )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"health_check": {"type": "TCP"}}, "task.health_check"),
        ({"health_check": {"type": "TCP", "tcp": {"port": 70000}}}, "task.health_check"),
        (
            {"health_check": {"type": "TCP", "tcp": {"port": 1}, "interval_seconds": -2}},
            "interval_seconds",
        ),
        ({"check": {"type": "GRPC"}}, "task.check.type"),
        ({"check": "TCP"}, "task.check"),
        ({"check": {"type": "TCP", "tcp": {"port": 0}}}, "task.check.tcp"),
        ({"check": {"type": "HTTP", "http": {"path": "/"}}}, "task.check.http"),
        ({"check": {"type": "COMMAND", "command": {"value": "x"}}}, "task.check.command.command"),
        ({"check": {"type": "TCP", "tcp": {"port": 1}, "delay_seconds": "soon"}}, "delay_seconds"),
        ({"kill_policy": {"grace_period": {"nanoseconds": 1e20}}}, "task.kill_policy"),
        ({"command": {"value": "x", "uris": [{"value": ""}]}}, "task.command.uris"),
        ({"command": {"value": "x", "uris": [{"value": "/a", "output_file": "../b"}]}}, "uris"),
        ({"command": {"value": "x", "uris": "http://x"}}, "task.command.uris"),
    ],
)
def test_v1_bad_health_checks_uris_and_kill_policies_name_the_field(fields, field):
    task = {"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}}
    task.setdefault("command", {"value": "true"})
    with pytest.raises(ApiError, match=field):
        task_info_from_v1({**task, **fields}, "task")


def test_v1_executor_types_and_task_groups_round_trip():
    executor = ExecutorInfo(
        executor_id="pod",
        framework_id="F",
        type=ExecutorType.DEFAULT,
        resources=tuple(Resources.parse("cpus:0.1;mem:32;disk:32").to_list()),
    )
    written = executor_to_v1(executor)
    assert written["type"] == "DEFAULT" and "command" not in written
    assert executor_from_v1(json.loads(json.dumps(written)), "e") == executor
    unset = executor_from_v1({"executor_id": {"value": "x"}}, "e")
    assert unset.type is None and executor_to_v1(unset)["type"] == "CUSTOM"
    task = TaskInfo(name="t", task_id="t1", agent_id="S1", command=CommandInfo(value="true"))
    group = TaskGroupInfo(tasks=(task, msgspec.structs.replace(task, task_id="t2")))
    assert task_group_from_v1(json.loads(json.dumps(task_group_to_v1(group))), "g") == group


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"executor_id": {"value": "x"}, "type": "DOCKER"}, "e.type"),
        ({"executor_id": {"value": "x"}, "type": 6}, "e.type"),
        ({"type": "DEFAULT"}, "e.executor_id"),
    ],
)
def test_v1_bad_executor_types_name_the_field(value, field):
    with pytest.raises(ApiError, match=field):
        executor_from_v1(value, "e")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ([], "g"),
        ({"tasks": {}}, "g.tasks"),
        ({"tasks": [{"name": "t"}]}, r"g.tasks\[0\]"),
        ({"tasks": [{}] * 1025}, "more than 1024 tasks"),
    ],
)
def test_v1_bad_task_groups_name_the_field(value, field):
    with pytest.raises(ApiError, match=field):
        task_group_from_v1(value, "g")
