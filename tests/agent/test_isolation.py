"""Isolation on a real agent with real cgroups: memory and cpu limits, no escape, disk quota.

These need writable cgroups (root, cgroup v1 or v2 with the cpu and memory
controllers). Without them they skip -- except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from agent import Agent, AgentFlags
from agent.cgroups import CgroupV1, CgroupV2, Hierarchies, join_cgroups
from agent.container_monitor import container_limits
from agent.errors import FlagsError
from agent.isolation import Isolation, Limits, parse_isolation
from libprocess import Node, clock
from tests.agent.fakes import (
    FRAMEWORK,
    sandboxes,
    start_agent,
)
from tests.agent.processes import alive, wait_until
from zmesos.protocol import CommandInfo, ExecutorInfo, Reason, TaskInfo, TaskState
from zmesos.resources import Resources

PYTHON = sys.executable
MEMORY_HOG = (
    f"exec {PYTHON} -c 'import time\nheld = []\n"
    'while True:\n    held.append(b"x" * (8 << 20))\n    time.sleep(0.01)\''
)
CPU_HOG = f"exec {PYTHON} -c 'while True: pass'"
FORKER = (  # forks 20 sleeping children if it can, then says how many it could
    f"exec {PYTHON} -c 'import os, time\nforked = 0\nfor _ in range(20):\n"
    "    try:\n        pid = os.fork()\n    except OSError:\n        continue\n"
    "    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n    forked += 1\n"
    'open("forked", "w").write(str(forked))\ntime.sleep(30)\''
)


def test_isolation_parse_keeps_the_order_and_empty_means_the_default():
    assert parse_isolation("cgroups/mem, disk/du") == ("cgroups/mem", "disk/du")
    assert parse_isolation(" ") == ()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("cgroups/foo", "unknown isolator 'cgroups/foo'"),
        ("cgroups/cpu,,disk/du", "unknown isolator ''"),
        ("cgroups/cpu,cgroups/cpu", "given twice"),
        ("cgroups/cpu,posix/cpu", "cannot both be used"),
        ("posix/mem,cgroups/mem", "cannot both be used"),
    ],
)
def test_isolation_bad_values_are_one_line_flag_errors(text, reason):
    with pytest.raises(FlagsError, match="--isolation") as caught:
        AgentFlags(isolation=text)
    assert reason in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "flag"),
    [
        ({"cgroups_root": "/"}, "--cgroups-root"),
        ({"cgroups_root": "../escape"}, "--cgroups-root"),
        ({"cgroups_max_pids": -1}, "--cgroups-max-pids"),
        ({"container_disk_watch_interval": 0.0}, "--container-disk-watch-interval"),
    ],
)
def test_isolation_bad_settings_are_one_line_flag_errors(overrides, flag):
    with pytest.raises(FlagsError, match=flag):
        AgentFlags(**overrides)


def v1_hierarchies(*controllers: str) -> Hierarchies:
    mounts = {name: Path(f"/sys/fs/cgroup/{name}") for name in controllers}
    found = frozenset(mounts)
    return Hierarchies(
        version=1, base=Path("zmesos/x"), v1=mounts, controllers=found, available=found
    )


def test_isolation_default_is_what_the_machine_has():
    everything = v1_hierarchies("cpu", "cpuacct", "memory", "pids", "freezer")
    chosen = Isolation.choose((), everything)
    assert chosen.isolators == ("cgroups/cpu", "cgroups/mem", "cgroups/pids", "disk/du")
    assert chosen.cgroups
    memory_only = Isolation.choose((), v1_hierarchies("memory", "freezer"))
    assert memory_only.isolators == ("cgroups/mem", "posix/cpu", "disk/du")
    assert memory_only.hierarchies is not None
    assert memory_only.hierarchies.controllers == {"memory", "freezer"}
    nothing = Isolation.choose((), None)
    assert nothing.isolators == ("posix/cpu", "posix/mem", "disk/du")
    assert not nothing.cgroups and nothing.describe() == "posix/cpu,posix/mem,disk/du"


def test_isolation_asked_for_a_missing_controller_is_a_flag_error():
    with pytest.raises(FlagsError, match="cgroups/mem needs the cgroup memory controller"):
        Isolation.choose(("cgroups/mem",), v1_hierarchies("cpu", "cpuacct"))
    with pytest.raises(FlagsError, match="cgroups/cpu needs"):
        Isolation.choose(("cgroups/cpu",), None)


def test_isolation_only_the_asked_controllers_get_cgroups():
    chosen = Isolation.choose(
        ("cgroups/cpu",), v1_hierarchies("cpu", "cpuacct", "memory", "pids", "freezer")
    )
    assert chosen.hierarchies is not None
    assert chosen.hierarchies.controllers == {"cpu", "cpuacct", "freezer"}


def test_isolation_limits_add_the_command_executors_share():
    task_resources = Resources.parse("cpus:0.5;mem:64;disk:10").to_list()
    info = ExecutorInfo(executor_id="e")
    assert container_limits(info, True, task_resources) == Limits(
        cpus=0.6, mem_mb=96.0, disk_mb=10.0
    )
    assert container_limits(info, True, []) == Limits(cpus=0.1, mem_mb=64.0)
    custom = ExecutorInfo(executor_id="e", resources=tuple(Resources.parse("mem:32").to_list()))
    assert container_limits(custom, False, task_resources) == Limits(
        cpus=0.5, mem_mb=96.0, disk_mb=10.0
    )
    assert container_limits(info, False, []) == Limits(mem_mb=64.0)  # the floor


def needs_cgroups(work_dir: Path) -> Hierarchies:
    """The cgroup hierarchies an agent with `work_dir` would use; skip (fail under CI) if none."""
    hierarchies = Hierarchies.detect("zmesos", str(work_dir))
    if hierarchies is None or not {"cpu", "cpuacct", "memory"} <= hierarchies.controllers:
        reason = "cgroups with the cpu and memory controllers are not writable here"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return hierarchies


def task(task_id: str, command: str, resources: str) -> TaskInfo:
    return TaskInfo(
        name=task_id,
        task_id=task_id,
        agent_id="agent-1",
        resources=tuple(Resources.parse(resources).to_list()),
        command=CommandInfo(value=command),
    )


async def container_of(node: Node, agent: Agent, executor_id: str) -> str:
    state = await node.dispatch(agent.pid, Agent.state)
    return state["frameworks"]["framework-1"]["executors"][executor_id]["container_id"]


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


async def test_isolation_memory_hog_fails_with_the_memory_reason_and_its_neighbour_runs(tmp_path):
    hierarchies = needs_cgroups(tmp_path)
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path, isolation="cgroups/cpu,cgroups/mem")
        master.run_task(task("neighbour", "exec sleep 60", "cpus:0.1;mem:32"))
        master.run_task(task("hog", MEMORY_HOG, "cpus:0.1;mem:64"))

        await master.wait_for(lambda: master.terminal("hog"), timeout=30)

        update = master.terminal("hog")
        assert update is not None
        assert update.status.state is TaskState.FAILED
        assert update.status.reason is Reason.CONTAINER_LIMITATION_MEMORY
        assert "Memory limit exceeded" in update.status.message
        assert "96 MB" in update.status.message  # mem:64 and the executor's 32 MB
        assert TaskState.RUNNING in master.states("neighbour")
        assert master.terminal("neighbour") is None
        neighbour = hierarchies.cgroup(await container_of(node, agent, "neighbour"))
        assert neighbour.pids()  # its executor and its sleep, still there
        entries = await node.dispatch(agent.pid, Agent.statistics)
        [statistics] = [entry for entry in entries if entry["executor_id"] == "neighbour"]
        assert statistics["statistics"]["mem_limit_bytes"] == 64 << 20
        assert statistics["statistics"]["processes"] >= 2

        master.kill_task("neighbour")
        await master.wait_for(lambda: master.terminal("neighbour"))


async def test_isolation_cpu_hog_is_held_to_its_cfs_quota(tmp_path):
    hierarchies = needs_cgroups(tmp_path)
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(
            node, tmp_path, isolation="cgroups/cpu,cgroups/mem", cgroups_enable_cfs=True
        )
        master.run_task(task("hog", CPU_HOG, "cpus:0.5;mem:64"))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("hog"))
        cgroup = hierarchies.cgroup(await container_of(node, agent, "hog"))
        assert isinstance(cgroup, CgroupV1 | CgroupV2)

        await asyncio.sleep(0.3)  # past the executor's own start
        used, started = cgroup.cpu_usage_seconds(), time.monotonic()
        await asyncio.sleep(1.5)
        rate = (cgroup.cpu_usage_seconds() - used) / (time.monotonic() - started)

        # cpus:0.5 plus the command executor's 0.1: a quota of 60 ms per 100 ms.
        assert rate < 0.6 * 1.25, rate
        assert rate > 0.0
        usage = cgroup.usage()
        assert usage.cpus_nr_periods  # CFS accounts every period of the quota
        [statistics] = await node.dispatch(agent.pid, Agent.statistics)
        assert statistics["statistics"]["cpus_limit"] == pytest.approx(0.6)
        assert statistics["statistics"]["cpus_user_time_secs"] > 0

        master.kill_task("hog")
        await master.wait_for(lambda: master.terminal("hog"))


ESCAPE = "setsid sh -c 'echo $$ > escaped.pid; exec sleep 1000' < /dev/null > /dev/null 2>&1 &"


@pytest.mark.parametrize(
    ("ending", "fork_server"),
    [("exits", True), ("is killed", True), ("exits", False)],
)
async def test_isolation_a_setsid_child_does_not_outlive_its_task(tmp_path, ending, fork_server):
    needs_cgroups(tmp_path)
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(
            node,
            tmp_path,
            isolation="cgroups/cpu,cgroups/mem",
            executor_fork_server=fork_server,
        )
        then = "exit 0" if ending == "exits" else "exec sleep 1000"
        master.run_task(
            task("t1", f"{ESCAPE} while [ ! -s escaped.pid ]; do :; done; {then}", "mem:32")
        )
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))
        [sandbox] = sandboxes(tmp_path, "t1")
        escaped = await wait_until(lambda: read_pid(sandbox / "escaped.pid"))
        assert os.getsid(escaped) == escaped  # a session of its own: no session kill finds it
        if ending == "is killed":
            master.kill_task("t1")

        await master.wait_for(lambda: master.terminal("t1"))
        await wait_until(lambda: not alive(escaped))


async def test_isolation_disk_hog_over_its_quota_is_killed_when_enforced(tmp_path):
    needs_cgroups(tmp_path)
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(
            node,
            tmp_path,
            enforce_container_disk_quota=True,
            container_disk_watch_interval=5.0,
        )
        hog = "head -c 4194304 /dev/zero > blob && sync && : > written && exec sleep 1000"
        master.run_task(task("hog", hog, "mem:32;disk:1"))
        master.run_task(task("small", "exec sleep 1000", "mem:32;disk:16"))
        await master.wait_for(
            lambda: (
                TaskState.RUNNING in master.states("hog")
                and TaskState.RUNNING in master.states("small")
            )
        )
        [sandbox] = sandboxes(tmp_path, "hog")
        await wait_until(lambda: (sandbox / "written").exists())

        clock.advance(5.0)
        await master.wait_for(lambda: master.terminal("hog"))

        update = master.terminal("hog")
        assert update is not None
        assert update.status.state is TaskState.FAILED
        assert update.status.reason is Reason.CONTAINER_LIMITATION_DISK
        assert "exceeds quota (1 MB)" in update.status.message
        assert master.terminal("small") is None
        master.kill_task("small")
        await master.wait_for(lambda: master.terminal("small"))


async def test_isolation_recovery_reattaches_to_cgroups_and_destroys_orphans(tmp_path):
    hierarchies = needs_cgroups(tmp_path)
    checkpointing = msgspec.structs.replace(FRAMEWORK, checkpoint=True)
    isolation = "cgroups/cpu,cgroups/mem"
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path, isolation=isolation)
        command = f"{ESCAPE} exec sleep 1000"
        master.run_task(task("t1", command, "mem:32"), framework=checkpointing)
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))
        [sandbox] = sandboxes(tmp_path, "t1")
        escaped = await wait_until(lambda: read_pid(sandbox / "escaped.pid"))
    # The agent is gone; its checkpointed container runs on. A cgroup nobody owns:
    orphan = hierarchies.cgroup("orphan")
    orphan.create()
    stray = subprocess.Popen(["sleep", "60"])
    try:
        join_cgroups(stray.pid, orphan.procs_files())
        async with Node(host="127.0.0.1", port=0) as node:
            master, _ = await start_agent(node, tmp_path, isolation=isolation)

            assert stray.wait(timeout=10) == -signal.SIGKILL
            await wait_until(lambda: not orphan.exists())
            assert alive(escaped)  # the recovered container is not an orphan
            master.kill_task("t1")
            await master.wait_for(lambda: master.terminal("t1"))
            await wait_until(lambda: not alive(escaped))
    finally:
        stray.kill()
        stray.wait()


async def test_isolation_pids_limit_caps_the_processes_of_a_container(tmp_path):
    hierarchies = needs_cgroups(tmp_path)
    if "pids" not in hierarchies.available:
        pytest.skip("no pids controller here")
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(
            node, tmp_path, isolation="cgroups/mem,cgroups/pids", cgroups_max_pids=8
        )
        master.run_task(task("forker", FORKER, "mem:32"))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("forker"))
        [sandbox] = sandboxes(tmp_path, "forker")
        forked = await wait_until(lambda: read_pid(sandbox / "forked"))

        # pids.max counts threads too: the executor's few, the task's, its children.
        assert forked < 20
        cgroup = hierarchies.cgroup(await container_of(node, agent, "forker"))
        assert len(cgroup.pids()) == 2 + forked  # the executor, the task and its children
        [statistics] = await node.dispatch(agent.pid, Agent.statistics)
        assert statistics["statistics"]["processes"] == 2 + forked

        master.kill_task("forker")
        await master.wait_for(lambda: master.terminal("forker"))


async def test_isolation_posix_measures_the_session_and_limits_nothing(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await start_agent(node, tmp_path, isolation="posix/cpu,posix/mem")
        master.run_task(task("t1", "sleep 30 & exec sleep 30", "cpus:0.5;mem:64"))
        await master.wait_for(lambda: TaskState.RUNNING in master.states("t1"))

        async def measured() -> dict:
            [entry] = await node.dispatch(agent.pid, Agent.statistics)
            return entry["statistics"]

        # The executor, the task and its child, one session (once the task has forked).
        for _ in range(500):
            statistics = await measured()
            if statistics["processes"] == 3:
                break
            await asyncio.sleep(0.01)
        assert statistics["processes"] == 3
        assert statistics["mem_rss_bytes"] > 0 and statistics["cpus_user_time_secs"] >= 0
        assert statistics["cpus_limit"] == pytest.approx(0.6)  # the share, not enforced
        assert statistics["mem_limit_bytes"] == 96 << 20
        assert "cpus_nr_periods" not in statistics  # no cgroup: no CFS accounting
        hierarchies = Hierarchies.detect("zmesos", str(tmp_path))
        if hierarchies is not None:
            assert await container_of(node, agent, "t1") not in hierarchies.container_ids()

        master.kill_task("t1")
        await master.wait_for(lambda: master.terminal("t1"))
