"""The `zmesos` command as a user runs it: a local cluster, `execute` against it, bad flags."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from agent.checkpoints import Checkpointer
from tests.e2e.cluster import free_port
from tests.e2e.local import ENV, ROOT, ZMESOS
from tests.e2e.local import zmesos as _zmesos
from zmesos.protocol import AgentInfo
from zmesos.resources import Resources


@pytest.mark.timeout(120)
def test_cli_execute_and_volumes_against_local(tmp_path):
    port = free_port()
    local = subprocess.Popen(
        [
            *ZMESOS,
            "local",
            "--agents",
            "1",
            "--port",
            str(port),
            "--work-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=ENV,
        start_new_session=True,
    )
    try:
        assert local.stdout is not None
        deadline = time.monotonic() + 60
        for line in local.stdout:
            if line.startswith("cluster up") or time.monotonic() > deadline:
                break
        master = f"127.0.0.1:{port}"

        ok = _zmesos("execute", "--master", master, "--command", "echo hello", "--timeout", "60")
        assert ok.returncode == 0, ok.stderr
        assert "TASK_RUNNING" in ok.stdout and "TASK_FINISHED" in ok.stdout

        failed = _zmesos("execute", "--master", master, "--command", "exit 3", "--timeout", "60")
        assert failed.returncode == 3, failed.stderr
        assert "TASK_FAILED" in failed.stdout
        _refused_execute(master)
        _task_group_commands(master)
        _volume_commands(master)
    finally:
        os.killpg(local.pid, signal.SIGINT)
        assert local.wait(timeout=30) == 0
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == "", "processes left behind"


def _group_json(*tasks: tuple[str, str]) -> str:
    """A TaskGroupInfo as mesos-execute's --task_group takes it (no agent ids)."""
    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
    ]
    return json.dumps(
        {
            "tasks": [
                {
                    "name": task_id,
                    "task_id": {"value": task_id},
                    "command": {"value": command},
                    "resources": resources,
                }
                for task_id, command in tasks
            ]
        }
    )


def _task_group_commands(master: str) -> None:
    ok = _zmesos(
        "execute", "--master", master, "--task-group", _group_json(("a", "true"), ("b", "true"))
    )
    assert ok.returncode == 0, ok.stderr
    assert "a TASK_FINISHED" in ok.stdout and "b TASK_FINISHED" in ok.stdout
    # The first task fails: its exit status is the command's; the other is killed with it.
    group = _group_json(("fails", "exit 4"), ("sleeps", "sleep 30"))
    failed = _zmesos("execute", "--master", master, "--task-group", group, "--timeout", "60")
    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert "fails TASK_FAILED" in failed.stdout and "sleeps TASK_KILLED" in failed.stdout


def _volume_commands(master: str) -> None:
    with urllib.request.urlopen(f"http://{master}/state", timeout=10) as response:
        [agent] = json.load(response)["slaves"]
    where = ["--master", master, "--agent", agent["id"]]
    reserved = "cpus(ops DYNAMIC principal=op):0.5;disk(ops DYNAMIC principal=op):64"
    volume = "disk(ops DYNAMIC principal=op)[db:data principal=op]:64"
    result = _zmesos("reserve", *where, "--resources", reserved)
    assert result.returncode == 0 and "reserved" in result.stdout, result.stderr
    result = _zmesos("volumes", "create", *where, "--volumes", volume)
    assert result.returncode == 0, result.stderr
    listing = _zmesos("volumes", "list", "--master", master)
    assert f"{agent['id']}\tops\tdb\tdata\tRW\t64\tno" in listing.stdout, listing.stdout
    refused = _zmesos("unreserve", *where, "--resources", volume)
    assert refused.returncode == 1 and "DESTROY it first" in refused.stderr
    assert _zmesos("volumes", "destroy", *where, "--volumes", volume).returncode == 0
    assert _zmesos("unreserve", *where, "--resources", reserved).returncode == 0
    listing = _zmesos("volumes", "list", "--master", master)
    assert listing.stdout.strip().count("\n") == 0, listing.stdout


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["reserve", "--master", "nowhere", "--agent", "a", "--resources", "cpus:1"], "--master"),
        (["unreserve", "--master", "127.0.0.1:1", "--agent", "a", "--resources", "x:"], "'x:'"),
        (["volumes", "create", "--master", "h:1", "--agent", "a", "--volumes", "disk:z"], "'z'"),
        (["volumes", "list"], "--master"),
        (["agent", "--master", "127.0.0.1:5050", "--resources", "cpus:abc"], "'abc'"),
        (["agent", "--master", "nowhere"], "--master"),
        (["master", "--allocation-interval", "soon"], "--allocation-interval"),
        (
            ["execute", "--master", "127.0.0.1:1", "--command", "true", "--resources", "mem:-1"],
            "--resources",
        ),
        (["local", "--agents", "0"], "--agents"),
        (["frobnicate"], "invalid choice"),
        (["agent", "gone", "S0", "--master", "master@127.0.0.1:1"], "names the master's actor"),
        (["agent", "gone", "S0"], "--master HOST:PORT or zk://"),
        (["volumes", "list", "--master", "nowhere"], "expected HOST:PORT"),
        (["reserve", "--master", "zk://", "--agent", "a", "--resources", "cpus:1"], "zk://"),
        (["master", "--port", "-1"], "--port"),
        (["master", "--port", "70000"], "--port"),
        (["master", "--actor-port", "70000"], "--actor-port"),
        (["agent", "--master", "127.0.0.1:5050", "--port", "-1"], "--port"),
        (["agent", "--master", "127.0.0.1:5050", "--port", "70000"], "--port"),
        (["local", "--port", "-1"], "--port"),
        (["local", "--port", "70000"], "--port"),
        (["local", "--agents", "-2"], "--agents"),
        (["local", "--resources", "cpus:0"], "'cpus:0' is zero"),
        (["agent", "--master", "127.0.0.1:5050", "--resources", "ports:[0-70000]"], "65535"),
        (["agent", "--master", "127.0.0.1:5050", "--resources", "gpus:1.5"], "whole number"),
        (["agent", "--master", "127.0.0.1:5050", "--resources", "cpus:0"], "'cpus:0' is zero"),
        (["master", "--max-completed-frameworks", "-1"], "--max-completed-frameworks"),
        (["master", "--max-completed-tasks-per-framework", "-1"], "negative"),
        (["master", "--max-agent-ping-timeouts", "-1"], "--max-agent-ping-timeouts"),
        (["master", "--agent-ping-timeout", "-1"], "--agent-ping-timeout"),
        (["master", "--offer-timeout", "-5secs"], "--offer-timeout"),
        (
            ["master", "--fair-sharing-excluded-resource-names", "gpus,,cpus"],
            "--fair-sharing-excluded-resource-names",
        ),
        (["agent", "--master", "127.0.0.1:5050", "--recovery-timeout", "-1"], "--recovery"),
        (["agent", "--master", "127.0.0.1:5050", "--fetcher-cache-size", "2XB"], "invalid size"),
        (["agent", "--master", "127.0.0.1:5050", "--fetcher-cache-size", "-1"], "invalid size"),
        (["agent", "--master", "127.0.0.1:5050", "--gc-delay", "1fortnight"], "--gc-delay"),
        (["agent", "--master", "127.0.0.1:5050", "--gc-disk-headroom", "1.5"], "headroom"),
        (["agent", "--master", "127.0.0.1:5050", "--disk-watch-interval", "0"], "--disk-watch"),
        (["agent", "--master", "127.0.0.1:5050", "--isolation", "cgroups/gpu"], "'cgroups/gpu'"),
        (
            ["agent", "--master", "127.0.0.1:5050", "--isolation", "posix/mem,cgroups/mem"],
            "--isolation",
        ),
        (["agent", "--master", "127.0.0.1:5050", "--cgroups-max-pids", "-1"], "--cgroups-max"),
        (
            ["execute", "--master", "127.0.0.1:1", "--command", "true", "--timeout", "-1"],
            "--timeout",
        ),
        (["execute", "--master", "127.0.0.1:1"], "one of --command and --task-group"),
        (
            ["execute", "--master", "127.0.0.1:1", "--command", "x", "--task-group", "{}"],
            "one of --command and --task-group",
        ),
        (["execute", "--master", "127.0.0.1:1", "--task-group", "{"], "--task-group: not JSON"),
        (["execute", "--master", "127.0.0.1:1", "--task-group", "/no/such"], "cannot read"),
        (["execute", "--master", "127.0.0.1:1", "--task-group", '{"tasks": []}'], "no tasks"),
        (
            ["execute", "--master", "127.0.0.1:1", "--task-group", '{"tasks": [{"name": 1}]}'],
            "--task-group: task_group.tasks[0]",
        ),
        (
            [
                "execute",
                "--master",
                "127.0.0.1:1",
                "--task-group",
                '{"tasks": [{"name": "t", "task_id": {"value": "t"}}]}',
                "--executor-resources",
                "cpus:x",
            ],
            "--executor-resources",
        ),
        (
            ["execute", "--master", "127.0.0.1:1", "--command", "true", "--resources", "gpus:1.5"],
            "whole number",
        ),
        (
            [
                "execute",
                "--master",
                "127.0.0.1:1",
                "--command",
                "true",
                "--registration-timeout",
                "0",
            ],
            "--registration-timeout",
        ),
    ],
)
def test_cli_bad_flag_stops_with_one_line(arguments, reason):
    result = _zmesos(*arguments, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert reason in lines[0]


def _refused_execute(master: str) -> None:
    """A framework the master refuses: one line saying why, exit status 1 (not the driver's
    log line besides)."""
    refused = subprocess.run(
        [*ZMESOS, "execute", "--master", master, "--command", "true", "--role", "bad role"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={name: value for name, value in ENV.items() if name != "ZMESOS_LOG_LEVEL"},
    )
    assert refused.returncode == 1, refused.stderr
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert line.startswith("zmesos execute: error: framework error: Invalid role 'bad role'")


@pytest.mark.timeout(30)
def test_cli_execute_with_an_unreachable_master_says_what_it_waits_for_and_gives_up():
    master = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = _zmesos(
        "execute",
        "--master",
        master,
        "--command",
        "true",
        "--registration-timeout",
        "3",
        timeout=20,
    )
    assert result.returncode == 1
    assert f"waiting for the master at {master}" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"zmesos execute: error: no master at {master} accepted the framework within 3 s"


def test_cli_execute_whose_master_actor_never_answers_names_curve_keys():
    """The HTTP address answers /actor, its actor does not (as a CurveZMQ cluster to us)."""
    silent = f"master@127.0.0.1:{free_port()}"  # nothing listens there

    class Actor(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"pid": silent}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Actor) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        master = f"127.0.0.1:{server.server_address[1]}"
        result = _zmesos(
            "execute",
            "--master",
            master,
            "--command",
            "true",
            "--registration-timeout",
            "3",
            timeout=20,
        )
        server.shutdown()
    assert result.returncode == 1
    assert (  # a log line (peer_unreachable) may come after it
        f"zmesos execute: error: no master at {master} accepted the framework within 3 s; "
        f"its actor {silent} never answered (a cluster that uses CurveZMQ needs --curve-keys DIR)"
    ) in result.stderr.splitlines()


@pytest.mark.timeout(30)
def test_cli_agent_that_cannot_reach_its_master_says_so_with_the_address(tmp_path):
    master = f"master@127.0.0.1:{free_port()}"  # the actor address, nothing listens there
    agent = subprocess.Popen(
        [*ZMESOS, "agent", "--master", master, "--port", "0", "--work-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=ENV,
        start_new_session=True,
    )
    seen = ""
    try:
        assert agent.stderr is not None
        deadline = time.monotonic() + 15
        for line in agent.stderr:
            if "peer_unreachable" in line or time.monotonic() > deadline:
                seen = line
                break
    finally:
        os.killpg(agent.pid, signal.SIGKILL)
        agent.wait(timeout=10)
    assert "peer_unreachable" in seen
    assert master.split("@")[1] in seen


@pytest.mark.timeout(60)
def test_cli_agent_with_a_checkpoint_of_other_resources_refuses_in_one_line(tmp_path):
    Checkpointer(tmp_path).agent(
        AgentInfo(hostname="h", id="a1", resources=tuple(Resources.parse("cpus:1").to_list()))
    )
    result = _zmesos(
        "--log-level",
        "critical",
        "agent",
        "--master",
        f"127.0.0.1:{free_port()}",
        "--port",
        "0",
        "--hostname",
        "h",
        "--work-dir",
        str(tmp_path),
        "--resources",
        "cpus:2;mem:64;disk:64;ports:[31000-31001]",
        timeout=50,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot recover" in lines[0] and "--recover=cleanup" in lines[0]
    assert "resources: 'cpus:1' then, 'cpus:2" in lines[0]
