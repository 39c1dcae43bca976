"""The executor usage /monitor/statistics reports, read from a /proc laid out by the test."""

from __future__ import annotations

from pathlib import Path

from agent.monitor import PAGE_BYTES, TICKS_PER_SECOND, ExecutorTarget, statistics, usage_by_session


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


def test_monitor_sums_a_session_and_reads_names_with_spaces_and_parentheses(tmp_path):
    _process(tmp_path, 100, "python", 100, (100, 50, 0, 0), 10)
    _process(tmp_path, 101, "sh -c (x) y", 100, (20, 10, 30, 5), 5)
    _process(tmp_path, 200, "other", 200, (7, 7, 7, 7), 7)
    (tmp_path / "self").mkdir()  # not a process directory
    (tmp_path / "300").mkdir()  # a process that exited before its stat was read
    sessions = usage_by_session(tmp_path)
    assert set(sessions) == {100, 200}
    assert sessions[100]["cpus_user_time_secs"] == (100 + 20 + 30) / TICKS_PER_SECOND
    assert sessions[100]["cpus_system_time_secs"] == (50 + 10 + 5) / TICKS_PER_SECOND
    assert sessions[100]["mem_rss_bytes"] == 15 * PAGE_BYTES and sessions[100]["processes"] == 2


def test_monitor_statistics_in_mesos_shape_and_zero_for_a_gone_session(tmp_path):
    _process(tmp_path, 100, "python", 100, (100, 0, 0, 0), 10)
    targets = [
        ExecutorTarget("e1", "one", "f1", "src", "c1", 100, 0.5, 64 * 1024 * 1024),
        ExecutorTarget("e2", "two", "f1", "", "c2", 999, 1.0, 0),
    ]
    first, gone = statistics(targets, tmp_path)
    assert first["executor_id"] == "e1" and first["framework_id"] == "f1"
    assert first["statistics"]["cpus_user_time_secs"] == round(100 / TICKS_PER_SECOND, 3)
    assert first["statistics"]["mem_limit_bytes"] == 64 * 1024 * 1024
    assert first["statistics"]["cpus_limit"] == 0.5
    assert gone["statistics"]["processes"] == 0 and gone["statistics"]["mem_rss_bytes"] == 0
