"""`zmesos agent`: an agent that registers with a master and runs its tasks.

Ctrl-C or SIGTERM stop the agent; executors of frameworks that do not
checkpoint die with it (as in Mesos), the others keep running and are
reconnected by the next start (`--recover=reconnect`, the default) from the
checkpoint under `<work_dir>/meta/`. SIGUSR1 shuts the agent down gently:
executors are asked to stop, killed after the grace period, then it exits.

`zmesos agent gone AGENT_ID --master HOST:PORT` (or `--master
zk://HOST:PORT/PATH`: the leading master; `https://HOST:PORT`, `--http-credential`
and `--ca-cert` as for the other operator commands) tells the master that the agent is
gone for good (Mesos's MARK_AGENT_GONE): its tasks are reported gone and it
may never register again.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import uvloop

from agent import Agent, AgentFlags, RecoveryError
from agent.runner import run_agent
from libprocess import NodeError
from zmesos.cli.flags import Parser, add_flags, build
from zmesos.cli.master_api import ApiUnavailable, add_access_flags, connect
from zmesos.cli.signals import stop_event_on_signals
from zmesos.node_security import SecurityFlags


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    parser = commands.add_parser(
        name,
        help="run an agent (or: agent gone AGENT_ID)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", nargs="?", choices=["gone"], help="gone: mark an agent gone")
    parser.add_argument("agent_id", nargs="?", help="the agent to mark gone")
    add_flags(parser, AgentFlags)
    add_flags(parser, SecurityFlags)
    add_access_flags(parser)  # agent gone's, as a client of the master


def run(options: argparse.Namespace, parser: Parser) -> int:
    if options.action == "gone":
        return mark_gone(options, parser)
    if options.agent_id is not None:
        parser.error(f"unexpected argument {options.agent_id!r}")
    for client_flag in ("http_credential", "ca_cert"):
        if getattr(options, client_flag, None):
            name = client_flag.replace("_", "-")
            parser.error(f"--{name} is for `agent gone`; the agent serves --http-credentials")
    flags = build(AgentFlags, options, parser)
    security = build(SecurityFlags, options, parser)
    if not flags.master:
        parser.error("--master is required (HOST:PORT of the master)")
    return uvloop.run(serve(flags, security, parser))


async def serve(flags: AgentFlags, security: SecurityFlags, parser: Parser) -> int:
    try:
        handle = await run_agent(flags, security)
    except RecoveryError as error:  # one line, and no usage: the flags are fine
        print(f"{parser.prog}: error: cannot recover: {error}", file=sys.stderr, flush=True)
        return 1
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


def mark_gone(options: argparse.Namespace, parser: Parser) -> int:
    """POST MARK_AGENT_GONE to the (leading) master's HTTP; exit 0 once it is durable."""
    if not options.agent_id:
        parser.error("agent gone: which agent? (agent gone AGENT_ID --master HOST:PORT)")
    api = connect(options, parser, getattr(options, "master", ""))
    call = {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": options.agent_id}}}
    try:
        answer = api.post("/api/v1", body=call)
    except ApiUnavailable as error:
        print(f"zmesos agent gone: {error}", file=sys.stderr)
        return 1
    if answer.status != 200:
        print(f"zmesos agent gone: refused ({answer.status}): {answer.text}", file=sys.stderr)
        return 1
    print("agent marked gone", flush=True)
    return 0
