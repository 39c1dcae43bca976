"""Starting a master the way the CLI does: a node, the master actor, the operator HTTP."""

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
    http: HttpServer | None

    @property
    def allocator(self) -> PID:
        return self.master.allocator

    async def wait(self) -> None:
        """Until the master terminates."""
        await self.node.wait(self.pid)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        await self.node.stop()


async def run_master(flags: MasterFlags, node: Node | None = None) -> MasterHandle:
    """Start (or use) a node on `flags.ip:flags.port`, spawn the master, serve HTTP.

    HTTP listens on `flags.ip:flags.http_port` unless `http_port` is None.
    """
    if node is None:
        node = await Node(host=flags.ip, port=flags.port).start()
    master = Master(flags)
    pid = node.spawn(master)
    http = None
    if flags.http_port is not None:
        try:
            http = await serve_http(pid, node, flags.ip, flags.http_port)
        except BaseException:
            await node.stop()
            raise
    return MasterHandle(node, master, pid, http)
