"""The fork server on its own: what a forked child sees, exits, signals, losing the server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.containerizer import kill_session
from agent.launcher import ForkServer, ForkServerError
from tests.agent.processes import alive, probe_facts, stdout_has, wait_until

PROBE = "tests.agent.fork_probe"
ROOT = Path(__file__).resolve().parents[2]


def sandbox_in(tmp_path: Path, name: str = "sandbox") -> Path:
    sandbox = tmp_path / name
    sandbox.mkdir()
    return sandbox


async def started(**options: object) -> ForkServer:
    server = ForkServer(PROBE, **options)  # type: ignore[arg-type]
    await server.start()
    return server


async def test_zygote_child_is_set_up_as_an_execd_executor(tmp_path):
    server = await started()
    try:
        sandbox = sandbox_in(tmp_path)
        environment = {"ZMESOS_SANDBOX": str(sandbox), "PROBE_ACT": "exit:3", "ONLY": "these"}
        child = await server.launch(sandbox, environment)

        assert await asyncio.wait_for(child.wait(), 20) == 3
        assert child.returncode == 3
        facts = probe_facts(sandbox)
        assert facts is not None
        assert facts["pid"] == child.pid
        assert facts["ppid"] == server.pid  # the server reaps it
        assert facts["sid"] == child.pid  # a session of its own
        assert facts["cwd"] == str(sandbox)
        assert facts["environment"] == environment  # exactly, not the server's
        assert facts["argv"][0].endswith("fork_probe.py")
        assert facts["stdin"] == "/dev/null"
        assert facts["open_fds"] == []  # nothing of the server's is left open
        assert (sandbox / "stderr").read_text().endswith("probe stderr\n")
    finally:
        server.close()


async def test_zygote_children_get_fresh_random_seeds(tmp_path):
    server = await started()
    try:
        sandboxes = [sandbox_in(tmp_path, f"s{index}") for index in range(2)]
        children = [await server.launch(sandbox, {}) for sandbox in sandboxes]
        assert [await child.wait() for child in children] == [0, 0]
        first, second = (probe_facts(sandbox) for sandbox in sandboxes)
        assert first is not None and second is not None
        assert first["random"] != second["random"]
    finally:
        server.close()


async def test_zygote_missing_sandbox_fails_the_launch_with_an_oserror(tmp_path):
    server = await started()
    try:
        with pytest.raises(FileNotFoundError):
            await server.launch(tmp_path / "missing", {})
        assert server.ready
        sandbox = sandbox_in(tmp_path)
        assert await (await server.launch(sandbox, {})).wait() == 0
    finally:
        server.close()


async def test_zygote_reports_a_signal_as_minus_the_signal(tmp_path):
    server = await started()
    try:
        sandbox = sandbox_in(tmp_path)
        child = await server.launch(sandbox, {"PROBE_ACT": "sleep"})
        await wait_until(lambda: stdout_has(sandbox, "ready"))

        child.send_signal(signal.SIGKILL)

        assert await asyncio.wait_for(child.wait(), 20) == -signal.SIGKILL
        child.send_signal(signal.SIGKILL)  # reaped: a no-op, never another process
        kill_session(child.pid, signal.SIGKILL)  # its task, in a group of its own
    finally:
        server.close()


async def test_zygote_is_single_threaded(tmp_path):
    server = await started()
    try:
        assert server.pid is not None
        assert os.listdir(f"/proc/{server.pid}/task") == [str(server.pid)]
    finally:
        server.close()


async def test_zygote_exits_when_the_channel_closes(tmp_path):
    server = await started()
    assert server.pid is not None
    server.close()
    await wait_until(lambda: not alive(server.pid))
    with pytest.raises(ForkServerError):
        await server.launch(tmp_path, {})


async def test_zygote_that_cannot_import_its_module_fails_to_start():
    server = ForkServer("tests.agent.no_such_module")
    with pytest.raises(ForkServerError, match="exited"):
        await server.start()
    assert server.lost and not server.ready


async def test_zygote_killed_fails_later_launches_and_watches_its_children(tmp_path):
    lost: list[str] = []
    server = await started(on_lost=lost.append)
    sandbox = sandbox_in(tmp_path)
    child = await server.launch(sandbox, {"PROBE_ACT": "sleep"})
    await wait_until(lambda: stdout_has(sandbox, "ready"))
    assert server.pid is not None

    os.kill(server.pid, signal.SIGKILL)
    await wait_until(lambda: lost)

    assert lost == ["it exited"]
    with pytest.raises(ForkServerError):
        await server.launch(sandbox, {})
    assert alive(child.pid)  # the executor outlives the server
    kill_session(child.pid, signal.SIGKILL)
    with pytest.raises(ForkServerError, match="exit status unknown"):
        await asyncio.wait_for(child.wait(), 20)


def test_zygote_dies_with_its_parent(tmp_path):
    """A parent that starts a fork server, prints its pid and waits: SIGKILL it."""
    script = textwrap.dedent(
        f"""
        import asyncio, uvloop
        from agent.launcher import ForkServer
        async def main():
            server = ForkServer({PROBE!r})
            await server.start()
            print(server.pid, flush=True)
            await asyncio.sleep(60)
        uvloop.run(main())
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert parent.stdout is not None
        zygote = int(parent.stdout.readline())
        assert alive(zygote)
        parent.kill()
        parent.wait(20)
        asyncio.run(wait_until(lambda: not alive(zygote)))
    finally:
        parent.kill()
        parent.wait(20)


def test_zygote_child_without_the_go_ahead_never_runs(tmp_path):
    """If the server dies before the agent has the pid, the child exits untouched."""
    marker = tmp_path / "ran"
    script = textwrap.dedent(
        f"""
        import os, socket, sys
        from agent.launcher import child
        ours, theirs = (end.detach() for end in socket.socketpair())
        out = os.open({str(tmp_path / "out")!r}, os.O_WRONLY | os.O_CREAT)
        setup = child.ChildSetup(theirs, os.open(".", os.O_RDONLY), out, out, {{}}, ["x"])
        pid = os.fork()
        if pid == 0:
            os.close(ours)
            child.become(setup, lambda: open({str(marker)!r}, "w").close())
        assert os.read(ours, 1) == child.IN_SESSION
        assert os.getsid(pid) == pid
        os.close(ours)  # no GO: as if the server died
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
    )
    assert done.returncode == 127
    assert not marker.exists()
