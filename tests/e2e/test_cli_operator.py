"""The operator commands against a real `zmesos local`: tables, --json, `logs --follow`, `top`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import free_port
from tests.e2e.local import ENV, ROOT, ZMESOS, LocalProcess, interrupt, zmesos, zmesos_local

pytestmark = pytest.mark.timeout(120)

TICKER = "for i in 1 2 3 4 5; do echo tick $i; sleep 0.3; done; echo done-on-stderr >&2"
TICKS = "".join(f"tick {i}\n" for i in range(1, 6))


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcess]:
    with zmesos_local(tmp_path_factory.mktemp("cli-cluster"), "--agents", "1") as running:
        yield running


def _columns_align(output: str, column: str) -> None:
    """Every row's cell of `column` starts where the header's does."""
    header, *rows = output.splitlines()
    start = header.index(column)
    assert rows, output
    for row in rows:
        assert row[start - 2 : start] == "  " and row[start] != " ", (column, output)


def test_cli_logs_follow_prints_a_task_output_as_it_runs(local):
    execute = subprocess.Popen(
        [*ZMESOS, "execute", "--master", local.master, "--name", "ticker", "--command", TICKER],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=ENV,
    )
    try:
        assert execute.stdout is not None
        task_id = ""
        for line in execute.stdout:
            if "TASK_RUNNING" in line:
                task_id = line.split()[0]
                break
        assert task_id, "the task never ran"
        followed = zmesos("logs", task_id, "--master", local.master, "--follow", "--poll", "0.1")
        assert followed.returncode == 0, followed.stderr
        assert followed.stdout == TICKS
        assert execute.wait(timeout=60) == 0
    finally:
        execute.kill()
        execute.wait()
    once = zmesos("logs", task_id, "--master", local.master)
    assert once.returncode == 0 and once.stdout == TICKS
    stderr = zmesos("logs", task_id, "--master", local.master, "--stderr")
    assert stderr.returncode == 0 and "done-on-stderr" in stderr.stdout

    tasks = zmesos("tasks", "--all", "--master", local.master)
    assert tasks.returncode == 0, tasks.stderr
    [row] = [line for line in tasks.stdout.splitlines() if line.startswith(task_id)]
    assert "TASK_FINISHED" in row and "ticker" in row
    _columns_align(tasks.stdout, "STATE")
    live = zmesos("tasks", "--master", local.master)
    assert task_id not in live.stdout and live.stdout.startswith("ID")

    as_json = zmesos("tasks", "--json", "--master", local.master)
    assert task_id in {task["id"] for task in json.loads(as_json.stdout)["tasks"]}


def test_cli_state_agents_frameworks_and_top_tables(local):
    state = zmesos("state", "--master", local.master)
    assert state.returncode == 0, state.stderr
    assert "1 active of 1" in state.stdout
    agents = zmesos("agents", "--master", local.master)
    header, row = agents.stdout.splitlines()
    assert header.split() == ["ID", "HOSTNAME", "ADDRESS", "CPUS", "MEM", "DISK", "TASKS", "ACTIVE"]
    assert row.split()[-1] == "yes" and "/4" in row
    _columns_align(agents.stdout, "ADDRESS")
    address = row.split()[2]
    with urllib.request.urlopen(f"http://{address}/health", timeout=10) as answer:
        assert answer.status == 200  # the address shown is the agent's HTTP
    frameworks = zmesos("frameworks", "--all", "--master", local.master)
    assert frameworks.returncode == 0 and frameworks.stdout.startswith("ID")
    slaves = json.loads(zmesos("agents", "--json", "--master", local.master).stdout)
    assert len(slaves["slaves"]) == 1
    top = zmesos("top", "--iterations", "1", "--master", local.master)
    assert top.returncode == 0, top.stderr
    assert top.stdout.startswith(f"zmesos top: {local.master}") and "HOSTNAME" in top.stdout


def test_cli_operator_commands_read_the_master_from_the_environment(local):
    for variable in ("ZMESOS_MASTER", "MESOS_MASTER"):
        answer = subprocess.run(
            [sys.executable, "-m", "zmesos.cli", "agents"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**ENV, variable: local.master},
        )
        assert answer.returncode == 0 and answer.stdout.startswith("ID"), answer.stderr


def test_cli_operator_commands_refuse_bad_input_with_one_line():
    nobody = "127.0.0.1:9"
    for command in ("state", "agents", "frameworks", "tasks"):
        answer = zmesos(command, "--master", nobody)
        assert answer.returncode == 1 and answer.stderr.count("\n") == 1, answer.stderr
        assert "127.0.0.1:9" in answer.stderr
        bad = zmesos(command, "--master", "no-port")
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    unknown = zmesos("logs", "nope", "--master", nobody)
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert zmesos("top", "--iterations", "0").returncode == 2
    assert zmesos("logs").returncode == 2  # TASK_ID is required


def test_cli_local_logs_json_reports_a_dead_agent_and_restarts_it(tmp_path):
    errors = tmp_path / "local.err"
    port = free_port()
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [
                *ZMESOS,
                "--log-json",
                "local",
                "--agents",
                "1",
                "--port",
                str(port),
                "--work-dir",
                str(tmp_path / "cluster"),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=ROOT,
            env=ENV,
            start_new_session=True,
        )
    try:
        local = LocalProcess(process, f"127.0.0.1:{port}")
        local.read_until("cluster up")
        log = (tmp_path / "cluster" / "agent-0.log").read_text().splitlines()
        assert log and all(json.loads(line)["event"] for line in log if line.startswith("{"))
        assert any(line.startswith("{") for line in log)
        before = _agent_ids(local.master)
        agent = subprocess.run(
            ["pgrep", "-f", "--", f"--work-dir {tmp_path / 'cluster' / 'agent-0'}"],
            capture_output=True,
            text=True,
        )
        [pid] = [int(found) for found in agent.stdout.split()]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while "restarting agent-0" not in errors.read_text():
            assert time.monotonic() < deadline, errors.read_text()
            time.sleep(0.2)
        assert "agent-0 exited with status -9" in errors.read_text()
        while _reregistered(local.master) != before:
            assert time.monotonic() < deadline, "the agent did not come back"
            time.sleep(0.2)
    finally:
        assert interrupt(process) == 0


def _slaves(master: str) -> list[dict]:
    with urllib.request.urlopen(f"http://{master}/slaves", timeout=10) as answer:
        return json.load(answer)["slaves"]


def _agent_ids(master: str) -> list[str]:
    return sorted(agent["id"] for agent in _slaves(master))


def _reregistered(master: str) -> list[str]:
    """The agents that came back (re-registered, with the id they had)."""
    return sorted(
        agent["id"] for agent in _slaves(master) if agent["reregistered_time"] and agent["active"]
    )
