"""`zmesos logs TASK_ID [--stderr] [--follow]`: what a task printed, wherever it ran.

The master's `/state` says which agent ran the task (live, unreachable or
completed; `--framework` picks one when several frameworks used the id); the
agent's `/state` says which executor's sandbox holds it; its `/files/read`
gives the sandbox's `stdout` (or `stderr`) in pages. `--follow` keeps reading
from where it got to every `--poll` seconds, as `tail -f` does, and stops once
the task has ended and everything it wrote is printed (or at Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from typing import Any

from zmesos.cli.flags import Parser, positive_duration
from zmesos.cli.master_api import ApiUnavailable, ClusterApi, add_master_flag, connect

__all__ = ["TaskLocation", "add_parser", "find_task", "run"]

TERMINAL = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    parser = commands.add_parser(
        name,
        help="print a task's stdout (or stderr), wherever it ran",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task_id", help="the task's id")
    add_master_flag(parser)
    parser.add_argument("--framework", help="the framework's id, when several used the task id")
    parser.add_argument("--stderr", action="store_true", help="print stderr instead of stdout")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing as it writes")
    parser.add_argument(
        "--poll",
        type=positive_duration,
        default=0.5,
        help="with --follow, seconds between reads (default: 0.5)",
    )


class TaskLocation:
    """Where a task's files are: its framework, the agent's base URL, and the sandbox."""

    def __init__(self, framework_id: str, agent: str, directory: str) -> None:
        self.framework_id = framework_id
        self.agent = agent
        self.directory = directory


def _tasks(state: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for framework in (*state.get("frameworks", []), *state.get("completed_frameworks", [])):
        for key in ("tasks", "unreachable_tasks", "completed_tasks"):
            for task in framework.get(key, []):
                yield framework["id"], task


def find_task(api: ClusterApi, task_id: str, framework_id: str | None) -> TaskLocation:
    """Ask the master, then the agent, where the task's sandbox is; ApiUnavailable if unknown."""
    state = api.get_json("/state")
    found = {
        fid: task
        for fid, task in _tasks(state)
        if task["id"] == task_id and framework_id in (None, fid)
    }
    if not found:
        raise ApiUnavailable(f"the master knows no task {task_id!r}")
    if len(found) > 1:
        raise ApiUnavailable(
            f"task {task_id!r} ran in several frameworks ({', '.join(sorted(found))}): "
            "pick one with --framework"
        )
    [(fid, task)] = found.items()
    agents = {agent["id"]: agent for agent in state.get("slaves", [])}
    agent = agents.get(task["slave_id"])
    if agent is None:
        raise ApiUnavailable(f"task {task_id!r} ran on agent {task['slave_id']}, which is gone")
    url = api.agent_url(agent)
    directory = _sandbox(api.get_json("/state", at=url), fid, task_id)
    if directory is None:
        raise ApiUnavailable(f"agent {url} no longer has the sandbox of task {task_id!r}")
    return TaskLocation(fid, url, directory)


def _sandbox(agent_state: dict[str, Any], framework_id: str, task_id: str) -> str | None:
    """The directory of the (newest) executor that ran the task, from the agent's /state."""
    found = None
    for framework in (
        *agent_state.get("frameworks", []),
        *agent_state.get("completed_frameworks", []),
    ):
        if framework["id"] != framework_id:
            continue
        for executor in (
            *framework.get("executors", []),
            *framework.get("completed_executors", []),
        ):
            tasks = [
                *executor.get("tasks", []),
                *executor.get("queued_tasks", []),
                *executor.get("completed_tasks", []),
            ]
            if any(task["id"] == task_id for task in tasks):
                found = found or executor["directory"]
    return found


def _task_ended(api: ClusterApi, location: TaskLocation, task_id: str) -> bool:
    query = {"framework_id": location.framework_id, "task_id": task_id}
    answer = api.get_json("/tasks", query)
    return all(task["state"] in TERMINAL for task in answer.get("tasks", []))


def _read_from(api: ClusterApi, agent: str, path: str, offset: int) -> int:
    """Print the file from `offset` to its current end; the offset reached."""
    while True:
        page = api.get_json("/files/read", {"path": path, "offset": offset}, at=agent)
        data = page.get("data", "").encode("utf-8", errors="surrogateescape")
        if not data:
            return offset
        sys.stdout.buffer.write(data)  # the bytes as written, a cut character included
        sys.stdout.flush()
        offset += len(data)


def run(options: argparse.Namespace, parser: Parser) -> int:
    api = connect(options, parser)
    name = "stderr" if options.stderr else "stdout"
    try:
        location = find_task(api, options.task_id, options.framework)
        path = f"{location.directory}/{name}"
        offset = _read_from(api, location.agent, path, 0)
        while options.follow:
            ended = _task_ended(api, location, options.task_id)
            offset = _read_from(api, location.agent, path, offset)
            if ended:
                break
            time.sleep(options.poll)
    except ApiUnavailable as error:
        print(f"zmesos logs: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
