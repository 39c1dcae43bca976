"""Credentials files, the SCRAM-SHA-256 keys and proofs, and the messages' bounds."""

from __future__ import annotations

import json

import msgspec
import pytest

from libprocess import PID
from master.authenticator import AuthenticationFailure, Authenticator, FailureLimiter
from zmesos.authentication import Credential, load_credential, load_credentials, scram
from zmesos.errors import CredentialsError
from zmesos.protocol import Authenticate, AuthenticationChallenge, AuthenticationProof


def test_credentials_json_and_text_formats(tmp_path):
    master = tmp_path / "credentials"
    master.write_text(json.dumps({"credentials": [{"principal": "a", "secret": "x"}]}))
    assert load_credentials(str(master)) == {"a": "x"}
    assert load_credentials(f"file://{master}") == {"a": "x"}
    master.write_text("a x\nb y\n")
    assert load_credentials(str(master)) == {"a": "x", "b": "y"}
    client = tmp_path / "credential"
    client.write_text(json.dumps({"principal": "a", "secret": "x"}))
    assert load_credential(str(client)) == Credential("a", "x")
    client.write_text("a x\n")
    assert load_credential(str(client)) == Credential("a", "x")
    assert "x" not in repr(load_credential(str(client)))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '{"credentials": [{"principal": "a", "secret": "x"},'
            ' {"principal": "a", "secret": "y"}]}',
            "twice",
        ),
        ('{"credentials": []}', "no credentials"),
        ('{"credentials": [{"principal": "", "secret": "x"}]}', "non-empty"),
        ('{"credentials": [{"principal": "a"}]}', "no secret"),
        ('{"credentials": [7]}', "must be an object"),
        ('{"credential": []}', "expected"),
        ("{not json", "not valid JSON"),
        ("a b c\n", "principal secret"),
        ("", "no credentials"),
    ],
)
def test_credentials_refused_with_a_reason(tmp_path, text, problem):
    path = tmp_path / "credentials"
    path.write_text(text)
    with pytest.raises(CredentialsError, match=problem):
        load_credentials(str(path))


def test_credential_refused_when_missing_or_several(tmp_path):
    with pytest.raises(CredentialsError, match="cannot read"):
        load_credential(str(tmp_path / "missing"))
    path = tmp_path / "credential"
    path.write_text("a x\nb y\n")
    with pytest.raises(CredentialsError, match="one 'principal secret' line"):
        load_credential(str(path))


def _exchange(secret: str, **changes: object) -> tuple[scram.ServerKeys, bytes, bytes]:
    keys = scram.server_keys("s3cret", b"salt" * 4, 4096)
    fields = {
        "principal": "alice",
        "pid": "scheduler(1)@127.0.0.1:5",
        "master": "master@127.0.0.1:6",
        "client_nonce": b"c" * 24,
        "server_nonce": b"s" * 24,
        "salt": keys.salt,
        "iterations": 4096,
    }
    client_view = scram.transcript(**{**fields, **changes})  # type: ignore[arg-type]
    salted = scram.salted_password(secret, keys.salt, 4096)
    proof = scram.client_proof(salted, client_view)
    return keys, scram.transcript(**fields), proof  # type: ignore[arg-type]


def test_scram_proof_holds_only_for_the_secret_and_the_transcript():
    keys, transcript, proof = _exchange("s3cret")
    assert scram.verify_client_proof(keys, transcript, proof)
    assert not scram.verify_client_proof(keys, transcript, _exchange("guess")[2])
    for change in ({"master": "master@127.0.0.1:7"}, {"pid": "x(1)@127.0.0.1:5"}):
        assert not scram.verify_client_proof(keys, transcript, _exchange("s3cret", **change)[2])
    assert not scram.verify_client_proof(keys, transcript, proof[:-1])
    salted = scram.salted_password("s3cret", keys.salt, 4096)
    signature = scram.server_signature(keys, transcript)
    assert scram.verify_server_signature(salted, transcript, signature)
    assert not scram.verify_server_signature(salted, transcript + b"x", signature)


def test_authenticator_bounds_sessions_and_uses_each_nonce_once():
    authenticator = Authenticator({"alice": "s3cret"}, max_sessions=3, max_sessions_per_peer=2)
    pid = PID("scheduler(1)", "127.0.0.1", 5)
    session = authenticator.start(pid, pid, "alice", b"c" * 24)
    authenticator.start(pid, pid, "alice", b"c" * 24)
    with pytest.raises(AuthenticationFailure, match=r"in flight from 127\.0\.0\.1:5"):
        authenticator.start(pid, pid, "alice", b"c" * 24)
    other = PID("scheduler(1)", "127.0.0.1", 6)
    authenticator.start(other, other, "alice", b"c" * 24)
    with pytest.raises(AuthenticationFailure, match="too many authentications in flight"):
        authenticator.start(PID("x", "127.0.0.1", 7), PID("x", "127.0.0.1", 7), "a", b"c" * 24)
    master = PID("master", "127.0.0.1", 9)
    with pytest.raises(AuthenticationFailure, match="wrong proof"):
        authenticator.finish(session.server_nonce, pid, pid, b"p" * 32, master)
    with pytest.raises(AuthenticationFailure, match="no such session"):
        authenticator.finish(session.server_nonce, pid, pid, b"p" * 32, master)
    assert len(authenticator.sessions) == 2


def test_failure_limiter_doubles_the_wait_after_free_failures_and_forgets_on_success():
    limiter = FailureLimiter(free=2, base=1.0, cap=4.0, max_peers=2)
    peer = ("127.0.0.1", 5)
    assert [limiter.failed(peer, 10.0) for _ in range(2)] == [1, 2]
    assert limiter.retry_after(peer, 10.0) == 1.0
    limiter.failed(peer, 10.0)
    limiter.failed(peer, 10.0)
    assert limiter.retry_after(peer, 10.0) == 4.0  # capped
    assert limiter.retry_after(peer, 13.0) == 1.0
    limiter.succeeded(peer)
    assert limiter.retry_after(peer, 10.0) == 0.0
    for port in range(3):  # bounded: the oldest peer is forgotten
        limiter.failed(("127.0.0.1", port), 0.0)
    assert limiter.retry_after(("127.0.0.1", 0), 0.0) == 0.0


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        (Authenticate, {"pid": "a@127.0.0.1:1", "principal": "a", "nonce": b"short"}),
        (Authenticate, {"pid": "a@127.0.0.1:1", "principal": "a b", "nonce": b"n" * 24}),
        (Authenticate, {"pid": "a@127.0.0.1:1", "principal": "a" * 257, "nonce": b"n" * 24}),
        (Authenticate, {"pid": "nope", "principal": "a", "nonce": b"n" * 24}),
        (AuthenticationChallenge, {"nonce": b"n" * 24, "salt": b"s" * 16, "iterations": 10**9}),
        (AuthenticationChallenge, {"nonce": b"n" * 24, "salt": b"s" * 16, "iterations": 1}),
        (AuthenticationProof, {"pid": "a@127.0.0.1:1", "nonce": b"n" * 24, "proof": b"p" * 31}),
        (AuthenticationProof, {"pid": "a@127.0.0.1:1", "nonce": b"n" * 65, "proof": b"p" * 32}),
    ],
)
def test_authentication_messages_refused_at_decode_out_of_bounds(kind, fields):
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(msgspec.msgpack.encode(fields), type=kind)
