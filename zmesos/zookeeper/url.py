"""`zk://host:port[,host:port...]/path`: where a cluster's masters meet in ZooKeeper."""

from __future__ import annotations

import dataclasses
import re

from zmesos.errors import FlagsError

__all__ = ["ZooKeeperUrl", "parse_zk_url"]

_HOST_PORT = re.compile(r"^[A-Za-z0-9._-]+:\d{1,5}$")
_PATH = re.compile(r"^(/[A-Za-z0-9._-]+)+$")


@dataclasses.dataclass(frozen=True)
class ZooKeeperUrl:
    """`hosts` as kazoo takes them (`h1:p1,h2:p2`), and the cluster's znode `path`."""

    hosts: str
    path: str

    def __str__(self) -> str:
        return f"zk://{self.hosts}{self.path}"


def parse_zk_url(text: str, flag: str = "--zk") -> ZooKeeperUrl:
    """Parse a `zk://` URL; FlagsError (one line, naming `flag`) when it is malformed."""
    if not text.startswith("zk://"):
        raise FlagsError(f"{flag}: expected zk://HOST:PORT/PATH, got {text!r}")
    rest = text.removeprefix("zk://")
    hosts, slash, path = rest.partition("/")
    path = "/" + path.rstrip("/")
    servers = hosts.split(",") if hosts else []
    if (
        not slash
        or not servers
        or not all(_HOST_PORT.match(server) for server in servers)
        or not all(0 < int(server.rsplit(":", 1)[1]) < 65536 for server in servers)
        or not _PATH.match(path)
    ):
        raise FlagsError(f"{flag}: expected zk://HOST:PORT[,HOST:PORT]/PATH, got {text!r}")
    return ZooKeeperUrl(hosts, path)
