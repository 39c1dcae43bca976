"""The election's znodes, as Mesos lays them out, and reading the leader from them.

Each contending master holds an ephemeral sequential znode `<path>/json.info_<seq>`
whose data is its MasterInfo as JSON (Mesos's fields: `id`, `pid`, `hostname`,
`port`, `version`, `ip` as an integer, and `address`). The lowest sequence
leads. `pid` is the master's actor; `address` (hostname, ip, port) is its HTTP,
the address users name. A master serving HTTPS adds `"scheme": "https"` (a field
of zmesos's own; Mesos runs TLS cluster-wide and publishes none), so operator
commands reach the leader in the scheme it serves; without it, `http`.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any

import msgspec
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

__all__ = [
    "ELECTION_PREFIX",
    "LeaderInfo",
    "decode_leader_info",
    "encode_leader_info",
    "leader_of",
    "read_leader",
]

ELECTION_PREFIX = "json.info_"


class LeaderInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a contender publishes: enough to reach its actor and its HTTP."""

    id: str
    pid: str
    hostname: str
    port: int  # HTTP
    version: str = ""
    scheme: str = "http"  # of its HTTP: "http" or "https"

    @property
    def http_address(self) -> str:
        return f"{self.hostname}:{self.port}"


def _ip_number(hostname: str) -> int:
    try:
        return int(ipaddress.IPv4Address(socket.gethostbyname(hostname)))
    except (OSError, ValueError):
        return 0


def encode_leader_info(info: LeaderInfo) -> bytes:
    """The znode's JSON, in Mesos's shape."""
    ip = info.pid.rsplit("@", 1)[-1].rsplit(":", 1)[0]
    payload: dict[str, Any] = {
        "id": info.id,
        "pid": info.pid,
        "hostname": info.hostname,
        "port": info.port,
        "version": info.version,
        "ip": _ip_number(ip),
        "address": {"hostname": info.hostname, "ip": ip, "port": info.port},
    }
    if info.scheme != "http":
        payload["scheme"] = info.scheme
    return json.dumps(payload).encode()


def decode_leader_info(data: bytes) -> LeaderInfo | None:
    """The info in a znode's data; None when it is not a master's info."""
    try:
        payload = json.loads(data)
        return LeaderInfo(
            id=str(payload["id"]),
            pid=str(payload["pid"]),
            hostname=str(payload.get("hostname") or payload["address"]["hostname"]),
            port=int(payload.get("port") or payload["address"]["port"]),
            version=str(payload.get("version", "")),
            scheme="https" if payload.get("scheme") == "https" else "http",
        )
    except (ValueError, KeyError, TypeError):
        return None


def leader_of(children: list[str]) -> str | None:
    """The leading contender's znode name among `children` (the lowest sequence)."""
    contenders = [child for child in children if child.startswith(ELECTION_PREFIX)]
    if not contenders:
        return None
    return min(contenders, key=lambda child: child.removeprefix(ELECTION_PREFIX))


def read_leader(client: KazooClient, path: str) -> LeaderInfo | None:
    """The leader's info now (blocking; call it from a worker thread); None if none leads."""
    for _ in range(3):  # the leader may vanish between listing and reading: look again
        try:
            leader = leader_of(client.get_children(path))
            if leader is None:
                return None
            data, _ = client.get(f"{path}/{leader}")
        except NoNodeError:
            continue
        return decode_leader_info(data)
    return None
