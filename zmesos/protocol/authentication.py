"""Authentication messages: a client (agent or scheduler) proves its principal to the master.

One exchange, SCRAM-SHA-256's keys (zmesos.authentication.scram) as typed messages:

    authenticatee -> master   Authenticate            pid to vouch for, principal, client nonce
    master -> authenticatee   AuthenticationChallenge server nonce, salt, rounds
    authenticatee -> master   AuthenticationProof     the proof over the transcript
    master -> authenticatee   AuthenticationCompleted the master's own proof
                              AuthenticationFailed    why not (any step)

The authenticatee is a process of the same node as the `pid` it vouches for
(the master refuses one of another address). Sizes and ranges are checked at
decode: a message outside them never reaches a handler.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from libprocess import Message
from zmesos.protocol.common import PIDText

__all__ = [
    "MAX_PRINCIPAL_LENGTH",
    "PRINCIPAL_PATTERN",
    "Authenticate",
    "AuthenticationChallenge",
    "AuthenticationCompleted",
    "AuthenticationFailed",
    "AuthenticationProof",
]

# Principals: printable, no whitespace, at most 256 characters (the credentials files' rule).
MAX_PRINCIPAL_LENGTH = 256
PRINCIPAL_PATTERN = r"^[^\s\x00-\x1f\x7f]+$"
Principal = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_PRINCIPAL_LENGTH, pattern=PRINCIPAL_PATTERN)
]
Nonce = Annotated[bytes, msgspec.Meta(min_length=16, max_length=64)]
Salt = Annotated[bytes, msgspec.Meta(min_length=16, max_length=64)]
Digest = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
Rounds = Annotated[int, msgspec.Meta(ge=4096, le=1_000_000)]
Mechanism = Annotated[str, msgspec.Meta(max_length=32)]
Reason = Annotated[str, msgspec.Meta(max_length=1024)]


class Authenticate(Message, frozen=True, kw_only=True):
    pid: PIDText  # the process that will register (the scheduler or agent)
    principal: Principal
    nonce: Nonce
    mechanism: Mechanism = "SCRAM-SHA-256"


class AuthenticationChallenge(Message, frozen=True, kw_only=True):
    nonce: Nonce  # the master's; it names the session
    salt: Salt
    iterations: Rounds


class AuthenticationProof(Message, frozen=True, kw_only=True):
    pid: PIDText
    nonce: Nonce  # the master's, from the challenge
    proof: Digest


class AuthenticationCompleted(Message, frozen=True, kw_only=True):
    signature: Digest  # the master's proof that it knows the secret too


class AuthenticationFailed(Message, frozen=True, kw_only=True):
    reason: Reason
