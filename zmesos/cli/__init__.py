"""The `zmesos` command: master, agent, a local cluster, running one command, and looking
at a cluster (state, agents, frameworks, tasks, logs, top).

The one place that imports master, agent and frameworks together. Every
command takes `--version`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Protocol

from libprocess import configure_logging
from zmesos.cli import agent, execute, keys, local, logs, master
from zmesos.cli.flags import Parser
from zmesos.cli.views import agents, frameworks, state, tasks, top
from zmesos.cli.volumes import reserve, unreserve, volumes
from zmesos.version import MESOS_VERSION, ZMESOS_VERSION

VERSION = f"zmesos {ZMESOS_VERSION} (Mesos {MESOS_VERSION} APIs)"


class Command(Protocol):
    """A subcommand: a module (or object) that adds its parser and runs parsed options."""

    def add_parser(self, commands: argparse._SubParsersAction[Any], name: str) -> None: ...

    def run(self, options: argparse.Namespace, parser: Parser) -> int: ...


COMMANDS: dict[str, Command] = {
    "master": master,
    "agent": agent,
    "local": local,
    "execute": execute,
    "reserve": reserve,
    "unreserve": unreserve,
    "volumes": volumes,
    "state": state,
    "agents": agents,
    "frameworks": frameworks,
    "tasks": tasks,
    "logs": logs,
    "top": top,
    "keys": keys,
}


def _add_version(parser: argparse.ArgumentParser) -> None:
    """`--version` on `parser` and on every subcommand below it."""
    parser.add_argument("--version", action="version", version=VERSION)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _add_version(subparser)


def _add_logging(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """`--log-json` and `--log-level`, before the subcommand or (as Mesos users write
    flags) after it: a subcommand's copy leaves the value alone unless given."""
    parser.add_argument(
        "--log-json",
        action="store_true",
        default=False if default is None else default,
        help="log JSON lines instead of key=value",
    )
    parser.add_argument(
        "--log-level", default=default, help="debug, info (default), warning, error"
    )


def _add_logging_to_subcommands(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                if not any(a.dest == "log_level" for a in subparser._actions):
                    _add_logging(subparser, default=argparse.SUPPRESS)
                _add_logging_to_subcommands(subparser)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="zmesos", description="Apache Mesos, rebuilt on an actor runtime over ZeroMQ."
    )
    _add_logging(parser)
    commands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(commands, name)
    _add_logging_to_subcommands(parser)
    _add_version(parser)
    options = parser.parse_args(argv)
    try:
        configure_logging(json=options.log_json or None, level=options.log_level)
    except ValueError as error:
        parser.error(str(error))
    command_parser = commands.choices[options.subcommand]  # errors name the subcommand
    try:
        return COMMANDS[options.subcommand].run(options, command_parser)
    except BrokenPipeError:  # `zmesos tasks --all | head`: the reader is gone, and that is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush
        return 128 + 13  # killed by SIGPIPE, as the shell reports it


if __name__ == "__main__":
    sys.exit(main())
