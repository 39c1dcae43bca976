"""`zmesos state`, `zmesos agents`, `zmesos frameworks`, `zmesos tasks [--all]`, `zmesos top`:
the cluster as the master's HTTP API shows it, as aligned tables (`--json`: the JSON).

Each reads the master named by `--master HOST:PORT` (its HTTP address, `https://` with
TLS, or `zk://`; also $ZMESOS_MASTER or $MESOS_MASTER; credentials and trust as
zmesos.cli.master_api says): `/state` for the tables, the matching
endpoint (`/state`, `/slaves`, `/frameworks`, `/tasks`) for `--json`. A master
that cannot be read ends the command with one line and exit status 1.
`zmesos top` redraws a one-screen summary every `--interval` until Ctrl-C
(`--iterations N` stops after N screens).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from zmesos.cli.flags import Parser, positive_count, positive_duration
from zmesos.cli.master_api import (
    ApiUnavailable,
    add_master_flag,
    agent_http_address,
    connect,
    table,
)

__all__ = ["agents", "frameworks", "state", "tasks", "top"]

CLEAR_SCREEN = "\x1b[H\x1b[2J"
LIVE_STATES = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING")


def _framework_records(state: dict[str, Any], everything: bool) -> Iterator[dict[str, Any]]:
    yield from state.get("frameworks", [])
    if everything:
        yield from state.get("completed_frameworks", [])


def _tasks_of(state: dict[str, Any], everything: bool) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    for framework in _framework_records(state, everything):
        tasks.extend(framework.get("tasks", []))
        if everything:
            tasks.extend(framework.get("unreachable_tasks", []))
            tasks.extend(framework.get("completed_tasks", []))
    return tasks


def _amount(resources: dict[str, Any], name: str) -> float:
    value = resources.get(name, 0.0)
    return round(float(value), 3) if isinstance(value, int | float) else 0.0


def _started(task: dict[str, Any]) -> float:
    return min((status.get("timestamp", 0.0) for status in task.get("statuses", [])), default=0.0)


# -- the tables -------------------------------------------------------------------------


def state_table(state: dict[str, Any]) -> str:
    """The cluster in a few lines: the master, and totals of agents, frameworks, tasks."""
    agents = state.get("slaves", [])
    total = {name: sum(_amount(a["resources"], name) for a in agents) for name in ("cpus", "mem")}
    used = {
        name: sum(_amount(a["used_resources"], name) for a in agents) for name in ("cpus", "mem")
    }
    tasks = _tasks_of(state, True)
    by_state: dict[str, int] = {}
    for task in tasks:
        by_state[task["state"]] = by_state.get(task["state"], 0) + 1
    rows: list[tuple[str, object]] = [
        ("master", f"{state.get('id', '')} {state.get('pid', '')}"),
        ("version", state.get("version", "")),
        ("leader", state.get("leader", "") or state.get("pid", "")),
        ("agents", f"{sum(a.get('active', False) for a in agents)} active of {len(agents)}"),
        ("frameworks", f"{len(state.get('frameworks', []))} registered"),
        ("cpus", f"{used['cpus']:g} used of {total['cpus']:g}"),
        ("mem", f"{used['mem']:g} MB used of {total['mem']:g} MB"),
        (
            "tasks",
            ", ".join(f"{name} {count}" for name, count in sorted(by_state.items())) or "none",
        ),
    ]
    return table(("WHAT", "VALUE"), rows)


def agents_table(state: dict[str, Any]) -> str:
    rows = []
    for agent in state.get("slaves", []):
        resources, used = agent["resources"], agent["used_resources"]
        running = sum(
            1
            for framework in state.get("frameworks", [])
            for task in framework.get("tasks", [])
            if task.get("slave_id") == agent["id"]
        )
        rows.append(
            (
                agent["id"],
                agent.get("hostname", ""),
                agent_http_address(agent),
                f"{_amount(used, 'cpus'):g}/{_amount(resources, 'cpus'):g}",
                f"{_amount(used, 'mem'):g}/{_amount(resources, 'mem'):g}",
                f"{_amount(used, 'disk'):g}/{_amount(resources, 'disk'):g}",
                running,
                agent.get("active", False),
            )
        )
    return table(("ID", "HOSTNAME", "ADDRESS", "CPUS", "MEM", "DISK", "TASKS", "ACTIVE"), rows)


def frameworks_table(state: dict[str, Any], everything: bool = False) -> str:
    rows = []
    for framework in _framework_records(state, everything):
        used = framework.get("used_resources", {})
        rows.append(
            (
                framework["id"],
                framework.get("name", ""),
                ",".join(framework.get("roles", [])),
                framework.get("active", False),
                len(framework.get("tasks", [])),
                _amount(used, "cpus"),
                _amount(used, "mem"),
            )
        )
    return table(("ID", "NAME", "ROLES", "ACTIVE", "TASKS", "CPUS", "MEM"), rows)


def tasks_table(
    state: dict[str, Any], everything: bool = False, only: list[dict[str, Any]] | None = None
) -> str:
    """The tasks of `state` (live ones; `everything`: all), or just those in `only`."""
    hostnames = {agent["id"]: agent.get("hostname", "") for agent in state.get("slaves", [])}
    names = {f["id"]: f.get("name", "") for f in _framework_records(state, True)}
    rows = []
    listed = _tasks_of(state, everything) if only is None else only
    for task in sorted(listed, key=_started):
        rows.append(
            (
                task["id"],
                task.get("name", ""),
                names.get(task["framework_id"], task["framework_id"]),
                hostnames.get(task["slave_id"], task["slave_id"]),
                task["state"],
                _amount(task.get("resources", {}), "cpus"),
                _amount(task.get("resources", {}), "mem"),
            )
        )
    return table(("ID", "NAME", "FRAMEWORK", "AGENT", "STATE", "CPUS", "MEM"), rows)


def top_screen(state: dict[str, Any], master: str) -> str:
    """One screen: the summary, the agents, and the newest live tasks (at most 15)."""
    live = [task for task in _tasks_of(state, False) if task["state"] in LIVE_STATES]
    return "\n\n".join(
        [
            f"zmesos top: {master}  {time.strftime('%H:%M:%S')}",
            state_table(state),
            agents_table(state),
            tasks_table(state, only=sorted(live, key=_started)[-15:]),
        ]
    )


# -- the commands ---------------------------------------------------------------------------


class _View:
    """A command that prints a table from /state, or `--json` from `json_path`."""

    def __init__(
        self,
        summary: str,
        json_path: str,
        render: Callable[[dict[str, Any], bool], str],
        *,
        takes_all: bool = False,
    ) -> None:
        self.summary = summary
        self.json_path = json_path
        self.render = render
        self.takes_all = takes_all

    def add_parser(self, commands: argparse._SubParsersAction[Any], name: str) -> None:
        parser = commands.add_parser(name, help=self.summary, description=self.summary)
        add_master_flag(parser)
        parser.add_argument("--json", action="store_true", help=f"print {self.json_path}'s JSON")
        if self.takes_all:
            parser.add_argument(
                "--all", action="store_true", help="include completed (and unreachable) ones"
            )

    def run(self, options: argparse.Namespace, parser: Parser) -> int:
        api = connect(options, parser)
        everything = bool(getattr(options, "all", False))
        try:
            if options.json:
                print(json.dumps(api.get_json(self.json_path), indent=2, sort_keys=True))
                return 0
            print(self.render(api.get_json("/state"), everything))
        except ApiUnavailable as error:
            print(f"zmesos: {error}", file=sys.stderr)
            return 1
        return 0


state = _View(
    "the cluster: master, agents, frameworks, tasks", "/state", lambda s, _: state_table(s)
)
agents = _View("agents with their resources (used/total)", "/slaves", lambda s, _: agents_table(s))
frameworks = _View(
    "frameworks with their roles and resources", "/frameworks", frameworks_table, takes_all=True
)
tasks = _View(
    "tasks and where they run (live ones; --all: every one)",
    "/tasks?limit=1000000",
    tasks_table,
    takes_all=True,
)


class _Top:
    """`zmesos top`: a one-screen view, redrawn every `--interval`."""

    def add_parser(self, commands: argparse._SubParsersAction[Any], name: str) -> None:
        parser = commands.add_parser(name, help="a live one-screen view of the cluster")
        add_master_flag(parser)
        parser.add_argument(
            "--interval",
            type=positive_duration,
            default=2.0,
            help="seconds between screens (default: 2)",
        )
        parser.add_argument(
            "--iterations", type=positive_count, help="stop after this many screens"
        )

    def run(self, options: argparse.Namespace, parser: Parser) -> int:
        api = connect(options, parser)
        shown = 0
        try:
            while options.iterations is None or shown < options.iterations:
                if shown:
                    time.sleep(options.interval)
                try:
                    screen = top_screen(api.get_json("/state"), options.master)
                except ApiUnavailable as error:
                    screen = f"zmesos top: {error}"
                clear = CLEAR_SCREEN if sys.stdout.isatty() else ""
                print(clear + screen, flush=True)
                shown += 1
        except KeyboardInterrupt:
            return 0
        return 0


top = _Top()
