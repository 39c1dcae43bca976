"""Test-suite wiring: run `async def` tests on a fresh uvloop loop, and leave the clock real."""

from __future__ import annotations

import asyncio
import inspect

import pytest
import uvloop


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine tests to completion on their own uvloop event loop."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(pyfuncitem.obj(**arguments))
    return True


@pytest.fixture(autouse=True)
def _real_clock_after_each_test():
    """A test that paused the clock must not leave it paused for the next one."""
    from libprocess import clock

    yield
    clock.reset()


def _no_zookeeper(reason: str) -> None:
    """Tests that need ZooKeeper skip without it, except under CI, where they fail."""
    import os

    if os.environ.get("CI") == "true":
        pytest.fail(f"ZooKeeper is needed and cannot start: {reason}")
    pytest.skip(f"ZooKeeper cannot start: {reason}")


def start_zookeeper(data_dir):
    """A real ZooKeeper server on a free loopback port with its own data directory."""
    from zmesos.zookeeper import ZooKeeperServer, ZooKeeperUnavailable

    server = ZooKeeperServer(data_dir)
    try:
        return server.start()
    except ZooKeeperUnavailable as error:
        _no_zookeeper(str(error))
        raise


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory):
    """One ZooKeeper server for the session; each test takes its own path (`zk_url`)."""
    server = start_zookeeper(tmp_path_factory.mktemp("zookeeper"))
    yield server
    server.stop()


@pytest.fixture
def zk_url(zookeeper, request):
    """`zk://host:port/<test name>`: a fresh path on the session's server."""
    return zookeeper.url(f"/{request.node.name.replace('[', '-').replace(']', '')}")
