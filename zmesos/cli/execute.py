"""`zmesos execute`: run one command as a task, print each state, exit with its status.

With `--task-group` (Mesos's mesos-execute `--task_group`: a TaskGroupInfo as
JSON, inline or in a file) it runs the group's tasks together on the agent's
default executor (`--executor-resources`) and exits with the status of the
first task that did not finish (0 when all did).

If no master accepts the framework within a few seconds, it says which master it
is waiting for; after `--registration-timeout` it gives up (exit status 1).
With `--credential FILE` (Mesos's JSON `{"principal": .., "secret": ..}`) it
authenticates with the master first; a refusal ends it with the master's
reason (exit status 1). Each of these is one line of its own: the log of the
runtime and scheduler driver beneath shows errors only, unless `--log-level`
(or ZMESOS_LOG_LEVEL) asks for more.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
import uuid

import uvloop

from frameworks.batch import BatchScheduler, Command, TaskRecord
from frameworks.group import GroupScheduler
from frameworks.scheduler import SchedulerDriver
from libprocess import Node, configure_logging, curve
from zmesos.authentication import Credential, load_credential
from zmesos.cli.flags import Parser, positive_duration
from zmesos.detector import master_detector
from zmesos.errors import ApiError, CredentialsError, FlagsError
from zmesos.flags import parse_resources
from zmesos.protocol import (
    ExecutorInfo,
    ExecutorType,
    FrameworkInfo,
    TaskGroupInfo,
    TaskState,
    TaskStatus,
)
from zmesos.resources import Resources
from zmesos.v1.objects import task_group_from_v1

_EXIT_STATUS = re.compile(r"status (\d+)")
DEFAULT_EXECUTOR_RESOURCES = "cpus:0.1;mem:32;disk:32"  # Mesos's mesos-execute uses these
REGISTRATION_TIMEOUT = 30.0
MAX_TASK_GROUP_BYTES = 1 << 20
PLACEHOLDER_AGENT_ID = "offered"  # each task's agent id is the offer's, set at launch
# Seconds without a master before saying which one we wait for.
REGISTRATION_NOTICE = 2.0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    parser = commands.add_parser(name, help="run one command as a task", description=__doc__)
    parser.add_argument("--master", required=True, help="the master's HOST:PORT (its HTTP address)")
    parser.add_argument("--command", default="", help="shell command to run")
    parser.add_argument(
        "--task-group",
        default="",
        help="a task group to run instead: Mesos's TaskGroupInfo as JSON, or a file holding it",
    )
    parser.add_argument(
        "--executor-resources",
        default=DEFAULT_EXECUTOR_RESOURCES,
        help=f"the default executor's own resources, with --task-group "
        f"(default: {DEFAULT_EXECUTOR_RESOURCES})",
    )
    parser.add_argument("--resources", default="cpus:0.1;mem:32", help="(default: cpus:0.1;mem:32)")
    parser.add_argument("--name", default="zmesos-execute", help="framework and task name")
    parser.add_argument("--role", default="*", help="role to run as (default: *)")
    parser.add_argument(
        "--checkpoint",
        action="store_true",
        help="checkpoint the framework, so the task outlives a restart of its agent",
    )
    parser.add_argument(
        "--timeout", type=positive_duration, default=None, help="give up after this long"
    )
    parser.add_argument(
        "--credential",
        default="",
        help='JSON file {"principal": .., "secret": ..}: authenticate with the master as it',
    )
    parser.add_argument("--principal", default="", help="the framework's principal")
    parser.add_argument(
        "--curve-keys",
        default="",
        help="this node's CurveZMQ key directory (zmesos keys generate), as the cluster uses",
    )
    parser.add_argument(
        "--registration-timeout",
        type=positive_duration,
        default=REGISTRATION_TIMEOUT,
        help=f"give up if no master accepts the framework within this (default: "
        f"{REGISTRATION_TIMEOUT:g}secs)",
    )


def run(options: argparse.Namespace, parser: Parser) -> int:
    credential: Credential | None = None
    group: TaskGroupInfo | None = None
    if bool(options.command) == bool(options.task_group):
        parser.error("give one of --command and --task-group")
    try:
        resources = parse_resources(options.resources)
        if options.task_group:
            group = read_task_group(options.task_group)
            executor_resources = parse_resources(options.executor_resources, "--executor-resources")
        master_detector(options.master)
        if options.credential:
            credential = load_credential(options.credential)
        if options.curve_keys:
            curve.load(options.curve_keys)
    except FlagsError as error:
        parser.error(str(error))
    except CredentialsError as error:
        parser.error(f"--credential: {error}")
    except curve.CurveKeyError as error:
        parser.error(f"--curve-keys: {error}")
    if getattr(options, "log_level", None) is None and "ZMESOS_LOG_LEVEL" not in os.environ:
        # Its own lines say what happens; the driver's warnings would say it again.
        configure_logging(json=getattr(options, "log_json", False) or None, level="error")
    if group is not None:
        executor = ExecutorInfo(
            executor_id=f"{options.name}-{uuid.uuid4().hex[:8]}",
            type=ExecutorType.DEFAULT,
            resources=tuple(executor_resources.to_list()),
        )
        return uvloop.run(_execute_group(options, executor, group, credential))
    return uvloop.run(_execute(options, resources, credential))


def read_task_group(text: str) -> TaskGroupInfo:
    """`--task-group`: a TaskGroupInfo in Mesos's JSON, inline (starting with `{`) or in a
    file (`/path` or `file:///path`). Its tasks need no agent id (the offer gives it).
    FlagsError naming what is wrong."""
    if not text.lstrip().startswith("{"):
        path = text.removeprefix("file://")
        try:
            with open(path, encoding="utf-8") as source:
                text = source.read(MAX_TASK_GROUP_BYTES + 1)
        except OSError as error:
            raise FlagsError(f"--task-group: cannot read {path!r}: {error.strerror}") from None
    if len(text) > MAX_TASK_GROUP_BYTES:
        raise FlagsError(f"--task-group: more than {MAX_TASK_GROUP_BYTES} bytes")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise FlagsError(f"--task-group: not JSON: {error}") from None
    tasks = value.get("tasks") if isinstance(value, dict) else None
    if isinstance(tasks, list):
        for task in tasks:
            if isinstance(task, dict):
                task.setdefault("agent_id", {"value": PLACEHOLDER_AGENT_ID})
    try:
        group = task_group_from_v1(value, "task_group")
    except ApiError as error:
        raise FlagsError(f"--task-group: {error}") from None
    if not group.tasks:
        raise FlagsError("--task-group: the group has no tasks")
    return group


def exit_status(status: TaskStatus) -> int:
    """The task's exit status, as the shell would report it."""
    if status.state == TaskState.FINISHED:
        return 0
    if status.state == TaskState.FAILED:
        match = _EXIT_STATUS.search(status.message)
        return int(match[1]) if match else 1
    if status.state == TaskState.KILLED:
        return 128 + 15
    return 1


def framework_info(options: argparse.Namespace) -> FrameworkInfo:
    """The FrameworkInfo `zmesos execute` registers with."""
    return FrameworkInfo(
        user=getpass.getuser(),
        name=options.name,
        roles=(options.role,),
        principal=options.principal,
        checkpoint=options.checkpoint,
    )


async def _execute(
    options: argparse.Namespace, resources: Resources, credential: Credential | None
) -> int:
    task_id = f"{options.name}-{uuid.uuid4().hex[:8]}"

    def on_update(record: TaskRecord, status: TaskStatus) -> None:
        detail = f": {status.message}" if status.message else ""
        print(f"{task_id} {status.state.value} on {record.hostname or '?'}{detail}", flush=True)

    scheduler = BatchScheduler(
        [Command(task_id, options.command, resources, options.name)], on_update=on_update
    )
    framework = framework_info(options)
    async with Node(curve_keys=options.curve_keys or None) as node:
        driver = SchedulerDriver(scheduler, framework, options.master, credential=credential)
        node.spawn(driver)
        try:
            if not await _registered(driver, options.master, options.registration_timeout):
                hint = _silence_hint(options, driver)
                print(
                    f"zmesos execute: error: no master at {options.master} accepted the "
                    f"framework within {options.registration_timeout:g} s{hint}",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            records = await asyncio.wait_for(scheduler.done, options.timeout)
        except RuntimeError as error:  # the master refused the framework (batch.error)
            print(f"zmesos execute: error: {error}", file=sys.stderr, flush=True)
            return 1
        except TimeoutError:
            print(f"{task_id} did not finish within {options.timeout} s", flush=True)
            driver.stop()
            return 124
        finally:
            if not driver.terminated:
                driver.stop()
            await asyncio.sleep(0.1)  # let the unregistration leave
    record = records[task_id]
    last = TaskStatus(task_id=task_id, state=record.state or TaskState.LOST, message=record.message)
    return exit_status(last)


def _silence_hint(options: argparse.Namespace, driver: SchedulerDriver) -> str:
    """Why a master whose actor was found may not answer: CurveZMQ refuses us unseen."""
    if driver.master is None or options.curve_keys:
        return ""
    return (
        f"; its actor {driver.master} never answered "
        "(a cluster that uses CurveZMQ needs --curve-keys DIR)"
    )


async def _execute_group(
    options: argparse.Namespace,
    executor: ExecutorInfo,
    group: TaskGroupInfo,
    credential: Credential | None,
) -> int:
    def on_update(status: TaskStatus, hostname: str) -> None:
        detail = f": {status.message}" if status.message else ""
        print(f"{status.task_id} {status.state.value} on {hostname or '?'}{detail}", flush=True)

    scheduler = GroupScheduler(executor, group.tasks, on_update=on_update)
    framework = FrameworkInfo(
        user=getpass.getuser(),
        name=options.name,
        roles=(options.role,),
        principal=options.principal,
    )
    async with Node(curve_keys=options.curve_keys or None) as node:
        driver = SchedulerDriver(scheduler, framework, options.master, credential=credential)
        node.spawn(driver)
        try:
            if not await _registered(driver, options.master, options.registration_timeout):
                print(
                    f"zmesos execute: error: no master at {options.master} accepted the "
                    f"framework within {options.registration_timeout:g} s",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            await asyncio.wait_for(scheduler.done, options.timeout)
        except RuntimeError as error:  # the master refused the framework
            print(f"zmesos execute: error: {error}", file=sys.stderr, flush=True)
            return 1
        except TimeoutError:
            print(f"the task group did not finish within {options.timeout} s", flush=True)
            return 124
        finally:
            if not driver.terminated:
                driver.stop()
            await asyncio.sleep(0.1)  # let the unregistration leave
    for task in group.tasks:
        final = scheduler.final(task.task_id)
        if final is None or final.state is not TaskState.FINISHED:
            return exit_status(final or TaskStatus(task_id=task.task_id, state=TaskState.LOST))
    return 0


async def _registered(driver: SchedulerDriver, master: str, timeout: float) -> bool:
    """Whether a master accepts the framework within `timeout` s; says what it waits for."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    noticed = False
    while not driver.connected and not driver.terminated:
        waited = loop.time() - start
        if waited >= timeout:
            return False
        if not noticed and waited >= REGISTRATION_NOTICE:
            noticed = True
            print(
                f"zmesos execute: waiting for the master at {master} to accept the framework "
                f"(giving up after {timeout:g} s; see --registration-timeout)",
                file=sys.stderr,
                flush=True,
            )
        await asyncio.sleep(0.05)
    return True
