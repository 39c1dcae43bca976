"""The `--master` of the operator commands (all of them through zmesos.cli.master_api:
`state`, `agents`, `frameworks`, `tasks`, `logs`, `top`, `reserve`, `unreserve`, `volumes`,
`agent gone`).

They talk to the master's HTTP, so `--master` is what a Mesos operator gives:
`HOST:PORT` (the master's HTTP address; `https://HOST:PORT` when it serves
TLS), or `zk://HOST:PORT[,...]/PATH`, where the leading master's HTTP address
and scheme are read from its znode at the moment of the call (zmesos.detector).
An actor PID (`master@host:port`) or a malformed address stops the command
with one line and exit 2; a ZooKeeper where no master leads, or that cannot be
reached, with one line and exit 1.
"""

from __future__ import annotations

import sys

from zmesos.cli.flags import Parser
from zmesos.detector import MasterDetector, MasterNotFound, master_detector
from zmesos.errors import FlagsError

__all__ = ["master_http", "operator_master"]


def operator_master(parser: Parser, text: str | None) -> MasterDetector:
    """The detector for an operator command's `--master`; one line and exit 2 when bad."""
    if not text:
        parser.error("--master HOST:PORT or zk://HOST:PORT/PATH is required")
    try:
        detector = master_detector(text)
    except FlagsError as error:
        parser.error(str(error))
    if detector.fixed is not None:
        parser.error(
            f"--master {text!r} names the master's actor; give its HTTP address"
            " (HOST:PORT) or zk://HOST:PORT/PATH"
        )
    return detector


async def master_http(detector: MasterDetector, command: str) -> str | None:
    """`http(s)://host:port` of the (leading) master, or None once a line says why not."""
    try:
        return await detector.http_url()
    except MasterNotFound as error:
        print(f"zmesos {command}: cannot find the master: {error}", file=sys.stderr)
        return None
    finally:
        detector.close()
