"""A node in its own OS process, for cross-process tests: `python -m tests.libprocess.echo_node`.

Spawns an Echo process named "echo", prints its PID on stdout, and runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from libprocess import Node
from tests.libprocess.actors import Echo


async def main() -> None:
    node = await Node(host="127.0.0.1", port=0).start()
    pid = node.spawn(Echo("echo"))
    print(pid, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    sys.exit(uvloop.run(main()))
