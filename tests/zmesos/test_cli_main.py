"""The `zmesos` command as a newcomer meets it: piped into `head`, `execute`'s framework."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from zmesos import cli
from zmesos.cli import execute

# A command that prints more than a pipe holds, run with its reader gone (`| head -1`).
_PRINTS_A_LOT = """
import sys
from zmesos import cli

def run(options, parser):
    for n in range(100_000):
        print("task", n)
    return 0

cli.COMMANDS["tasks"].run = run
sys.exit(cli.main(["tasks"]))
"""


def test_cli_main_piped_into_head_ends_quietly():
    printing = subprocess.Popen(
        [sys.executable, "-c", _PRINTS_A_LOT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert printing.stdout is not None and printing.stderr is not None
    assert printing.stdout.readline() == "task 0\n"
    printing.stdout.close()
    errors = printing.stderr.read()
    assert printing.wait(timeout=30) == 141
    assert errors == ""


def _execute_options(*arguments: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="zmesos")
    execute.add_parser(parser.add_subparsers(), "execute")
    return parser.parse_args(
        ["execute", "--master", "127.0.0.1:5050", "--command", "true", *arguments]
    )


def test_cli_execute_checkpoint_flag_checkpoints_the_framework():
    assert execute.framework_info(_execute_options("--checkpoint")).checkpoint is True
    assert execute.framework_info(_execute_options()).checkpoint is False


@pytest.mark.parametrize(
    "arguments",
    [
        ["--log-json", "--log-level", "warning", "keys", "generate", "KEYS", "--nodes", "a"],
        ["keys", "generate", "KEYS", "--nodes", "a", "--log-json", "--log-level", "warning"],
        ["keys", "--log-json", "generate", "KEYS", "--nodes", "a", "--log-level", "warning"],
    ],
)
def test_cli_main_takes_logging_flags_before_or_after_the_command(arguments, tmp_path, monkeypatch):
    configured: list[tuple[object, object]] = []
    monkeypatch.setattr(
        cli, "configure_logging", lambda json, level: configured.append((json, level))
    )
    keys = str(tmp_path / "keys")
    assert cli.main([keys if argument == "KEYS" else argument for argument in arguments]) == 0
    assert configured == [(True, "warning")]


def test_cli_main_logging_flags_default_when_not_given(tmp_path, monkeypatch):
    configured: list[tuple[object, object]] = []
    monkeypatch.setattr(
        cli, "configure_logging", lambda json, level: configured.append((json, level))
    )
    assert cli.main(["keys", "generate", str(tmp_path / "keys"), "--nodes", "a"]) == 0
    assert configured == [(None, None)]
