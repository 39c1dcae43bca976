"""Keeps one fork server for the containerizer: started lazily, replaced lazily.

The first launch that wants it starts it (launches meanwhile wait for that one
start). When it cannot start or is lost, `get` answers None -- exec instead --
for `retry_seconds` on the runtime clock, so a server that dies at once is not
restarted at every launch; the first launch after that starts a new one. Each
loss is logged once, when it happens.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from agent.launcher.client import ForkServer, ForkServerError
from libprocess import clock

__all__ = ["RETRY_SECONDS", "ForkServerKeeper"]

RETRY_SECONDS = 5.0

log = structlog.get_logger()


class ForkServerKeeper:
    """At most one running ForkServer for `module`; `close()` ends it for good."""

    def __init__(self, module: str, retry_seconds: float = RETRY_SECONDS) -> None:
        self.module = module
        self.retry_seconds = retry_seconds
        self.server: ForkServer | None = None  # the current one (maybe still starting)
        self.closed = False
        self._starting: asyncio.Future[None] | None = None
        self._retry_at = 0.0

    async def get(self) -> ForkServer | None:
        """The running server, started if need be; None when launches should exec."""
        if self.closed:
            return None
        server = self.server
        if server is None:
            if clock.now() < self._retry_at:
                return None
            server = self.server = self._start()
        if not server.ready and self._starting is not None:
            with contextlib.suppress(ForkServerError):
                await asyncio.shield(self._starting)
        return server if server.ready else None

    def _start(self) -> ForkServer:
        """A new server, starting in the background (`_starting` is its start)."""
        server: ForkServer = ForkServer(
            self.module, on_lost=lambda reason: self.drop(server, reason)
        )
        self._starting = asyncio.ensure_future(server.start())
        self._starting.add_done_callback(lambda done: self._started(server, done))
        return server

    def drop(self, server: ForkServer, reason: str) -> None:
        """Stop using `server` (lost, or failed a launch); exec for `retry_seconds`."""
        if self.server is not server:
            return  # dropped already: log each server's loss once
        self.server = None
        self._retry_at = clock.now() + self.retry_seconds
        server.close()
        log.warning(
            "fork_server_unavailable",
            module=self.module,
            reason=reason,
            fallback="exec",
            retry_in=self.retry_seconds,
        )

    def close(self) -> None:
        """End the server (its running children carry on); start none from now on."""
        self.closed = True
        if self.server is not None:
            self.server.close(abandon_children=True)  # the agent stops: nobody waits for them
            self.server = None

    def _started(self, server: ForkServer, done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is None:
            log.info("fork_server_started", module=self.module, os_pid=server.pid)
            return
        error = "its start was cancelled" if done.cancelled() else str(done.exception())
        self.drop(server, error)
