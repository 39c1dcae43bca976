"""`zmesos master`: a master with its allocator and operator HTTP, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio

import uvloop

from libprocess import NodeError
from master import MasterFlags, run_master, tune_garbage_collector
from zmesos.cli.flags import Parser, add_flags, build
from zmesos.cli.signals import stop_event_on_signals
from zmesos.node_security import SecurityFlags


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    parser = commands.add_parser(name, help="run a master", description=__doc__)
    add_flags(parser, MasterFlags)
    add_flags(parser, SecurityFlags)


def run(options: argparse.Namespace, parser: Parser) -> int:
    flags = build(MasterFlags, options, parser)
    security = build(SecurityFlags, options, parser)
    tune_garbage_collector()
    return uvloop.run(serve(flags, security, parser))


async def serve(flags: MasterFlags, security: SecurityFlags, parser: Parser) -> int:
    try:
        handle = await run_master(flags, security=security)
    except (NodeError, OSError) as error:
        parser.error(str(error))
    print(f"master {handle.http.url} actor {handle.pid}", flush=True)
    stop = stop_event_on_signals()
    waiting = asyncio.ensure_future(handle.wait())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    stopping.cancel()
    await handle.stop()
    return 0
