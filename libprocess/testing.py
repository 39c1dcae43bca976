"""Helpers for tests: run until every actor is idle (libprocess's Clock::settle)."""

from __future__ import annotations

import asyncio

from libprocess.node import Node

# Consecutive idle loop turns that count as settled: a call_soon chain needs a few.
_IDLE_TURNS = 3


async def settle(max_turns: int = 1_000_000) -> None:
    """Run the loop until no process has events and no batch waits to be sent.

    Deferred I/O (subprocesses, sockets) is not waited for: settle is about the
    actors, as in libprocess.
    """
    idle = 0
    for _ in range(max_turns):
        await asyncio.sleep(0)
        if any(node.busy for node in list(Node.running)):
            idle = 0
        else:
            idle += 1
            if idle >= _IDLE_TURNS:
                return
    raise RuntimeError(f"actors still busy after {max_turns} loop turns")
