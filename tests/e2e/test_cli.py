"""The `zmesos` command as a user runs it: a local cluster, `execute` against it, bad flags."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
ZMESOS = [sys.executable, "-m", "zmesos.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _zmesos(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ZMESOS, *arguments], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=ENV
    )


@pytest.mark.timeout(120)
def test_cli_execute_against_local_reports_states_and_exit_status(tmp_path):
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
    finally:
        os.killpg(local.pid, signal.SIGINT)
        assert local.wait(timeout=30) == 0
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == "", "processes left behind"


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["agent", "--master", "127.0.0.1:5050", "--resources", "cpus:abc"], "'abc'"),
        (["agent", "--master", "nowhere"], "--master"),
        (["master", "--allocation-interval", "soon"], "--allocation-interval"),
        (
            ["execute", "--master", "127.0.0.1:1", "--command", "true", "--resources", "mem:-1"],
            "--resources",
        ),
        (["local", "--agents", "0"], "--agents"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_cli_bad_flag_stops_with_one_line(arguments, reason):
    result = _zmesos(*arguments, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert reason in lines[0]
