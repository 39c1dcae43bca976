"""CurveZMQ on every connection of a node: its keys, and the directory they live in.

With keys, every ZeroMQ connection a node makes or takes is encrypted and
authenticated (CurveZMQ: Curve25519 key exchange, ephemeral session keys, so
traffic captured on the wire cannot be read, even later with the keys), and a
node takes connections only from peers whose public key it allows (pyzmq's ZAP
authenticator checks each handshake). A node's key directory holds:

    node.key, node.key_secret         this node's key pair: who it is to its peers
    cluster.key, cluster.key_secret   the listening key pair every node of the cluster shares
    allowed/*.key                     the public keys of the nodes allowed to connect

Why a shared listening key: a CurveZMQ client must know the server's public
key before it connects, and nodes reach one another by address alone (an
executor or scheduler binds an ephemeral port no one could have listed in
advance). So every node listens with the cluster's key pair and connects with
its own: a node proves who it is with its own key, which its peers check
against `allowed/`. What the shared key costs: a member of the cluster that
can sit on the path between two nodes (intercept their TCP connection) could
pose as the listening end; no outsider can, and no one can read captured
traffic. Which node address a key speaks for is proven per connection
(libprocess.origins), so a member cannot send as another node either.

Secret key files must be readable by their owner only (0600), as ssh demands.
`generate` writes a cluster's directories: one per node, each complete.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import zmq
import zmq.auth

from libprocess.errors import NodeError

NODE_KEY = "node"
CLUSTER_KEY = "cluster"
ALLOWED = "allowed"
ENVIRONMENT = "LIBPROCESS_CURVE_KEYS"  # a node's key directory, e.g. for executors
ZAP_DOMAIN = "libprocess"  # the authenticator's allow-list answers for this domain


class CurveKeyError(NodeError):
    """A key directory is missing, incomplete, unreadable or too open."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class CurveKeys:
    """A node's keys (z85 text as bytes) and the directory of the public keys it allows."""

    directory: Path
    public: bytes
    secret: bytes
    cluster_public: bytes
    cluster_secret: bytes
    allowed: Path


def load(directory: str | os.PathLike[str]) -> CurveKeys:
    """Read a node's key directory; CurveKeyError naming the problem in one line."""
    root = Path(directory)
    if not root.is_dir():
        raise CurveKeyError(f"curve key directory {root} does not exist")
    public, secret = _pair(root / f"{NODE_KEY}.key_secret")
    cluster_public, cluster_secret = _pair(root / f"{CLUSTER_KEY}.key_secret")
    allowed = root / ALLOWED
    if not allowed.is_dir() or not any(allowed.glob("*.key")):
        raise CurveKeyError(f"{allowed} holds no public keys (*.key): no peer could connect")
    for path in allowed.glob("*.key"):
        _public(path)
    return CurveKeys(
        directory=root.resolve(),
        public=public,
        secret=secret,
        cluster_public=cluster_public,
        cluster_secret=cluster_secret,
        allowed=allowed.resolve(),
    )


def _pair(path: Path) -> tuple[bytes, bytes]:
    if not path.is_file():
        raise CurveKeyError(f"secret key file {path} does not exist")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CurveKeyError(
            f"secret key file {path} is accessible by others (mode {mode & 0o777:o}); chmod 600"
        )
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as error:
        raise CurveKeyError(f"cannot read secret key file {path}: {error}") from None
    if secret is None or not _z85_key(public) or not _z85_key(secret):
        raise CurveKeyError(f"{path} holds no valid key pair")
    return public, secret


def _public(path: Path) -> bytes:
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as error:
        raise CurveKeyError(f"cannot read public key file {path}: {error}") from None
    if not _z85_key(public):
        raise CurveKeyError(f"{path} holds no valid public key")
    return public


def _z85_key(key: bytes) -> bool:
    return len(key) == 40


def generate(directory: str | os.PathLike[str], nodes: list[str]) -> list[Path]:
    """Write (or extend) a cluster's key directories: `directory/<node>/` for each node.

    The cluster key pair is made once and reused when the directory already has
    one; each new node gets its key pair, and every node's `allowed/` lists every
    node's public key. Returns the node directories. Secret files are 0600 and
    every directory 0700, made so before any secret is written.
    """
    root = Path(directory)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = sorted(p.parent for p in root.glob(f"*/{CLUSTER_KEY}.key_secret"))
    names = sorted({p.name for p in existing} | set(nodes))
    for name in names:
        if not name or "/" in name or name.startswith("."):
            raise CurveKeyError(f"bad node name {name!r}")
    if existing:
        cluster_public, cluster_secret = _pair(existing[0] / f"{CLUSTER_KEY}.key_secret")
    else:
        cluster_public, cluster_secret = zmq.curve_keypair()
    publics: dict[str, bytes] = {}
    for name in names:
        node_dir = root / name
        node_dir.mkdir(mode=0o700, exist_ok=True)
        if not (node_dir / f"{NODE_KEY}.key_secret").exists():
            public, secret = zmq.curve_keypair()
            _write_pair(node_dir, NODE_KEY, public, secret)
        publics[name] = _pair(node_dir / f"{NODE_KEY}.key_secret")[0]
        if not (node_dir / f"{CLUSTER_KEY}.key_secret").exists():
            _write_pair(node_dir, CLUSTER_KEY, cluster_public, cluster_secret)
    for name in names:
        allowed = root / name / ALLOWED
        allowed.mkdir(mode=0o700, exist_ok=True)
        for peer, public in publics.items():
            _write_public(allowed / f"{peer}.key", public)
    return [root / name for name in names]


def _write_pair(directory: Path, name: str, public: bytes, secret: bytes) -> None:
    _write_public(directory / f"{name}.key", public)
    _write_text(directory / f"{name}.key_secret", _certificate(public, secret), 0o600)


def _write_public(path: Path, public: bytes) -> None:
    _write_text(path, _certificate(public, None), 0o644)


def _certificate(public: bytes, secret: bytes | None) -> str:
    """ZeroMQ's certificate format (zmq.auth reads it), without a timestamp."""
    lines = ["#   ZeroMQ CURVE certificate (libprocess)", "metadata", "curve"]
    lines.append(f'    public-key = "{public.decode()}"')
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(path, mode)  # an existing file keeps its mode through os.open


def configure_server(socket: zmq.Socket[bytes], keys: CurveKeys) -> None:
    """The listening socket: CurveZMQ server with the cluster's key; ZAP checks each client."""
    socket.setsockopt(zmq.CURVE_SERVER, 1)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, keys.cluster_public)
    socket.setsockopt(zmq.CURVE_SECRETKEY, keys.cluster_secret)
    socket.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN.encode())


def configure_client(socket: zmq.Socket[bytes], keys: CurveKeys) -> None:
    """An outbound socket: this node's own key pair, the cluster's listening key."""
    socket.setsockopt(zmq.CURVE_SERVERKEY, keys.cluster_public)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
    socket.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
