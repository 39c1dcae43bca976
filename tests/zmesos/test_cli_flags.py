"""The command line's flags: snake_case spellings, the environment, --version everywhere."""

from __future__ import annotations

import pytest

from agent import AgentFlags
from master import MasterFlags
from zmesos.cli import COMMANDS, VERSION, main
from zmesos.cli.flags import Parser, add_flags, build


def _agent_flags(*arguments: str) -> AgentFlags:
    parser = Parser(prog="zmesos agent")
    add_flags(parser, AgentFlags)
    return build(AgentFlags, parser.parse_args(list(arguments)), parser)


def test_cli_flags_take_mesos_snake_case_spellings(tmp_path):
    flags = _agent_flags(
        "--work_dir",
        str(tmp_path),
        "--executor_shutdown_grace_period=3secs",
        "--no-executor_fork_server",
    )
    assert flags.work_dir == str(tmp_path)
    assert flags.executor_shutdown_grace_period == 3.0
    assert flags.executor_fork_server is False


def test_cli_flags_come_from_the_environment_command_line_first(tmp_path, monkeypatch):
    monkeypatch.setenv("MESOS_WORK_DIR", "/from/mesos")
    assert _agent_flags().work_dir == "/from/mesos"
    monkeypatch.setenv("ZMESOS_WORK_DIR", str(tmp_path))
    assert _agent_flags().work_dir == str(tmp_path)  # ZMESOS_ wins over MESOS_
    assert _agent_flags("--work-dir", "/given").work_dir == "/given"  # the command line wins
    monkeypatch.setenv("MESOS_RECOVERY_TIMEOUT", "2mins")
    monkeypatch.setenv("ZMESOS_EXECUTOR_FORK_SERVER", "false")
    flags = _agent_flags()
    assert flags.recovery_timeout == 120.0 and flags.executor_fork_server is False


def test_cli_flags_mesos_variables_set_only_flags_mesos_has(monkeypatch):
    monkeypatch.setenv("MESOS_ACTOR_PORT", "7")  # zmesos's own flag: not Mesos's variable
    assert _agent_flags().actor_port == 0
    monkeypatch.setenv("ZMESOS_ACTOR_PORT", "7")
    assert _agent_flags().actor_port == 7
    parser = Parser(prog="zmesos master")
    add_flags(parser, MasterFlags)
    monkeypatch.setenv("MESOS_ALLOCATION_INTERVAL", "250ms")
    monkeypatch.setenv("MESOS_MASTER_ID", "ignored")
    flags = build(MasterFlags, parser.parse_args([]), parser)
    assert flags.allocation_interval == 0.25 and flags.master_id is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ZMESOS_PORT", "http"), ("MESOS_RECOVERY_TIMEOUT", "soon"), ("ZMESOS_RECOVER", "sideways")],
)
def test_cli_flags_a_bad_environment_value_stops_with_one_line(
    monkeypatch, capsys, variable, value
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        _agent_flags()
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("zmesos agent: error:")


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_cli_every_command_has_version(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([command, "--version"] if command else ["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == VERSION
