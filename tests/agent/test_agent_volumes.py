"""Checkpointed resources and persistent volumes on a real agent with real task processes."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from agent import Agent, paths
from agent.volume_handlers import load_checkpointed_resources
from agent.volume_links import SYMLINK, can_bind_mount, prepare_volume_links
from libprocess import Node, clock
from tests.agent.fakes import FRAMEWORK, FakeMaster, command_task
from tests.agent.test_agent_tasks import flags_for
from zmesos.protocol import (
    PARTITION_AWARE,
    CheckpointResources,
    Reason,
    ReregisterAgent,
    TaskState,
)
from zmesos.resources import Resources

DB = "(db DYNAMIC principal=p)"
RW = f"disk{DB}[v1:data principal=p]:100"
RO = f"disk{DB}[v2:ro mode=RO principal=p]:100"
SHARED = f"disk{DB}[s1:shared principal=p]<SHARED>:100"
RESERVED_CPU = f"cpus{DB}:1"


def _checkpoint(master: FakeMaster, text: str) -> None:
    assert master.agent is not None
    master.send(master.agent, CheckpointResources(resources=tuple(Resources.parse(text).to_list())))


def _volume_task(task_id: str, command: str, volumes: str):
    task = command_task(task_id, command)
    resources = Resources.parse(f"cpus:0.1;{volumes}")
    return msgspec.structs.replace(task, resources=tuple(resources.to_list()))


async def _agent(node: Node, work_dir: Path) -> tuple[FakeMaster, Agent]:
    master = FakeMaster()
    node.spawn(master)
    agent = Agent(flags_for(node, work_dir))
    node.spawn(agent)
    await master.wait_for(lambda: master.agent is not None)
    return master, agent


async def test_agent_volumes_checkpoint_written_then_task_data_lands_in_the_volume(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await _agent(node, tmp_path)
        _checkpoint(master, f"{RESERVED_CPU};{RW}")
        volume = paths.volume_dir(tmp_path, "db", "v1")
        await master.wait_for(lambda: volume.is_dir())
        assert load_checkpointed_resources(tmp_path) == Resources.parse(f"{RESERVED_CPU};{RW}")
        master.run_task(_volume_task("t1", "echo kept > data/file", RW))
        await master.wait_for(lambda: master.terminal("t1"))
        assert master.terminal("t1").status.state == TaskState.FINISHED
        assert (volume / "file").read_text() == "kept\n"


@pytest.mark.skipif(not can_bind_mount(), reason="bind mounts need root on Linux")
async def test_agent_volumes_read_only_volume_refuses_writes_through_the_bind_mount(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await _agent(node, tmp_path)
        _checkpoint(master, RO)
        volume = paths.volume_dir(tmp_path, "db", "v2")
        await master.wait_for(lambda: volume.is_dir())
        (volume / "seed").write_text("seeded\n")
        master.run_task(_volume_task("reads", "cat ro/seed", RO))
        master.run_task(_volume_task("writes", "echo no > ro/other", RO))
        await master.wait_for(lambda: master.terminal("reads") and master.terminal("writes"))
        assert master.terminal("reads").status.state == TaskState.FINISHED
        assert master.terminal("writes").status.state == TaskState.FAILED
        assert not (volume / "other").exists()


async def test_agent_volumes_two_tasks_share_one_shared_volume_at_once(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await _agent(node, tmp_path)
        _checkpoint(master, SHARED)
        volume = paths.volume_dir(tmp_path, "db", "s1")
        await master.wait_for(lambda: volume.is_dir())
        # Each writes its file, then waits to see the other's: both hold the volume at once.
        for mine, theirs in (("a", "b"), ("b", "a")):
            command = (
                f"echo {mine} > shared/{mine}; for i in $(seq 100); do "
                f"[ -f shared/{theirs} ] && exit 0; sleep 0.05; done; exit 1"
            )
            master.run_task(_volume_task(mine, command, SHARED))
        await master.wait_for(lambda: master.terminal("a") and master.terminal("b"))
        assert master.states("a")[-1] == master.states("b")[-1] == TaskState.FINISHED
        assert sorted(p.name for p in volume.iterdir()) == ["a", "b"]


async def test_agent_volumes_task_writing_past_its_volumes_size_fails_when_quota_is_enforced(
    tmp_path,
):
    """disk/du measures a container's volumes too: 4 MB written into a 1 MB volume ends the
    task TASK_FAILED with REASON_CONTAINER_LIMITATION_DISK; the data stays in the volume."""
    clock.pause()
    small = f"disk{DB}[q1:data principal=p]:1"
    roomy = f"disk{DB}[q2:data principal=p]:16"
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        flags = flags_for(
            node, tmp_path, enforce_container_disk_quota=True, container_disk_watch_interval=5.0
        )
        node.spawn(Agent(flags))
        await master.wait_for(lambda: master.agent is not None)
        _checkpoint(master, f"{small};{roomy}")
        volumes = [paths.volume_dir(tmp_path, "db", name) for name in ("q1", "q2")]
        await master.wait_for(lambda: all(volume.is_dir() for volume in volumes))
        write = (
            "head -c 4194304 /dev/zero > data/blob && sync && : > data/written && exec sleep 100"
        )
        master.run_task(_volume_task("over", write, small))
        master.run_task(_volume_task("within", write, roomy))
        await master.wait_for(
            lambda: all((volume / "written").exists() for volume in volumes), timeout=30
        )

        clock.advance(5.0)
        await master.wait_for(lambda: master.terminal("over"))

        update = master.terminal("over")
        assert (update.status.state, update.status.reason) == (
            TaskState.FAILED,
            Reason.CONTAINER_LIMITATION_DISK,
        )
        assert "persistent volume q1 (4.0 MB) exceeds its size (1 MB)" in update.status.message
        assert master.terminal("within") is None
        assert (volumes[0] / "blob").stat().st_size == 4194304  # the data outlives the task
        master.kill_task("within")
        await master.wait_for(lambda: master.terminal("within"))


async def test_agent_volumes_destroy_deletes_data_and_a_recreated_id_is_empty(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await _agent(node, tmp_path)
        _checkpoint(master, RW)
        volume = paths.volume_dir(tmp_path, "db", "v1")
        await master.wait_for(lambda: volume.is_dir())
        (volume / "data").write_text("old")
        _checkpoint(master, f"disk{DB}:100")
        await master.wait_for(lambda: not volume.exists())
        _checkpoint(master, RW)
        await master.wait_for(lambda: volume.is_dir())
        assert list(volume.iterdir()) == []


async def test_agent_volumes_restarted_agent_advertises_its_reservations_and_volumes(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await _agent(node, tmp_path)
        _checkpoint(master, f"{RESERVED_CPU};{RW}")
        await master.wait_for(lambda: paths.resources_info_path(tmp_path).is_file())
        node.terminate(agent.pid)
    async with Node(host="127.0.0.1", port=0) as node:
        master = FakeMaster()
        node.spawn(master)
        node.spawn(Agent(flags_for(node, tmp_path)))
        await master.wait_for(lambda: master.agent is not None)
        [register] = master.of_type(ReregisterAgent)  # it kept its id (agent.recovery_handlers)
        advertised = Resources(register.agent.resources)
        assert advertised.reserved("db") == Resources.parse(f"{RESERVED_CPU};{RW}")
        assert advertised.cpus == 2 and advertised.disk == 1024


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("cpus:1", "unreserved resources are not checkpointed"),
        (f"cpus{DB}:100", "more than the agent has"),
    ],
)
async def test_agent_volumes_invalid_checkpoint_is_dropped_and_nothing_written(tmp_path, text, why):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await _agent(node, tmp_path)
        _checkpoint(master, text)
        await master.wait_for(lambda: agent.metrics["invalid_checkpointed_resources"] == 1)
        assert not paths.resources_info_path(tmp_path).exists(), why
        _checkpoint(master, RESERVED_CPU)  # the agent still works
        await master.wait_for(lambda: paths.resources_info_path(tmp_path).exists())


async def test_agent_volumes_checkpoint_not_from_the_master_is_dropped(tmp_path):
    async with Node(host="127.0.0.1", port=0) as node:
        master, agent = await _agent(node, tmp_path)
        intruder = FakeMaster(name="intruder")
        node.spawn(intruder)
        assert master.agent is not None
        intruder.send(
            master.agent, CheckpointResources(resources=tuple(Resources.parse(RW).to_list()))
        )
        await master.wait_for(lambda: agent.metrics["invalid_messages"] == 1)
        assert not paths.resources_info_path(tmp_path).exists()


@pytest.mark.parametrize("aware", [True, False])
async def test_agent_volumes_task_with_unknown_volume_is_dropped_or_lost(tmp_path, aware):
    """Never launched: TASK_DROPPED for a partition-aware framework, else TASK_LOST (Mesos)."""
    capabilities = (PARTITION_AWARE,) if aware else ()
    framework = msgspec.structs.replace(FRAMEWORK, capabilities=capabilities)
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await _agent(node, tmp_path)
        master.run_task(_volume_task("t1", "true", RW), framework)
        await master.wait_for(lambda: master.terminal("t1"))
        status = master.terminal("t1").status
        expected = TaskState.DROPPED if aware else TaskState.LOST
        assert (status.state, status.reason) == (expected, Reason.RESOURCES_UNKNOWN)


def test_agent_volumes_symlink_when_no_bind_mount_and_dotdot_refused(tmp_path):
    source = tmp_path / "volume"
    source.mkdir()
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    [volume] = Resources.parse(f"disk{DB}[v1:deep/data principal=p]:1").to_list()
    [link] = prepare_volume_links(sandbox, [(volume, source)], bind=False)
    assert link.how == SYMLINK and os.readlink(sandbox / "deep/data") == str(source)
    [escaping] = Resources.parse(f"disk{DB}[v1:../out principal=p]:1").to_list()
    with pytest.raises(ValueError, match=r"\.\."):
        prepare_volume_links(sandbox, [(escaping, source)], bind=False)
