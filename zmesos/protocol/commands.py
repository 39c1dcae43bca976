"""How a CommandInfo becomes a program to run: the one rule agent and executors share."""

from __future__ import annotations

from zmesos.protocol.common import CommandInfo

__all__ = ["command_argv"]

SHELL = "/bin/sh"


def command_argv(command: CommandInfo) -> list[str]:
    """`/bin/sh -c value` for a shell command, else `[value, *arguments]`.

    ValueError for a command without a value.
    """
    if not command.value:
        raise ValueError("the command has no value")
    if command.shell:
        return [SHELL, "-c", command.value]
    return [command.value, *command.arguments]
