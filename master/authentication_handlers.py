"""The master's authentication handlers: who proved which principal, from which process.

A client's authenticatee (zmesos.authentication) sends Authenticate for a
process of its own node; the master answers a challenge, checks the proof
(master.authenticator), and on success remembers `authenticated[pid] =
principal` and links to that process: when it exits (or its node is lost)
the master forgets it, and it must authenticate again. Registration handlers
ask `_principal_of(pid)` (master.base).

Every failure is answered (AuthenticationFailed, with a reason that does not
say whether the principal exists), logged (`authentication_failed`, with
the real reason, principal and peer) and counted
(`master/authentication_failures`). A peer (node address) failing more than
a few times in a row is throttled with a doubling wait
(`master/authentication_throttled`). A session unanswered for
`--authentication-timeout` ends (`master/authentication_timeouts`).
"""

from __future__ import annotations

from libprocess import PID, clock
from master.authenticator import AuthenticationFailure
from master.base import MasterBase
from zmesos.authentication import scram
from zmesos.protocol import (
    Authenticate,
    AuthenticationChallenge,
    AuthenticationCompleted,
    AuthenticationFailed,
    AuthenticationProof,
)

__all__ = ["AuthenticationHandlers"]


class AuthenticationHandlers(MasterBase):
    """Handlers of the authenticatee -> master conversation (see the module docstring)."""

    def authenticate(self, sender: PID, message: Authenticate) -> None:
        self.metrics["messages_authenticate"] += 1
        pid = PID.parse(message.pid)
        peer = (sender.host, sender.port)
        if (pid.host, pid.port) != peer:
            self._refuse_authentication(
                sender, message.principal, f"{sender} may not vouch for {pid}", "refused"
            )
            return
        if self.authenticator is None:
            self._refuse_authentication(
                sender, message.principal, "no --credentials", "authentication is not enabled"
            )
            return
        if message.mechanism != scram.MECHANISM:
            self._refuse_authentication(
                sender,
                message.principal,
                f"mechanism {message.mechanism!r}",
                f"unsupported mechanism; use {scram.MECHANISM}",
            )
            return
        wait = self.authentication_limiter.retry_after(peer, clock.now())
        if wait > 0:
            self.metrics["authentication_throttled"] += 1
            self._refuse_authentication(
                sender,
                message.principal,
                "throttled after repeated failures",
                f"too many failed attempts; retry in {wait:.1f}s",
                count=False,
            )
            return
        try:
            session = self.authenticator.start(pid, sender, message.principal, message.nonce)
        except AuthenticationFailure as error:
            self._refuse_authentication(sender, message.principal, str(error), str(error))
            return
        self.delay(
            self.flags.authentication_timeout, self._authentication_timed_out, session.server_nonce
        )
        self.send(
            sender,
            AuthenticationChallenge(
                nonce=session.server_nonce,
                salt=session.keys.salt,
                iterations=session.keys.iterations,
            ),
        )

    def authentication_proof(self, sender: PID, message: AuthenticationProof) -> None:
        self.metrics["messages_authentication_proof"] += 1
        if self.authenticator is None:
            self._refuse_authentication(
                sender, "", "no --credentials", "authentication is not enabled"
            )
            return
        pid = PID.parse(message.pid)
        session = self.authenticator.sessions.get(message.nonce)
        principal = session.principal if session is not None else ""
        try:
            session, signature = self.authenticator.finish(
                message.nonce, sender, pid, message.proof, self.pid
            )
        except AuthenticationFailure as error:
            failures = self.authentication_limiter.failed((sender.host, sender.port), clock.now())
            self._refuse_authentication(
                sender, principal, str(error), "authentication failed", failures=failures
            )
            return
        self.authentication_limiter.succeeded((sender.host, sender.port))
        previous = self.authenticated.get(pid)
        self.authenticated[pid] = session.principal
        self.link(pid)
        self.send(sender, AuthenticationCompleted(signature=signature))
        self.metrics["authentication_successes"] += 1
        self.log.info(
            "authenticated",
            principal=session.principal,
            pid=str(pid),
            previous_principal=previous,
        )

    def authenticated_over_http(self, pid: PID, principal: str) -> None:
        """A v1 HTTP scheduler's actor (master.v1), on this node, speaks for a request that
        proved `principal` by HTTP authentication: it counts as authenticated. By dispatch
        only (a local call, never a message), before the actor registers."""
        if (pid.host, pid.port) != (self.pid.host, self.pid.port):
            raise ValueError(f"{pid} is not a process of this node")
        self.authenticated[pid] = principal
        self.link(pid)
        self.log.info("authenticated", principal=principal, pid=str(pid), over="http")

    def _authentication_timed_out(self, server_nonce: bytes) -> None:
        assert self.authenticator is not None  # sessions exist only with one
        session = self.authenticator.end(server_nonce)
        if session is None:
            return
        self.metrics["authentication_timeouts"] += 1
        self.log.warning(
            "authentication_timed_out", principal=session.principal, pid=str(session.pid)
        )
        self.send(session.authenticatee, AuthenticationFailed(reason="authentication timed out"))

    def _refuse_authentication(
        self,
        sender: PID,
        principal: str,
        why: str,
        answer: str,
        *,
        count: bool = True,
        failures: int | None = None,
    ) -> None:
        """Answer AuthenticationFailed(`answer`); log `why` (for the operator only)."""
        if count:
            self.metrics["authentication_failures"] += 1
        self.log.warning(
            "authentication_failed",
            principal=principal,
            peer=str(sender),
            reason=why,
            failures_in_a_row=failures,
        )
        self.send(sender, AuthenticationFailed(reason=answer))
