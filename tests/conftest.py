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
