"""`zmesos keys generate DIR`: CurveZMQ key directories for a cluster, one per node.

    zmesos keys generate /etc/zmesos/keys --nodes master,agent-1,agent-2,scheduler

writes `DIR/<node>/` for each node: its own key pair (node.key, node.key_secret),
the cluster's listening key pair, and `allowed/` with every node's public key.
Give each machine its node's directory (`--curve-keys DIR/<node>`). Run it again
with new names to add nodes: the cluster key and existing nodes' keys are kept,
and every node's `allowed/` gains the new public keys (copy them out again).
Executors use their agent's keys. Secret files are 0600, directories 0700.
"""

from __future__ import annotations

import argparse

from libprocess.curve import CurveKeyError, generate
from zmesos.cli.flags import Parser

DEFAULT_NODES = "master,agent,scheduler"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    parser = commands.add_parser(name, help="make CurveZMQ keys", description=__doc__)
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    make = actions.add_parser("generate", help="write (or extend) a cluster's key directories")
    make.add_argument("directory", help="where the node directories go")
    make.add_argument(
        "--nodes",
        default=DEFAULT_NODES,
        help=f"comma-separated node names (default: {DEFAULT_NODES})",
    )


def run(options: argparse.Namespace, parser: Parser) -> int:
    names = [name.strip() for name in options.nodes.split(",") if name.strip()]
    if not names:
        parser.error("--nodes names no node")
    try:
        made = generate(options.directory, names)
    except (CurveKeyError, OSError) as error:
        parser.error(str(error))
    for directory in made:
        print(f"{directory.name}: --curve-keys {directory}")
    return 0
