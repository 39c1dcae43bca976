"""Starting a master the way the CLI does: a node, the master actor, its HTTP server."""

from __future__ import annotations

import dataclasses

from libprocess import PID, Node
from master.flags import MasterFlags
from master.http import HttpServer, serve_http
from master.master import Master

__all__ = ["MasterHandle", "run_master"]


@dataclasses.dataclass
class MasterHandle:
    """A running master: its node, PIDs and HTTP server. `stop()` ends them all."""

    node: Node
    master: Master
    pid: PID
    http: HttpServer

    @property
    def allocator(self) -> PID:
        return self.master.allocator

    @property
    def address(self) -> str:
        """`host:port` of its HTTP: the address users and zmesos's clients name it by."""
        return f"{self.http.host}:{self.http.port}"

    async def wait(self) -> None:
        """Until the master terminates."""
        await self.node.wait(self.pid)

    async def stop(self) -> None:
        await self.http.close()
        await self.node.stop()


async def run_master(flags: MasterFlags, node: Node | None = None) -> MasterHandle:
    """Start (or use) a node on `flags.ip:flags.actor_port`, serve HTTP, spawn the master.

    HTTP listens on `flags.ip:flags.port` and is bound before the master
    starts, so the port the master advertises (MasterInfo.port) is the bound
    one even when `flags.port` is 0.
    """
    if node is None:
        node = await Node(host=flags.ip, port=flags.actor_port).start()
    master = Master(flags)
    pid = PID("master", *node.address)  # the name Master spawns under
    try:
        http = await serve_http(pid, node, flags.ip, flags.port)
    except BaseException:
        await node.stop()
        raise
    master.flags = dataclasses.replace(flags, port=http.port)
    spawned = node.spawn(master)
    assert spawned == pid, (spawned, pid)
    return MasterHandle(node, master, pid, http)
