"""The executor usage /monitor/statistics reports, read from a /proc laid out by the test
(posix isolation; the cgroup accounting is read for real in tests/agent/test_isolation.py)."""

from __future__ import annotations

from pathlib import Path

from agent.containerizer import Container, Containerizer
from agent.isolation import Isolation, Limits
from agent.monitor import ExecutorTarget, UsageRequest
from agent.usage import PAGE_BYTES, TICKS_PER_SECOND, usage_by_session


def _process(
    proc: Path, pid: int, name: str, session: int, ticks: tuple[int, int, int, int], rss: int
) -> None:
    utime, stime, cutime, cstime = ticks
    # Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss
    after = (
        f"S 1 {session} {session} 0 -1 0 0 0 0 0 {utime} {stime} {cutime} {cstime} "
        f"20 0 1 0 5 1000 {rss}"
    )
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(f"{pid} ({name}) {after} 0 0\n")


class _Leader:
    """A container's leader as far as measuring goes: its pid (the session)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    async def wait(self) -> int:
        raise NotImplementedError

    def send_signal(self, sig: int) -> None:
        raise NotImplementedError


def _target(executor_id: str, session: int, limits: Limits) -> ExecutorTarget:
    container = Container(
        container_id=f"c-{executor_id}", sandbox=Path("/"), process=_Leader(session), limits=limits
    )
    return ExecutorTarget(
        executor_id=executor_id,
        executor_name=executor_id.upper(),
        framework_id="f1",
        source="src",
        container=container,
    )


def test_monitor_sums_a_session_and_reads_names_with_spaces_and_parentheses(tmp_path):
    _process(tmp_path, 100, "python", 100, (100, 50, 0, 0), 10)
    _process(tmp_path, 101, "sh -c (x) y", 100, (20, 10, 30, 5), 5)
    _process(tmp_path, 200, "other", 200, (7, 7, 7, 7), 7)
    (tmp_path / "self").mkdir()  # not a process directory
    (tmp_path / "300").mkdir()  # a process that exited before its stat was read
    sessions = usage_by_session(tmp_path)
    assert set(sessions) == {100, 200}
    assert sessions[100].cpus_user_time_secs == (100 + 20 + 30) / TICKS_PER_SECOND
    assert sessions[100].cpus_system_time_secs == (50 + 10 + 5) / TICKS_PER_SECOND
    assert sessions[100].mem_rss_bytes == 15 * PAGE_BYTES and sessions[100].processes == 2


def test_monitor_statistics_in_mesos_shape_and_zero_for_a_gone_session(tmp_path):
    _process(tmp_path, 100, "python", 100, (100, 0, 0, 0), 10)
    posix = Containerizer(fork_server=False, isolation=Isolation(("posix/cpu", "posix/mem")))
    request = UsageRequest(
        containerizer=posix,
        targets=[
            _target("e1", 100, Limits(cpus=0.5, mem_mb=64.0)),
            _target("e2", 999, Limits(cpus=1.0, mem_mb=64.0)),
        ],
    )
    first, gone = request.measure(tmp_path)
    assert first["executor_id"] == "e1" and first["framework_id"] == "f1"
    assert first["container_id"] == "c-e1" and first["source"] == "src"
    assert first["statistics"]["cpus_user_time_secs"] == round(100 / TICKS_PER_SECOND, 3)
    assert first["statistics"]["mem_rss_bytes"] == 10 * PAGE_BYTES
    assert first["statistics"]["mem_limit_bytes"] == 64 * 1024 * 1024
    assert first["statistics"]["cpus_limit"] == 0.5
    assert gone["statistics"]["processes"] == 0 and gone["statistics"]["mem_rss_bytes"] == 0
