"""The challenge-response that proves a principal knows its secret: SCRAM-SHA-256's keys.

Why this scheme. Mesos authenticates with CRAM-MD5 over SASL: MD5 is broken,
the server learns nothing about the client's view of the exchange, and the
client never checks the server. We use the key schedule of SCRAM-SHA-256
(RFC 5802, RFC 7677), a standard, widely reviewed mutual scheme:

- the secret never travels, not even hashed: the client sends a proof,
  HMAC-SHA256 over both parties' fresh nonces (and more, below) keyed with a
  key derived from the secret, XORed with that key's hash's image;
- the salted password comes from PBKDF2-HMAC-SHA256 (`ITERATIONS` rounds, a
  salt the master draws per principal), so a captured exchange costs an
  attacker `ITERATIONS` hashes per guessed secret, and a weak secret is not
  trivially recovered;
- the master proves it knows the secret too (its signature over the same
  transcript), so a client does not register with an impostor;
- the transcript binds the mechanism, principal, the authenticated process,
  the master's process, both nonces, the salt and the rounds: a proof made
  for one master, one session or one process is worth nothing elsewhere.
  Each server nonce serves one attempt (the master forgets it after a proof,
  right or wrong, or after a timeout), so a proof cannot be replayed.

We keep SCRAM's keys and proofs but not its text framing (GS2 headers,
`n=,r=` attributes): the exchange travels as typed messages
(zmesos.protocol.authentication) and the transcript is their MessagePack
encoding. Comparisons of proofs run in constant time (`hmac.compare_digest`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import msgspec

__all__ = [
    "DIGEST_BYTES",
    "ITERATIONS",
    "MAX_ITERATIONS",
    "MECHANISM",
    "NONCE_BYTES",
    "SALT_BYTES",
    "ServerKeys",
    "client_proof",
    "salted_password",
    "server_keys",
    "server_signature",
    "transcript",
    "verify_client_proof",
    "verify_server_signature",
]

MECHANISM = "SCRAM-SHA-256"
# PBKDF2 rounds: RFC 7677 asks for at least 4096; 16384 cost ~4 ms on a 2-core
# test machine, paid once per (principal, salt) on each side (both cache it).
ITERATIONS = 16_384
MAX_ITERATIONS = 1_000_000  # a client refuses more: a hostile master could stall it
NONCE_BYTES = 24
SALT_BYTES = 16
DIGEST_BYTES = 32  # SHA-256


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def salted_password(secret: str, salt: bytes, iterations: int) -> bytes:
    """SCRAM's SaltedPassword: PBKDF2-HMAC-SHA256 of the secret."""
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)


@dataclasses.dataclass(frozen=True)
class ServerKeys:
    """What the master needs of one principal's secret (never the secret itself)."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def server_keys(secret: str, salt: bytes, iterations: int = ITERATIONS) -> ServerKeys:
    salted = salted_password(secret, salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return ServerKeys(
        salt=salt,
        iterations=iterations,
        stored_key=hashlib.sha256(client_key).digest(),
        server_key=_hmac(salted, b"Server Key"),
    )


def transcript(
    *,
    principal: str,
    pid: str,
    master: str,
    client_nonce: bytes,
    server_nonce: bytes,
    salt: bytes,
    iterations: int,
) -> bytes:
    """SCRAM's AuthMessage: everything both sides must agree on, unambiguously encoded."""
    return msgspec.msgpack.encode(
        [MECHANISM, principal, pid, master, client_nonce, server_nonce, salt, iterations]
    )


def client_proof(salted: bytes, message: bytes) -> bytes:
    """ClientProof = ClientKey XOR HMAC(H(ClientKey), AuthMessage)."""
    client_key = _hmac(salted, b"Client Key")
    signature = _hmac(hashlib.sha256(client_key).digest(), message)
    return _xor(client_key, signature)


def verify_client_proof(keys: ServerKeys, message: bytes, proof: bytes) -> bool:
    """Recover ClientKey from the proof and check its hash, in constant time."""
    if len(proof) != DIGEST_BYTES:
        return False
    client_key = _xor(proof, _hmac(keys.stored_key, message))
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), keys.stored_key)


def server_signature(keys: ServerKeys, message: bytes) -> bytes:
    return _hmac(keys.server_key, message)


def verify_server_signature(salted: bytes, message: bytes, signature: bytes) -> bool:
    expected = _hmac(_hmac(salted, b"Server Key"), message)
    return hmac.compare_digest(expected, signature)
