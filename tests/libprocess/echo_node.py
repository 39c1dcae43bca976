"""A node in its own OS process, for cross-process tests: `python -m tests.libprocess.echo_node`.

Spawns an Echo process named "echo" and a Stall process named "stall", prints
the echo's PID on stdout, and runs until killed. Optional arguments: the node's
heartbeat interval in seconds, and the frames ZeroMQ may queue per inbound
connection (the transport's receive high-water mark).
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from libprocess import Node
from libprocess import transport as transport_module
from tests.libprocess.actors import Echo, Stall


async def main(heartbeat_interval: float) -> None:
    node = await Node(host="127.0.0.1", port=0, heartbeat_interval=heartbeat_interval).start()
    pid = node.spawn(Echo("echo"))
    node.spawn(Stall("stall"))
    print(pid, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if len(arguments) > 1:
        transport_module._RECV_HWM = int(arguments[1])
    sys.exit(uvloop.run(main(float(arguments[0]) if arguments else 1.0)))
