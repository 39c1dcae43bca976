"""What the agent and its fork server say over their channel (a SOCK_SEQPACKET pair).

One datagram is one message, msgpack-encoded with a type tag. The agent sends
`Launch`; the fork server sends `Ready` once (after its imports), then for each
`Launch` either `Launched` (with the child's pidfd attached as SCM_RIGHTS) or
`LaunchFailed`, and `Exited` whenever it reaps a child. A child's `Launched`
always precedes its `Exited`: the server reports a fork before it reaps again.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "MAX_MESSAGE_BYTES",
    "Exited",
    "Launch",
    "LaunchFailed",
    "Launched",
    "Ready",
    "decode",
    "encode",
]

MAX_MESSAGE_BYTES = 1 << 20  # a Launch carries an environment: a few KB, rarely more


class Launch(msgspec.Struct, tag=True, frozen=True):
    """Fork a child that runs the served module's `main()` in `sandbox` with `environment`,
    after writing its pid to each of `cgroups` (`cgroup.procs` files)."""

    request: int
    sandbox: str
    environment: dict[str, str]
    cgroups: tuple[str, ...] = ()


class Ready(msgspec.Struct, tag=True, frozen=True):
    """The server has imported everything and serves launches."""

    pid: int


class Launched(msgspec.Struct, tag=True, frozen=True):
    """The child of `request` runs as `pid` (its pidfd rides along)."""

    request: int
    pid: int


class LaunchFailed(msgspec.Struct, tag=True, frozen=True):
    """The launch could not start: an OSError's errno, text and file name."""

    request: int
    errno: int
    message: str
    filename: str = ""


class Exited(msgspec.Struct, tag=True, frozen=True):
    """The server reaped `pid`: its exit status (>= 0) or minus the signal that ended it."""

    pid: int
    returncode: int


Message = Launch | Ready | Launched | LaunchFailed | Exited

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def decode(data: bytes) -> Message:
    """The message in `data`; msgspec.DecodeError (a ValueError) when it is not one."""
    return _decoder.decode(data)
