"""The master's side of authentication, as plain data: sessions, keys, throttling.

`Authenticator` holds the SCRAM keys of every principal of `--credentials`
(derived once at start; the secrets themselves are not kept) and the
sessions in flight, each named by its server nonce and used once: a proof,
right or wrong, ends its session. Unknown principals get a challenge like
any other (a salt derived from a per-master key, so it is stable) and fail
at the proof, so the master does not tell which principals exist.

`FailureLimiter` throttles a peer (a node address) that keeps failing: the
first `free` failures in a row cost nothing; after that each attempt must
wait min(base * 2^k, cap) seconds after the last failure. A success clears
the peer. Bounded: the least recently failed peers are forgotten first.

The master's handlers (master.authentication_handlers) drive both and own
the timers, logs and metrics; nothing here reads a clock.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import hmac
import secrets

from libprocess import PID
from zmesos.authentication import scram

__all__ = ["AuthenticationFailure", "Authenticator", "FailureLimiter", "Session"]


class AuthenticationFailure(Exception):
    """A proof or a session was refused; the message is for the master's log only."""


@dataclasses.dataclass
class Session:
    """One exchange in flight, named by its server nonce."""

    pid: PID  # the process vouched for
    authenticatee: PID  # who speaks for it
    principal: str
    client_nonce: bytes
    server_nonce: bytes
    keys: scram.ServerKeys
    known: bool  # False: the principal is not in --credentials


class Authenticator:
    """Keys of the known principals and the sessions in flight (see the module docstring).

    `max_sessions` bounds the sessions in flight, `max_sessions_per_peer` those
    of one node address, so one flooding peer cannot starve the others.
    """

    def __init__(
        self,
        credentials: dict[str, str],
        *,
        iterations: int = scram.ITERATIONS,
        max_sessions: int = 1024,
        max_sessions_per_peer: int = 16,
    ) -> None:
        self.iterations = iterations
        self.max_sessions = max_sessions
        self.max_sessions_per_peer = max_sessions_per_peer
        self._keys = {
            principal: scram.server_keys(secret, secrets.token_bytes(scram.SALT_BYTES), iterations)
            for principal, secret in credentials.items()
        }
        self._pepper = secrets.token_bytes(32)  # salts of unknown principals
        self.sessions: dict[bytes, Session] = {}
        self._per_peer: collections.Counter[tuple[str, int]] = collections.Counter()

    @property
    def principals(self) -> frozenset[str]:
        return frozenset(self._keys)

    def start(self, pid: PID, authenticatee: PID, principal: str, client_nonce: bytes) -> Session:
        """A new session; AuthenticationFailure when too many are in flight."""
        peer = (authenticatee.host, authenticatee.port)
        if len(self.sessions) >= self.max_sessions:
            raise AuthenticationFailure("too many authentications in flight")
        if self._per_peer[peer] >= self.max_sessions_per_peer:
            raise AuthenticationFailure(
                f"too many authentications in flight from {peer[0]}:{peer[1]}"
            )
        keys = self._keys.get(principal)
        known = keys is not None
        if keys is None:
            salt = hmac.new(self._pepper, principal.encode(), hashlib.sha256).digest()
            keys = scram.ServerKeys(
                salt=salt[: scram.SALT_BYTES],
                iterations=self.iterations,
                stored_key=secrets.token_bytes(scram.DIGEST_BYTES),
                server_key=secrets.token_bytes(scram.DIGEST_BYTES),
            )
        session = Session(
            pid=pid,
            authenticatee=authenticatee,
            principal=principal,
            client_nonce=client_nonce,
            server_nonce=secrets.token_bytes(scram.NONCE_BYTES),
            keys=keys,
            known=known,
        )
        self.sessions[session.server_nonce] = session
        self._per_peer[peer] += 1
        return session

    def end(self, server_nonce: bytes) -> Session | None:
        """Forget a session (used or expired); None if there was none."""
        session = self.sessions.pop(server_nonce, None)
        if session is not None:
            peer = (session.authenticatee.host, session.authenticatee.port)
            self._per_peer[peer] -= 1
            if self._per_peer[peer] <= 0:
                del self._per_peer[peer]
        return session

    def finish(
        self, server_nonce: bytes, authenticatee: PID, pid: PID, proof: bytes, master: PID
    ) -> tuple[Session, bytes]:
        """Check a proof: the session and the master's signature, or AuthenticationFailure.

        The session ends either way: a nonce serves one proof.
        """
        session = self.sessions.get(server_nonce)
        if session is None:
            raise AuthenticationFailure("no such session (it expired or was used)")
        if session.authenticatee != authenticatee or session.pid != pid:
            raise AuthenticationFailure("the proof does not come from the session's client")
        self.end(server_nonce)
        message = scram.transcript(
            principal=session.principal,
            pid=str(session.pid),
            master=str(master),
            client_nonce=session.client_nonce,
            server_nonce=session.server_nonce,
            salt=session.keys.salt,
            iterations=session.keys.iterations,
        )
        valid = scram.verify_client_proof(session.keys, message, proof)
        if not session.known:
            raise AuthenticationFailure(f"unknown principal {session.principal!r}")
        if not valid:
            raise AuthenticationFailure(f"wrong proof for principal {session.principal!r}")
        return session, scram.server_signature(session.keys, message)


class FailureLimiter:
    """Throttles peers that keep failing (see the module docstring)."""

    def __init__(
        self, *, free: int = 3, base: float = 1.0, cap: float = 60.0, max_peers: int = 10_000
    ) -> None:
        self.free = free
        self.base = base
        self.cap = cap
        self.max_peers = max_peers
        # peer -> (failures in a row, time of the last)
        self._failures: collections.OrderedDict[tuple[str, int], tuple[int, float]] = (
            collections.OrderedDict()
        )

    def retry_after(self, peer: tuple[str, int], now: float) -> float:
        """Seconds the peer must still wait before its next attempt (0: go ahead)."""
        failures, last = self._failures.get(peer, (0, 0.0))
        if failures < self.free:
            return 0.0
        wait = min(self.base * 2 ** (failures - self.free), self.cap)
        return max(0.0, last + wait - now)

    def failed(self, peer: tuple[str, int], now: float) -> int:
        """Count a failure; the peer's failures in a row."""
        failures = self._failures.pop(peer, (0, 0.0))[0] + 1
        self._failures[peer] = (failures, now)
        while len(self._failures) > self.max_peers:
            self._failures.popitem(last=False)
        return failures

    def succeeded(self, peer: tuple[str, int]) -> None:
        self._failures.pop(peer, None)
