"""Command-line flags from the flags dataclasses: `--kebab-case` here, `snake_case` in code.

Each field of a flags dataclass becomes one option, typed by its annotation:
numbers, strings, booleans (`--x/--no-x`), durations (float fields named like a
time accept Mesos's `10secs`, `500ms`, `1mins`), sizes (int fields named
`*_size` accept Mesos's `2GB`, `512MB`), and optional values (`none` turns them
off). Numbers are never negative. A bad value stops the command with
one line naming the flag.

A flag left off the command line is read from the environment, as Mesos reads
`MESOS_<FLAG>`: `ZMESOS_<FLAG>` first, then `MESOS_<FLAG>` for the flags that
share Mesos's names (a field marked `mesos=False` in its metadata does not).
Mesos's snake_case spellings are accepted on the command line (`--work_dir`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from typing import Any, NoReturn, TypeVar

from zmesos.flags import parse_bytes, parse_duration
from zmesos.http.shapes import is_duration_flag

F = TypeVar("F")

_OFF = ("none", "off", "")


class Parser(argparse.ArgumentParser):
    """argparse, with errors printed as one line (no usage dump) and exit status 2, and
    options also taken in snake_case (`--work_dir` is `--work-dir`)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        arguments = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(kebab_case_options(arguments), namespace)


def kebab_case_options(arguments: list[str]) -> list[str]:
    """`--work_dir=x` -> `--work-dir=x`, up to a `--` that ends the options."""
    result: list[str] = []
    for index, argument in enumerate(arguments):
        if argument == "--":
            return result + arguments[index:]
        if argument.startswith("--"):
            name, equals, value = argument.partition("=")
            argument = name.replace("_", "-") + equals + value
        result.append(argument)
    return result


def from_environment(name: str, *, mesos: bool) -> tuple[str, str] | None:
    """`(variable, text)` of flag `name` in the environment: ZMESOS_<NAME>, then (for Mesos's
    flags) MESOS_<NAME>; None when neither is set."""
    prefixes = ("ZMESOS_", "MESOS_") if mesos else ("ZMESOS_",)
    for prefix in prefixes:
        variable = prefix + name.upper()
        if variable in os.environ:
            return variable, os.environ[variable]
    return None


def _converter(kind: Any, name: str) -> Any:
    optional = False
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        members = [member for member in typing.get_args(kind) if member is not type(None)]
        optional = len(members) < len(typing.get_args(kind))
        kind = members[0]
    is_duration = is_duration_flag(name, kind)
    is_size = kind is int and name.endswith("_size")

    def convert(text: str) -> Any:
        if optional and text.lower() in _OFF:
            return None
        if is_duration:
            return parse_duration(text)
        if is_size:
            return parse_bytes(text)
        value = kind(text)
        if kind in (int, float) and value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
        return value

    convert.__name__ = "duration" if is_duration else "size" if is_size else kind.__name__
    return convert


def add_flags(
    parser: argparse.ArgumentParser, flags_class: type, *, skip: tuple[str, ...] = ()
) -> None:
    """One option per field of `flags_class`; unset options keep the dataclass default."""
    hints = typing.get_type_hints(flags_class)
    for field in dataclasses.fields(flags_class):
        if field.name in skip or not field.init:
            continue
        option = "--" + field.name.replace("_", "-")
        default = _default_of(field)
        kind = hints[field.name]
        described = field.metadata.get("help", "")
        if default not in ("", None):
            described = f"{described} (default: {default})".strip()
        if kind is bool:
            parser.add_argument(
                option,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=described,
            )
        else:
            parser.add_argument(
                option,
                type=_converter(kind, field.name),
                default=argparse.SUPPRESS,
                help=described,
                metavar=field.name.upper(),
            )


def _default_of(field: dataclasses.Field[Any]) -> Any:
    """The field's default value, made by its factory if it has one (None if it has neither)."""
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    if field.default is not dataclasses.MISSING:
        return field.default
    return None


def build(flags_class: type[F], options: argparse.Namespace, parser: Parser, **fixed: Any) -> F:
    """The flags object from parsed options, then the environment (see the module
    docstring); an invalid value or combination exits with one line."""
    fields = dataclasses.fields(flags_class)  # type: ignore[arg-type]
    names = {field.name for field in fields}
    values = {name: value for name, value in vars(options).items() if name in names}
    hints = typing.get_type_hints(flags_class)
    for field in fields:
        if field.name in values or field.name in fixed or not field.init:
            continue
        found = from_environment(field.name, mesos=field.metadata.get("mesos", True))
        if found is not None:
            variable, text = found
            try:
                values[field.name] = _environment_value(hints[field.name], field.name, text)
            except (ValueError, TypeError, argparse.ArgumentTypeError) as error:
                parser.error(f"{variable}={text[:64]!r}: {error}")
    try:
        return flags_class(**{**values, **fixed})
    except (ValueError, TypeError) as error:
        parser.error(str(error))


def _environment_value(kind: Any, name: str, text: str) -> Any:
    """A flag's value from its environment variable's text (booleans: true/false, 1/0)."""
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError("expected true or false")
    return _converter(kind, name)(text)


def fail(prog: str, message: str) -> NoReturn:
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(2)


def port(text: str) -> int:
    """An argparse type: a TCP port number, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range (0-65535)")
    return value


def positive_count(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_duration(text: str) -> float:
    """An argparse type: a duration > 0 (`30`, `30secs`, `500ms`, `2mins`)."""
    try:
        value = parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value
