"""Starting a master the way the CLI does: a node, the master actor, its HTTP server.

With `--zk` the runner also holds the master's ZooKeeper session (a
`Contender`, master.election) and supervises the Master actor: when it
abdicates (it lost leadership or ZooKeeper), the runner withdraws its old
candidacy and starts a fresh Master on the same node, which contends again.
The process never exits for losing ZooKeeper; it stops leading and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc

import structlog

from libprocess import PID, Node
from master.election import Contender
from master.flags import MasterFlags
from master.http import HttpServer, serve_http
from master.master import Master
from master.registry.zookeeper import ZooKeeperStore
from zmesos.node_security import SecurityFlags
from zmesos.zookeeper import LeaderInfo, parse_zk_url

__all__ = ["MasterHandle", "run_master", "tune_garbage_collector"]

RESPAWN_DELAY = 0.2  # seconds between an abdication and the next candidacy
# The cyclic collector's thresholds in a master process (Python's are 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 10)

_log = structlog.get_logger("master.runner")


@dataclasses.dataclass
class MasterHandle:
    """A running master: its node, PIDs and HTTP server. `stop()` ends them all.

    `master` is the current Master actor (a new one after each abdication with --zk).
    """

    node: Node
    master: Master
    pid: PID
    http: HttpServer
    flags: MasterFlags
    contender: Contender | None = None
    _supervisor: asyncio.Future[None] | None = None
    _stopping: bool = False

    @property
    def allocator(self) -> PID:
        return self.master.allocator

    @property
    def address(self) -> str:
        """`host:port` of its HTTP: the address users and zmesos's clients name it by."""
        return f"{self.http.host}:{self.http.port}"

    async def wait(self) -> None:
        """Until the master ends for good (with --zk: until stopped)."""
        if self._supervisor is not None:
            await asyncio.shield(self._supervisor)
        else:
            await self.node.wait(self.pid)

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self.contender is not None:
            await self.contender.stop()
        await self.http.close()
        await self.node.stop()

    async def _spawn(self) -> None:
        """Spawn a Master actor (and, with --zk, put it up for election)."""
        store = None
        if self.contender is not None:
            contender = self.contender
            store = ZooKeeperStore(contender.client, contender.url.path, lambda: contender.znode)
        self.master = Master(self.flags, store=store)
        spawned = self.node.spawn(self.master)
        assert spawned == self.pid, (spawned, self.pid)
        if self.contender is not None:
            info = LeaderInfo(
                id=self.master.id,
                pid=str(self.pid),
                hostname=self.flags.hostname or self.flags.ip,
                port=self.flags.port,
                version=self.master.info.version,
                scheme=self.http.scheme,
            )
            await self.contender.contend(self.pid, info)

    async def _supervise(self) -> None:
        """With --zk: after each abdication, withdraw and contend again with a fresh master."""
        while not self._stopping:
            await self.node.wait(self.pid)
            if self._stopping:
                return
            _log.warning("master_restarting_after_abdication", pid=str(self.pid))
            assert self.contender is not None
            await self.contender.withdraw()
            await asyncio.sleep(RESPAWN_DELAY)
            await self._spawn()


def tune_garbage_collector() -> None:
    """Make the cyclic garbage collector cheap for a master's heap; for a master's process.

    A master keeps hundreds of thousands of long-lived objects (a task record per
    task), and a failover builds them in a burst: with Python's thresholds the
    collector made a full pass over the whole heap every 25% of growth, some
    eight passes while 10,000 agents re-registered, about 40% of the new
    leader's CPU. Young collections every 50,000 allocations instead of 700 make
    those passes rare; what was imported at start is frozen out of them.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def run_master(
    flags: MasterFlags, node: Node | None = None, security: SecurityFlags | None = None
) -> MasterHandle:
    """Start (or use) a node on `flags.ip:flags.actor_port`, serve HTTP, spawn the master.

    HTTP listens on `flags.ip:flags.port` and is bound before the master
    starts, so the port the master advertises (MasterInfo.port) is the bound
    one even when `flags.port` is 0. With `flags.zk` it connects to ZooKeeper
    first (waiting up to the session timeout) and the master contends. `security`
    (zmesos.node_security): CurveZMQ keys for the node, and the HTTP door's guard.
    """
    security = security or SecurityFlags()
    if node is None:
        node = await Node(
            host=flags.ip, port=flags.actor_port, curve_keys=security.curve_directory
        ).start()
    pid = PID("master", *node.address)  # the name Master spawns under
    contender = None
    try:
        http = await serve_http(pid, node, flags.ip, flags.port, security.http("mesos-master"))
        if flags.zk:
            contender = Contender(parse_zk_url(flags.zk), node, flags.zk_session_timeout)
            await contender.start()
    except BaseException:
        if contender is not None:
            await contender.stop()
        await node.stop()
        raise
    flags = dataclasses.replace(flags, port=http.port)
    handle = MasterHandle(node, None, pid, http, flags, contender)  # type: ignore[arg-type]
    await handle._spawn()
    if contender is not None:
        handle._supervisor = asyncio.ensure_future(handle._supervise())
    return handle
