"""`zmesos agent`: an agent that registers with a master and runs its tasks.

Ctrl-C or SIGTERM stop the agent; executors of frameworks that do not
checkpoint die with it (as in Mesos). SIGUSR1 shuts the agent down gently:
executors are asked to stop, killed after the grace period, then it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop

from agent import Agent, AgentFlags
from agent.runner import run_agent
from libprocess import NodeError
from zmesos.cli.flags import Parser, add_flags, build
from zmesos.cli.signals import stop_event_on_signals


def add_parser(commands: argparse._SubParsersAction, name: str) -> None:
    parser = commands.add_parser(name, help="run an agent", description=__doc__)
    add_flags(parser, AgentFlags)


def run(options: argparse.Namespace, parser: Parser) -> int:
    flags = build(AgentFlags, options, parser)
    if not flags.master:
        parser.error("--master is required (HOST:PORT of the master)")
    return uvloop.run(serve(flags, parser))


async def serve(flags: AgentFlags, parser: Parser) -> int:
    try:
        handle = await run_agent(flags)
    except (NodeError, OSError, ValueError) as error:
        parser.error(str(error))
    node, pid = handle.node, handle.pid
    print(f"agent {handle.http.url} actor {pid} work dir {flags.work_dir}", flush=True)
    stop = stop_event_on_signals()
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGUSR1, lambda: node.dispatch(pid, Agent.shutdown, "SIGUSR1")
    )
    waiting = asyncio.ensure_future(node.wait(pid))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    stopping.cancel()
    await handle.stop()
    return 0
