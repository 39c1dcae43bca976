"""The containerizer with and without its fork server: which path a launch takes, kills,
sessions, and falling back to exec when the fork server is lost or cannot start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.containerizer import Container, Containerizer
from agent.errors import ExitStatusUnknown
from agent.launcher import ForkServerError
from agent.launcher.keeper import RETRY_SECONDS
from libprocess import clock
from tests.agent.processes import alive, parent_of, probe_facts, stdout_has, wait_until

PROBE = "tests.agent.fork_probe"
PROBE_ARGV = [sys.executable, "-m", PROBE]
ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = {"PYTHONPATH": str(ROOT)}


async def launch(
    containerizer: Containerizer, tmp_path: Path, name: str, act: str = "exit:0", argv=None
) -> Container:
    sandbox = tmp_path / name
    sandbox.mkdir()
    environment = {**ENVIRONMENT, "PROBE_ACT": act}
    return await containerizer.launch(name, sandbox, argv or PROBE_ARGV, environment)


def probe_parent(container: Container) -> int:
    """The parent the probe saw: the fork server's pid, or ours when exec'd."""
    facts = probe_facts(container.sandbox)
    assert facts is not None
    return facts["ppid"]


def server_pid(containerizer: Containerizer) -> int | None:
    keeper = containerizer.fork_servers
    return keeper.server.pid if keeper is not None and keeper.server is not None else None


async def test_containerizer_forks_the_served_module_and_execs_anything_else(tmp_path):
    containerizer = Containerizer(fork_module=PROBE)
    try:
        forked = await launch(containerizer, tmp_path, "forked")
        execd = await launch(containerizer, tmp_path, "other", argv=[*PROBE_ARGV, "extra"])

        assert await containerizer.wait(forked) == 0
        assert await containerizer.wait(execd) == 0
        assert probe_parent(forked) == server_pid(containerizer)
        assert probe_parent(execd) == os.getpid()
        forked_facts, execd_facts = probe_facts(forked.sandbox), probe_facts(execd.sandbox)
        assert forked_facts is not None and execd_facts is not None
        # The same world either way (but for argv and the launcher's own variables).
        assert forked_facts["environment"] == {**ENVIRONMENT, "PROBE_ACT": "exit:0"}
        assert execd_facts["environment"].items() >= forked_facts["environment"].items()
        assert forked_facts["sid"] == forked.pid and execd_facts["sid"] == execd.pid
        assert forked_facts["cwd"] == str(forked.sandbox)
    finally:
        containerizer.close()


async def test_containerizer_without_a_fork_server_execs(tmp_path):
    containerizer = Containerizer(fork_server=False, fork_module=PROBE)
    container = await launch(containerizer, tmp_path, "c1", act="exit:3")
    assert await containerizer.wait(container) == 3
    assert probe_parent(container) == os.getpid()


async def test_containerizer_sigterm_then_destroy_kills_the_whole_session_only(tmp_path):
    containerizer = Containerizer(fork_module=PROBE)
    try:
        container = await launch(containerizer, tmp_path, "c1", act="ignore-term")
        await wait_until(lambda: stdout_has(container.sandbox, "ready"))
        task = int((container.sandbox / "stdout").read_text().split("ready ")[1].split()[0])
        zygote = server_pid(containerizer)
        assert zygote is not None
        assert os.getsid(container.pid) == container.pid
        assert os.getsid(task) == container.pid and os.getpgid(task) == task
        assert container.pid not in (os.getsid(0), os.getsid(zygote))

        containerizer.signal(container, signal.SIGTERM)
        await wait_until(lambda: stdout_has(container.sandbox, "term"))
        assert alive(container.pid)
        containerizer.destroy(container)

        assert await asyncio.wait_for(containerizer.wait(container), 20) == -signal.SIGKILL
        await wait_until(lambda: not alive(task))
        assert alive(zygote)  # neither the fork server nor we were touched
        containerizer.cleanup(container)
        containerizer.destroy(container)  # reaped: a no-op
    finally:
        containerizer.close()


async def test_containerizer_falls_back_to_exec_once_the_fork_server_is_killed(tmp_path):
    clock.pause()
    containerizer = Containerizer(fork_module=PROBE)
    try:
        with capture_logs() as logs:
            running = await launch(containerizer, tmp_path, "running", act="sleep")
            await wait_until(lambda: stdout_has(running.sandbox, "ready"))
            zygote = server_pid(containerizer)
            assert zygote is not None and parent_of(running.pid) == zygote
            os.kill(zygote, signal.SIGKILL)
            await wait_until(lambda: server_pid(containerizer) is None)

            execd = [await launch(containerizer, tmp_path, f"exec{index}") for index in range(2)]
            assert [await containerizer.wait(container) for container in execd] == [0, 0]
            assert [probe_parent(container) for container in execd] == [os.getpid()] * 2

            clock.advance(RETRY_SECONDS)
            restarted = await launch(containerizer, tmp_path, "restarted", act="exit:4")
            assert await containerizer.wait(restarted) == 4
            assert probe_parent(restarted) not in (zygote, os.getpid())

        unavailable = [log for log in logs if log["event"] == "fork_server_unavailable"]
        assert len(unavailable) == 1 and unavailable[0]["reason"] == "it exited"
        # The executor forked before the loss runs on; its exit is seen, its status is not.
        assert alive(running.pid)
        containerizer.destroy(running)
        with pytest.raises(ForkServerError, match="exit status unknown"):
            await asyncio.wait_for(containerizer.wait(running), 20)
    finally:
        containerizer.close()


async def test_containerizer_execs_when_the_fork_server_cannot_start(tmp_path):
    containerizer = Containerizer(fork_module="tests.agent.no_such_module")
    with capture_logs() as logs:
        first = await launch(
            containerizer, tmp_path, "c1", argv=[sys.executable, "-m", "tests.agent.no_such_module"]
        )
        second = await launch(
            containerizer, tmp_path, "c2", argv=[sys.executable, "-m", "tests.agent.no_such_module"]
        )
    # Exec'd: python itself reports the missing module, as it would without a fork server.
    assert await containerizer.wait(first) == 1
    assert await containerizer.wait(second) == 1
    assert "No module named" in (first.sandbox / "stderr").read_text()
    assert [log["event"] for log in logs].count("fork_server_unavailable") == 1
    containerizer.close()


async def test_containerizer_close_ends_the_fork_server_and_forks_no_more(tmp_path):
    containerizer = Containerizer(fork_module=PROBE)
    container = await launch(containerizer, tmp_path, "c1", act="sleep")
    zygote = server_pid(containerizer)
    assert zygote is not None

    containerizer.destroy(container)  # as the agent does for frameworks that do not checkpoint
    containerizer.close()

    await wait_until(lambda: not alive(zygote) and not alive(container.pid))
    later = await launch(containerizer, tmp_path, "c2")
    assert await containerizer.wait(later) == 0
    assert probe_parent(later) == os.getpid()


async def test_containerizer_recovers_a_live_session_leader_and_learns_of_its_end(tmp_path):
    containerizer = Containerizer(fork_server=False)
    sleeper = await asyncio.create_subprocess_exec("sleep", "30", start_new_session=True)
    try:
        assert containerizer.recover("c1", tmp_path, os.getpid()) is None  # leads no session
        recovered = containerizer.recover("c1", tmp_path, sleeper.pid)
        assert recovered is not None and recovered.pid == sleeper.pid
        containerizer.destroy(recovered)
        await sleeper.wait()  # reaped here, as init would reap it after a restart
        with pytest.raises(ExitStatusUnknown):
            await asyncio.wait_for(containerizer.wait(recovered), 10)
        assert containerizer.recover("c1", tmp_path, sleeper.pid) is None  # gone
    finally:
        with contextlib.suppress(ProcessLookupError):
            sleeper.kill()
