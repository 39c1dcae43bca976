"""Process identifiers: `name@host:port`, as libprocess writes them."""

from __future__ import annotations

import re

_PID_PATTERN = re.compile(
    r"^(?P<name>[^@\s]+)@(?P<host>[^\s:@]+|\[[0-9a-fA-F:.]+\]):(?P<port>\d+)$"
)
# The same shape as one regular expression with the port's range written out (1-65535):
# for schemas that validate a PID where it is decoded (msgspec.Meta(pattern=...)).
PID_REGEX = (
    r"^[^@\s]+@(?:[^\s:@]+|\[[0-9a-fA-F:.]+\]):"
    r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
)


class PID:
    """The address of one process: a name unique on its node, and the node's host and port.

    Values: equal and hashed by all three parts. Immutable by convention (`__slots__`
    and no setters) because PIDs are dictionary keys on every hot path.
    """

    __slots__ = ("_hash", "_text", "address", "host", "name", "port")

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.address = (host, port)  # the node this process lives on
        self._hash = hash(self.address) ^ hash(name)
        self._text = f"{name}@{host}:{port}"  # formatted once: every remote send needs it

    @classmethod
    def parse(cls, text: str) -> PID:
        """Parse `name@host:port`; raise ValueError naming the problem otherwise."""
        match = _PID_PATTERN.match(text)
        if match is None:
            raise ValueError(f"bad PID {text!r}: expected name@host:port")
        port = int(match["port"])
        if not 0 < port < 65536:
            raise ValueError(f"bad PID {text!r}: port {port} is out of range")
        return cls(match["name"], match["host"], port)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PID):
            return NotImplemented
        return self.port == other.port and self.name == other.name and self.host == other.host

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"PID({str(self)!r})"

    def __reduce__(self) -> tuple[type[PID], tuple[str, str, int]]:
        return (PID, (self.name, self.host, self.port))
