"""The client side of authentication: one attempt, as a short-lived process.

An agent or a scheduler driver, before it registers with a master, calls

    principal = await authenticate(node, master, self.pid, credential, timeout)

(from `defer`, so its mailbox is free meanwhile). An `Authenticatee` process
is spawned on the same node for the one exchange (as Mesos spawns its
authenticatee), vouches for the caller's PID, and ends when the exchange
does. It raises AuthenticationRefused when the master says no or cannot
prove it knows the secret, AuthenticationTimedOut when no answer came within
`timeout` on the runtime clock. Messages from anyone but the master are dropped.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import secrets

from libprocess import PID, Node, Process, Timer
from zmesos.authentication import scram
from zmesos.authentication.credentials import Credential
from zmesos.errors import AuthenticationError, AuthenticationRefused, AuthenticationTimedOut
from zmesos.protocol import (
    Authenticate,
    AuthenticationChallenge,
    AuthenticationCompleted,
    AuthenticationFailed,
    AuthenticationProof,
)

__all__ = ["DEFAULT_AUTHENTICATION_TIMEOUT", "Authenticatee", "authenticate"]

DEFAULT_AUTHENTICATION_TIMEOUT = 15.0  # Mesos's default for the exchange
_names = itertools.count(1)
# PBKDF2 once per (secret, salt, rounds): a master keeps its salt for its lifetime.
_salted_password = functools.lru_cache(maxsize=64)(scram.salted_password)


class Authenticatee(Process):
    """One exchange with `master` on behalf of `client`; `result` holds the outcome."""

    def __init__(self, master: PID, client: PID, credential: Credential, timeout: float) -> None:
        super().__init__(f"authenticatee({next(_names)})")
        self.master = master
        self.client = client
        self.credential = credential
        self.timeout = timeout
        self.result: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._nonce = secrets.token_bytes(scram.NONCE_BYTES)
        self._transcript = b""
        self._salted = b""
        self._timer: Timer | None = None

    def initialize(self) -> None:
        self.install(AuthenticationChallenge, self._challenge)
        self.install(AuthenticationCompleted, self._completed)
        self.install(AuthenticationFailed, self._failed)
        self._timer = self.delay(self.timeout, self._timed_out)
        self.send(
            self.master,
            Authenticate(
                pid=str(self.client), principal=self.credential.principal, nonce=self._nonce
            ),
        )

    def finalize(self) -> None:
        if not self.result.done():
            self.result.set_exception(AuthenticationTimedOut("the authentication was abandoned"))

    def _from_master(self, sender: PID, message: object) -> bool:
        if sender == self.master:
            return True
        self.node.count_drop("authentication_not_from_master")
        self.log.warning(
            "dropping_message",
            message=type(message).__name__,
            sender=str(sender),
            reason="not from the master being authenticated with",
        )
        return False

    def _challenge(self, sender: PID, message: AuthenticationChallenge) -> None:
        if not self._from_master(sender, message) or self._transcript:
            return
        if message.iterations > scram.MAX_ITERATIONS:
            self._finish(AuthenticationRefused("the master asked for too many PBKDF2 rounds"))
            return
        self._salted = _salted_password(self.credential.secret, message.salt, message.iterations)
        self._transcript = scram.transcript(
            principal=self.credential.principal,
            pid=str(self.client),
            master=str(self.master),
            client_nonce=self._nonce,
            server_nonce=message.nonce,
            salt=message.salt,
            iterations=message.iterations,
        )
        proof = scram.client_proof(self._salted, self._transcript)
        self.send(
            self.master, AuthenticationProof(pid=str(self.client), nonce=message.nonce, proof=proof)
        )

    def _completed(self, sender: PID, message: AuthenticationCompleted) -> None:
        if not self._from_master(sender, message) or not self._transcript:
            return
        if not scram.verify_server_signature(self._salted, self._transcript, message.signature):
            self._finish(AuthenticationRefused("the master could not prove it knows the secret"))
            return
        self._finish(None)

    def _failed(self, sender: PID, message: AuthenticationFailed) -> None:
        if self._from_master(sender, message):
            self._finish(AuthenticationRefused(message.reason or "refused"))

    def _timed_out(self) -> None:
        self._finish(AuthenticationTimedOut(f"no answer from {self.master} in {self.timeout}s"))

    def _finish(self, error: AuthenticationError | None) -> None:
        if not self.result.done():
            if error is None:
                self.result.set_result(self.credential.principal)
            else:
                self.result.set_exception(error)
        self.terminate()


async def authenticate(
    node: Node,
    master: PID,
    client: PID,
    credential: Credential,
    timeout: float = DEFAULT_AUTHENTICATION_TIMEOUT,
) -> str:
    """Authenticate `client` (a process of `node`) with `master`; the principal on success.

    Raises AuthenticationRefused or AuthenticationTimedOut (see the module docstring).
    """
    authenticatee = Authenticatee(master, client, credential, timeout)
    pid = node.spawn(authenticatee)
    try:
        return await authenticatee.result
    finally:
        if not authenticatee.terminated:
            node.terminate(pid)
