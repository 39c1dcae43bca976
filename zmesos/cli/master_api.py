"""What the operator commands (`zmesos state|agents|frameworks|tasks|logs|top`) share: reading a
master's and its agents' HTTP APIs, and printing aligned tables.

Plain blocking HTTP (urllib): a command makes a handful of requests and exits.
A master that does not lead answers 307 to the leader; urllib follows it. Any
failure becomes `ApiUnavailable` with one line naming the address, which the
command prints before exiting with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from zmesos.cli.flags import Parser
from zmesos.cli.operator import master_http, operator_master

__all__ = [
    "ApiUnavailable",
    "add_master_flag",
    "agent_http_address",
    "get_json",
    "master_url",
    "table",
]

TIMEOUT = 10.0  # seconds for one request
DEFAULT_MASTER = "127.0.0.1:5050"


class ApiUnavailable(Exception):
    """A master or agent did not answer as expected; the message says which and why."""


def add_master_flag(parser: argparse.ArgumentParser) -> None:
    """`--master HOST:PORT` (default: $ZMESOS_MASTER, $MESOS_MASTER, then 127.0.0.1:5050)."""
    default = os.environ.get("ZMESOS_MASTER") or os.environ.get("MESOS_MASTER") or DEFAULT_MASTER
    parser.add_argument(
        "--master",
        default=default,
        help=f"the master's HTTP address HOST:PORT, or zk://HOST:PORT/PATH (default: {default})",
    )


def master_url(master: str, parser: Parser) -> str:
    """`http://HOST:PORT` of `--master`, or with `zk://HOST:PORT/PATH` the leading master's
    (read from ZooKeeper); a malformed address stops the command (exit 2), a ZooKeeper
    where no master leads too, with one line (exit 1)."""
    if master.startswith("zk://"):
        base = asyncio.run(master_http(operator_master(parser, master), _command(parser)))
        if base is None:
            parser.exit(1)
        return base
    address = master.removeprefix("http://").rstrip("/")
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdecimal() or not 0 < int(port) < 65536:
        parser.error(f"--master {master!r} is not HOST:PORT (the master's HTTP address)")
    return f"http://{address}"


def _command(parser: Parser) -> str:
    return parser.prog.removeprefix("zmesos ")


def get_json(base: str, path: str, query: dict[str, Any] | None = None) -> Any:
    """GET `base + path` (with `query`) and decode its JSON; ApiUnavailable otherwise."""
    url = base + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        reason = error.read().decode(errors="replace").strip().splitlines()
        detail = reason[0] if reason else error.reason
        raise ApiUnavailable(f"{url}: HTTP {error.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        why = getattr(error, "reason", error)
        raise ApiUnavailable(f"cannot reach {base}: {why}") from None
    except ValueError:
        raise ApiUnavailable(f"{url}: the answer is not JSON") from None


def agent_http_address(agent: dict[str, Any]) -> str:
    """`host:port` of an agent's HTTP, from its entry in the master's /state or /slaves."""
    address = agent.get("http_address")
    if address:
        return str(address)
    host = str(agent.get("pid", "")).partition("@")[2].rpartition(":")[0] or agent["hostname"]
    return f"{host}:{agent['port']}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows under headers, columns aligned (numbers to the right), two spaces apart."""
    cells = [[_cell(value) for value in row] for row in rows]
    numeric = [
        bool(rows) and all(_is_number(row[index]) for row in rows) for index in range(len(headers))
    ]
    widths = [
        max([len(header), *(len(row[index]) for row in cells)])
        for index, header in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(row) for row in cells)])


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
