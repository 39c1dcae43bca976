"""Sandbox garbage collection: deadlines on the paused clock, disk pressure, safe removal
(links unlinked, mounts and volumes kept), and what a restarted agent collects."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import structlog

from agent import Agent, AgentFlags, paths
from agent.errors import FlagsError
from agent.gc import GarbageCollector, collectable, max_allowed_age, mount_points, remove_tree
from libprocess import Node, Process, clock
from libprocess.testing import settle
from tests.agent.fakes import FakeMaster, command_task, sandboxes
from tests.agent.test_agent_tasks import flags_for
from tests.agent.test_agent_volumes import RW, _checkpoint, _volume_task
from zmesos.protocol import TaskInfo

DAY = 86400.0


class Host(Process):
    def __init__(self) -> None:
        super().__init__("host")


async def settled(collector: GarbageCollector) -> None:
    """Until the deletions running in worker threads have come back."""
    for _ in range(500):
        await settle()
        if not collector.removing:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("deletions did not finish")


def collector_on(node: Node, root: Path) -> GarbageCollector:
    host = Host()
    node.spawn(host)
    return GarbageCollector([root], delay=host.delay, defer=host.defer, log=structlog.get_logger())


def sandbox(root: Path, name: str) -> Path:
    path = root / name
    (path / "sub").mkdir(parents=True)
    (path / "stdout").write_text("out")
    (path / "sub" / "file").write_text("x")
    return path


async def test_gc_removes_each_path_at_its_deadline(tmp_path):
    clock.pause()
    async with Node() as node:
        gc = collector_on(node, tmp_path)
        first, second = sandbox(tmp_path, "first"), sandbox(tmp_path, "second")
        gc.schedule(7 * DAY, first)
        gc.schedule(8 * DAY, second)
        clock.advance(7 * DAY - 1)
        await settled(gc)
        assert first.exists()
        clock.advance(1)
        await settled(gc)
        assert not first.exists() and second.exists()
        clock.advance(DAY)
        await settled(gc)
        assert not second.exists()
        assert gc.removed == [first.absolute(), second.absolute()]
        assert not [p for p in tmp_path.iterdir()]  # no tombstone left


async def test_gc_unschedule_and_reschedule(tmp_path):
    clock.pause()
    async with Node() as node:
        gc = collector_on(node, tmp_path)
        kept, moved = sandbox(tmp_path, "kept"), sandbox(tmp_path, "moved")
        gc.schedule(DAY, kept)
        gc.schedule(DAY, moved)
        assert gc.unschedule(kept) and not gc.unschedule(kept)
        gc.schedule(3 * DAY, moved)  # a later schedule replaces the earlier one
        clock.advance(2 * DAY)
        await settled(gc)
        assert kept.exists() and moved.exists()
        clock.advance(DAY)
        await settled(gc)
        assert kept.exists() and not moved.exists()


async def test_gc_prune_removes_what_is_due_soon(tmp_path):
    clock.pause()
    async with Node() as node:
        gc = collector_on(node, tmp_path)
        soon, late = sandbox(tmp_path, "soon"), sandbox(tmp_path, "late")
        gc.schedule(DAY, soon)
        gc.schedule(6 * DAY, late)
        assert gc.prune(2 * DAY) == 1
        await settled(gc)
        assert not soon.exists() and late.exists()


async def test_gc_refuses_paths_outside_its_roots(tmp_path):
    clock.pause()
    async with Node() as node:
        gc = collector_on(node, tmp_path / "agents")
        outside = sandbox(tmp_path, "volumes")
        gc.schedule(0, outside)
        clock.advance(1)
        await settled(gc)
        assert outside.exists() and not gc.scheduled


def test_gc_max_allowed_age_shrinks_as_the_disk_fills():
    week = 7 * DAY
    assert max_allowed_age(week, 0.1, 0.0) == pytest.approx(0.9 * week)
    assert max_allowed_age(week, 0.1, 0.5) == pytest.approx(0.4 * week)
    assert max_allowed_age(week, 0.1, 0.9) == 0.0
    assert max_allowed_age(week, 0.1, 1.0) == 0.0  # never negative


# -- removing safely ---------------------------------------------------------------------


def test_gc_remove_tree_unlinks_symlinks_and_keeps_their_targets(tmp_path):
    volume = tmp_path / "volumes" / "roles" / "db" / "data"
    volume.mkdir(parents=True)
    (volume / "precious").write_text("keep me")
    outside_file = tmp_path / "outside.txt"
    outside_file.write_text("keep me too")
    top = sandbox(tmp_path, "run")
    (top / "data").symlink_to(volume)  # how a volume appears without bind mounts
    (top / "sub" / "file-link").symlink_to(outside_file)
    (top / "dangling").symlink_to(tmp_path / "nowhere")
    assert remove_tree(top) == []
    assert not top.exists()
    assert (volume / "precious").read_text() == "keep me"
    assert outside_file.read_text() == "keep me too"


def test_gc_remove_tree_stops_at_mount_points(tmp_path):
    top = sandbox(tmp_path, "run")
    mounted = top / "sub" / "volume"
    mounted.mkdir()
    (mounted / "precious").write_text("keep me")
    kept = remove_tree(top, frozenset({str(mounted)}))  # as /proc/self/mountinfo would list it
    assert kept == [str(mounted)]
    assert (mounted / "precious").read_text() == "keep me"
    assert not (top / "stdout").exists()  # everything else went


def test_gc_remove_tree_refuses_a_link_as_top(tmp_path):
    real = sandbox(tmp_path, "real")
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(NotADirectoryError):
        remove_tree(tmp_path / "link")
    assert real.exists()


def test_gc_remove_tree_keeps_a_bind_mounted_volume(tmp_path):
    """A real bind mount (in a mount namespace of its own, so nothing leaks out)."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("bind mounts need root and unshare(1)")
        pytest.skip("bind mounts need root and unshare(1)")
    volume = tmp_path / "volumes" / "data"
    volume.mkdir(parents=True)
    (volume / "precious").write_text("keep me")
    top = sandbox(tmp_path, "run")
    (top / "data").mkdir()
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from agent.gc import mount_points, remove_tree
        print(remove_tree(Path({str(top)!r}), mount_points()))
        """
    )
    result = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount --bind "$0" "$1" && exec "$2" -c "$3"',
            str(volume),
            str(top / "data"),
            sys.executable,
            script,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[2],
    )
    if result.returncode != 0 and "mount" in result.stderr and os.environ.get("CI") != "true":
        pytest.skip(f"cannot bind-mount here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert str(top / "data") in result.stdout  # kept, named
    assert (volume / "precious").read_text() == "keep me"
    assert not (top / "stdout").exists()


def test_gc_mount_points_reads_this_process_mounts():
    if not Path("/proc/self/mountinfo").exists():
        pytest.skip("no /proc/self/mountinfo")
    assert "/" in mount_points()


# -- recovery ----------------------------------------------------------------------------


def test_gc_collectable_lists_what_no_live_executor_uses(tmp_path):
    def run(agent: str, framework: str, executor: str, container: str) -> Path:
        path = paths.sandbox_dir(tmp_path, agent, framework, executor, container)
        path.mkdir(parents=True)
        return path

    live_run = run("A2", "F1", "E1", "C2")
    old_run = run("A2", "F1", "E1", "C1")
    finished_executor = run("A2", "F1", "E2", "C3").parent.parent
    finished_framework = run("A2", "F2", "E3", "C4").parent.parent.parent.parent
    old_agent = run("A1", "F0", "E0", "C0").parent.parent.parent.parent.parent.parent
    paths.agent_meta_dir(tmp_path, "A1").mkdir(parents=True)
    paths.agent_meta_dir(tmp_path, "A2").mkdir(parents=True)

    found = collectable(tmp_path, "A2", {"F1": {"E1": "C2"}})

    assert sorted(found) == sorted(
        [
            old_run,
            finished_executor,
            finished_framework,
            old_agent,
            paths.agent_meta_dir(tmp_path, "A1"),
        ]
    )
    assert live_run not in found


# -- the agent ---------------------------------------------------------------------------


async def agent_settled(agent: Agent) -> None:
    await settled(agent.gc)


async def finished_task(node: Node, work_dir: Path, task: TaskInfo, **flags: object):
    master = FakeMaster()
    node.spawn(master)
    agent = Agent(flags_for(node, work_dir, **flags))
    node.spawn(agent)
    await master.wait_for(lambda: master.agent is not None)
    master.run_task(task)
    await master.wait_for(lambda: master.terminal(task.task_id))
    [sandbox] = sandboxes(work_dir, task.task_id)
    await master.wait_for(lambda: sandbox in {p for p, _ in _scheduled(agent)})
    return master, agent, sandbox


def _scheduled(agent: Agent) -> list[tuple[Path, float]]:
    return list(agent.gc.scheduled.items())


async def test_agent_collects_a_finished_sandbox_after_gc_delay_and_keeps_its_volume(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        agent = Agent(flags_for(node, tmp_path, gc_delay=3600.0, gc_disk_headroom=0.0))
        agent.disk_usage = lambda: 0.0  # the disk watch removes only what is due
        node.spawn(agent)
        await master.wait_for(lambda: master.agent is not None)
        _checkpoint(master, RW)
        volume = paths.volume_dir(tmp_path, "db", "v1")
        await master.wait_for(lambda: volume.is_dir())
        master.run_task(_volume_task("t1", "echo kept > data/file", RW))
        await master.wait_for(lambda: master.terminal("t1"))
        [sandbox] = sandboxes(tmp_path, "t1")
        executor_dir = sandbox.parent.parent
        await master.wait_for(lambda: executor_dir in agent.gc.scheduled)
        if not (sandbox / "data").is_symlink():  # bind-mounted, in the task's namespace
            (sandbox / "link-to-volume").symlink_to(volume)  # as a symlinked volume appears

        clock.pause()
        remaining = agent.gc.scheduled[sandbox] - clock.now()
        assert 3590 < remaining <= 3600
        clock.advance(remaining - 1)
        await agent_settled(agent)
        assert sandbox.exists()
        clock.advance(2)
        await agent_settled(agent)
        assert not sandbox.exists() and not executor_dir.exists()
        assert (volume / "file").read_text() == "kept\n"


async def test_agent_collects_sooner_as_the_disk_fills(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        _, agent, sandbox = await finished_task(
            node, tmp_path, command_task("t1", "true"), gc_delay=7 * DAY, disk_watch_interval=60.0
        )
        clock.pause()
        agent.disk_usage = lambda: 0.5  # sandboxes may live 0.4 weeks: this one is young
        clock.advance(60)
        await agent_settled(agent)
        assert sandbox.exists()
        agent.disk_usage = lambda: 0.95  # past the headroom: nothing may stay
        clock.advance(60)
        await agent_settled(agent)
        assert not sandbox.exists()
        assert agent.metrics["gc_disk_checks"] == 2


async def test_agent_recovers_scheduled_removals_after_a_restart(tmp_path):
    gc_delay = 3600.0
    async with Node(host="127.0.0.1", port=0) as node:
        _, _, sandbox = await finished_task(
            node, tmp_path, command_task("t1", "true"), gc_delay=gc_delay
        )
    # Half the delay has passed when the agent comes back: the directories' times say so.
    stamp = os.stat(sandbox).st_mtime - gc_delay / 2
    for path in [sandbox, *sandbox.parents]:
        if path == tmp_path:
            break
        os.utime(path, (stamp, stamp))
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        agent = Agent(flags_for(node, tmp_path, gc_delay=gc_delay, gc_disk_headroom=0.0))
        agent.disk_usage = lambda: 0.0
        node.spawn(agent)
        await settle()
        assert any(path in agent.gc.scheduled for path in sandbox.parents)
        clock.advance(gc_delay / 2 - 30)
        await agent_settled(agent)
        assert sandbox.exists()
        clock.advance(60)
        await agent_settled(agent)
        assert not sandbox.exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("gc_delay", -1.0),
        ("gc_disk_headroom", -0.1),
        ("gc_disk_headroom", 1.5),
        ("disk_watch_interval", 0.0),
        ("disk_watch_interval", -5.0),
        ("fetcher_cache_size", -1),
    ],
)
def test_agent_gc_and_fetcher_flags_refuse_bad_values(tmp_path, flag, value):
    with pytest.raises(FlagsError, match=flag.replace("_", "-")):
        AgentFlags(master="127.0.0.1:5050", work_dir=str(tmp_path), **{flag: value})
