"""agent.cgroups without a kernel: mount parsing, and the cgroup v2 code path against a
directory laid out as cgroupfs would be (this host mounts cgroup v1; the v1 path runs
for real in tests/agent/test_isolation.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.cgroups import (
    UNLIMITED,
    CgroupV1,
    CgroupV2,
    Hierarchies,
    agent_slot,
    join_cgroups,
    parse_mounts,
)

HYBRID_MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_cgroups_parse_mounts_finds_v1_subsystems_and_the_v2_mount():
    v1, v2 = parse_mounts(HYBRID_MOUNTS)
    assert v1 == {
        "cpu": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "memory": Path("/sys/fs/cgroup/memory"),
        "freezer": Path("/sys/fs/cgroup/freezer"),
    }
    assert v2 == Path("/sys/fs/cgroup/unified")


def test_cgroups_v1_co_mounted_subsystems_share_one_directory(tmp_path):
    cgroup = CgroupV1("c1", {"cpu": tmp_path / "a", "cpuacct": tmp_path / "a"})
    assert cgroup.procs_files() == [str(tmp_path / "a" / "cgroup.procs")]


def test_cgroups_agent_slot_is_stable_per_work_dir_and_differs_between_them(tmp_path):
    assert agent_slot(str(tmp_path)) == agent_slot(str(tmp_path / "." / ""))
    assert agent_slot(str(tmp_path / "one")) != agent_slot(str(tmp_path / "two"))


def fake_v2(tmp_path: Path) -> tuple[Hierarchies, Path]:
    """A unified hierarchy as the kernel lays it out, at tmp_path/unified."""
    mount = tmp_path / "unified"
    mount.mkdir()
    (mount / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (mount / "cgroup.subtree_control").write_text("")
    hierarchies = Hierarchies.detect(
        "zmesos", str(tmp_path / "work"), f"cgroup2 {mount} cgroup2 rw,relatime 0 0\n"
    )
    assert hierarchies is not None
    return hierarchies, mount


KERNEL_FILES = (
    "cgroup.procs",
    "cgroup.freeze",
    "cgroup.events",
    "cgroup.subtree_control",
    "cpu.weight",
    "cpu.max",
    "cpu.stat",
    "memory.max",
    "memory.stat",
    "memory.events",
    "pids.max",
)


def kernel_files(path: Path, **contents: str) -> None:
    """What the kernel puts in a new v2 cgroup (empty unless given)."""
    for name in KERNEL_FILES:
        (path / name).write_text(contents.get(name.replace(".", "_"), ""))


def test_cgroups_v2_detected_where_no_v1_controller_is_mounted(tmp_path):
    hierarchies, mount = fake_v2(tmp_path)
    assert hierarchies.version == 2
    assert hierarchies.controllers == {"cpu", "memory", "pids", "freezer"}
    assert (mount / "zmesos").is_dir()
    assert hierarchies.describe() == "v2 (cpu, freezer, memory, pids)"


def test_cgroups_v2_create_delegates_controllers_and_sets_limits(tmp_path):
    hierarchies, mount = fake_v2(tmp_path)
    slot = mount / hierarchies.base
    slot.mkdir(parents=True)
    (mount / "zmesos" / "cgroup.subtree_control").write_text("")
    (slot / "cgroup.subtree_control").write_text("")
    cgroup = hierarchies.cgroup("c1")
    assert isinstance(cgroup, CgroupV2)

    cgroup.create()
    kernel_files(slot / "c1")
    cgroup.limit_cpu(0.5, cfs=True)
    cgroup.limit_memory(96 << 20)
    cgroup.limit_pids(100)

    for level in (mount, mount / "zmesos", slot):
        assert (level / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (slot / "c1" / "cpu.max").read_text() == "50000 100000"
    assert (slot / "c1" / "cpu.weight").read_text() == "20"  # 512 shares, as systemd maps them
    assert (slot / "c1" / "memory.max").read_text() == str(96 << 20)
    assert (slot / "c1" / "pids.max").read_text() == "100"
    assert cgroup.procs_files() == [str(slot / "c1" / "cgroup.procs")]
    assert hierarchies.container_ids() == ["c1"]


def test_cgroups_v2_usage_and_oom_kills_read_the_accounting(tmp_path):
    path = tmp_path / "c1"
    path.mkdir()
    kernel_files(
        path,
        cgroup_procs="12\n34\n",
        cpu_stat="usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n"
        "nr_periods 10\nnr_throttled 3\n",
        memory_stat="anon 1048576\nfile 4096\n",
        memory_max="max\n",
        memory_events="low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n",
    )
    cgroup = CgroupV2("c1", path)

    usage = cgroup.usage()
    assert (usage.cpus_user_time_secs, usage.cpus_system_time_secs) == (1.0, 0.5)
    assert (usage.cpus_nr_periods, usage.cpus_nr_throttled) == (10, 3)
    assert (usage.mem_rss_bytes, usage.mem_limit_bytes) == (1 << 20, UNLIMITED)
    assert usage.processes == 2
    assert cgroup.cpu_usage_seconds() == 1.5
    assert cgroup.oom_kills() == 2


def test_cgroups_v2_kill_without_cgroup_kill_freezes_and_kills_every_member(tmp_path):
    path = tmp_path / "c1"
    path.mkdir()
    members = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    try:
        kernel_files(
            path,
            cgroup_procs="".join(f"{p.pid}\n" for p in members),
            cgroup_events="populated 1\nfrozen 1\n",
        )
        cgroup = CgroupV2("c1", path)  # no cgroup.kill: a kernel before 5.14

        assert cgroup.kill() == 2

        for member in members:
            assert member.wait(timeout=10) == -9
        assert (path / "cgroup.freeze").read_text() == "0"  # thawed after the kill
    finally:
        for member in members:
            member.kill()
            member.wait()


def test_cgroups_v2_remove_reports_a_busy_cgroup(tmp_path):
    path = tmp_path / "c1"
    path.mkdir()
    (path / "left").write_text("")  # a directory that cannot go (as a populated cgroup)
    assert not CgroupV2("c1", path).remove()
    (path / "left").unlink()
    assert CgroupV2("c1", path).remove()
    assert not path.exists()


def test_cgroups_join_writes_the_pid_and_names_a_file_it_cannot_write(tmp_path):
    procs = tmp_path / "cgroup.procs"
    procs.write_text("")
    join_cgroups(1234, [str(procs)])
    assert procs.read_text() == "1234"
    with pytest.raises(OSError, match="cannot join the cgroup") as caught:
        join_cgroups(1234, [str(tmp_path / "missing" / "cgroup.procs")])
    assert caught.value.filename == str(tmp_path / "missing" / "cgroup.procs")
