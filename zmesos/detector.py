"""Finding the master's actor from the address a user gives (Mesos's MasterDetector).

A user names a master as a Mesos user would: `host:5050`, the master's HTTP
address. zmesos's agents, schedulers and `zmesos execute` learn the master's
actor (ZeroMQ) endpoint from it with `GET /actor`, which answers
`{"pid": "master@host:port"}`. `master@host:port` names the actor itself
(tests and internal use) and needs no lookup.

`master_detector(text)` picks a detector by the address's form from one
table, `DETECTORS` (scheme -> constructor): `zk://` joins it with ZooKeeper.
Actors call `detect()` on every (re-)registration attempt, so a master that
restarts on another actor port, or a new leader, is found again. Operator
commands call `http_url()`: the (leading) master's HTTP address, where the
operator endpoints are; `zk://` reads it from the leader's znode.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import re
import threading
from collections.abc import Callable
from typing import cast

import aiohttp
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.recipe.watchers import ChildrenWatch

from libprocess import PID
from zmesos.errors import FlagsError
from zmesos.zookeeper import LeaderInfo, parse_zk_url, read_leader

__all__ = [
    "DETECTORS",
    "ActorDetector",
    "HttpDetector",
    "MasterDetector",
    "MasterNotFound",
    "ZooKeeperDetector",
    "master_detector",
]

ACTOR_PATH = "/actor"
DETECT_TIMEOUT = 5.0  # seconds one HTTP lookup may take
_HOST_PORT = re.compile(r"^(?P<host>[^\s:/@]+|\[[0-9a-fA-F:.]+\]):(?P<port>\d+)$")


class MasterNotFound(Exception):
    """One lookup found no master (nobody answered, or the answer was not a master)."""


class MasterDetector(abc.ABC):
    """Where the master's actor is. `address` is what the user gave.

    `watches`: whether `changed` tells of each new leader as it is elected (zk://,
    as Mesos's agents and schedulers learn of it); the others are only asked.
    """

    watches = False

    def __init__(self, address: str) -> None:
        self.address = address

    @property
    def fixed(self) -> PID | None:
        """The actor's PID when the address names it (no lookup needed), else None."""
        return None

    @abc.abstractmethod
    async def detect(self) -> PID:
        """The master's actor PID now; MasterNotFound when this attempt fails."""

    async def changed(self, previous: PID | None) -> PID | None:
        """The leading master's actor once it is not `previous` (None: none leads).

        Only where `watches`; answers at once when the leader now is not `previous`.
        KazooException or KazooTimeoutError when ZooKeeper cannot be reached.
        """
        raise NotImplementedError(f"{self.address} cannot be watched")

    async def http_url(self) -> str:
        """`http://host:port` of the master's HTTP now; MasterNotFound when this attempt fails."""
        raise MasterNotFound(
            f"{self.address} names the master's actor; give its HTTP address (HOST:PORT) or zk://"
        )

    def close(self) -> None:  # noqa: B027 (most detectors hold nothing)
        """Release what lookups hold (a ZooKeeper session); lookups may not follow."""

    def __str__(self) -> str:
        return self.address


class ActorDetector(MasterDetector):
    """`master@host:port`: the actor itself."""

    def __init__(self, pid: PID) -> None:
        super().__init__(str(pid))
        self.pid = pid

    @property
    def fixed(self) -> PID:
        return self.pid

    async def detect(self) -> PID:
        return self.pid


class HttpDetector(MasterDetector):
    """`host:port` or `http://host:port`: the master's HTTP address; asks it `GET /actor`."""

    def __init__(self, address: str, host: str, port: int, scheme: str = "http") -> None:
        super().__init__(address)
        self.base_url = f"{scheme}://{host}:{port}"
        self.url = f"{self.base_url}{ACTOR_PATH}"

    async def http_url(self) -> str:
        return self.base_url

    async def detect(self) -> PID:
        timeout = aiohttp.ClientTimeout(total=DETECT_TIMEOUT)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(self.url) as response,
            ):
                if response.status != 200:
                    raise MasterNotFound(f"{self.url} answered {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise MasterNotFound(f"{self.url}: {error or type(error).__name__}") from None
        try:
            return PID.parse(answer["pid"])
        except (TypeError, KeyError, ValueError):
            raise MasterNotFound(f"{self.url} did not name a master actor") from None


def _host_port(text: str) -> tuple[str, int]:
    match = _HOST_PORT.match(text)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise FlagsError(f"--master: bad address {text!r}: expected HOST:PORT")
    return match["host"], int(match["port"])


def _http(address: str) -> MasterDetector:
    rest = address.removeprefix("http://").rstrip("/")
    return HttpDetector(address, *_host_port(rest))


def _https(address: str) -> MasterDetector:
    """A master serving HTTPS; its certificate is checked against the system's CAs
    (or the file in SSL_CERT_FILE)."""
    rest = address.removeprefix("https://").rstrip("/")
    return HttpDetector(address, *_host_port(rest), scheme="https")


class ZooKeeperDetector(MasterDetector):
    """`zk://host:port[,host:port]/path`: the elected leader's actor, read from ZooKeeper.

    One ZooKeeper session per detector, opened on the first lookup and kept;
    each lookup reads the election's znodes afresh (zmesos.zookeeper.election),
    in a worker thread, so a new leader is found on the next attempt. `changed`
    watches the election instead: ZooKeeper tells the session when a contender's
    znode comes or goes (the dead leader's, once its session expires), and the
    leader is read then, once for every caller.
    """

    watches = True

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.url = parse_zk_url(address, "--master")
        self._client: KazooClient | None = None
        self._opening = threading.Lock()  # lookups and the watch open one session
        # The watch (started by the first `changed`): the leader it saw last (_UNSEEN
        # before its first answer), and the callers waiting for a change.
        self._watching: asyncio.Future[None] | None = None
        self._watched: PID | object | None = _UNSEEN
        self._waiting: list[asyncio.Future[None]] = []

    async def changed(self, previous: PID | None) -> PID | None:
        loop = asyncio.get_running_loop()
        if self._watching is None:
            self._watching = loop.run_in_executor(None, self._start_watch, loop)
        try:
            await asyncio.shield(self._watching)
        except (KazooException, KazooTimeoutError):
            self._watching = None  # the next call tries again
            raise
        while self._watched is _UNSEEN or self._watched == previous:
            waiter = loop.create_future()
            self._waiting.append(waiter)
            await waiter
        return cast("PID | None", self._watched)

    def _start_watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """In a worker thread: open the session if needed, watch the election's znodes."""
        client = self._session()
        client.ensure_path(self.url.path)  # masters may not have contended yet

        def children_changed(_children: list[str]) -> bool:
            """In kazoo's thread: read the leader, hand it to the loop. False stops it."""
            if self._client is not client:
                return False
            with contextlib.suppress(KazooException, KazooTimeoutError):
                loop.call_soon_threadsafe(self._leader_seen, _leader_pid(self._read_leader()))
            return True

        ChildrenWatch(client, self.url.path, children_changed, send_event=False)

    def _leader_seen(self, leader: PID | None) -> None:
        self._watched = leader
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)

    async def detect(self) -> PID:
        leader = await self._leader()
        try:
            return PID.parse(leader.pid)
        except ValueError:
            raise MasterNotFound(f"the leader at {self.url} names no actor") from None

    async def http_url(self) -> str:
        leader = await self._leader()
        if not leader.hostname or not 0 < leader.port < 65536:
            raise MasterNotFound(f"the leader at {self.url} names no HTTP address")
        return f"{leader.scheme}://{leader.http_address}"

    async def _leader(self) -> LeaderInfo:
        loop = asyncio.get_running_loop()
        try:
            leader = await loop.run_in_executor(None, self._read_leader)
        except (KazooException, KazooTimeoutError) as error:
            raise MasterNotFound(f"{self.url}: {error or type(error).__name__}") from None
        if leader is None:
            raise MasterNotFound(f"no master leads at {self.url}")
        return leader

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # Closing a session waits on the network: not on the caller's loop.
            threading.Thread(target=_stop_client, args=(client,), daemon=True).start()

    def _read_leader(self) -> LeaderInfo | None:
        return read_leader(self._session(), self.url.path)

    def _session(self) -> KazooClient:
        """The detector's ZooKeeper session, opened on first use (blocking)."""
        with self._opening:
            if self._client is None:
                client = KazooClient(hosts=self.url.hosts, timeout=DETECT_TIMEOUT)
                client.start(timeout=DETECT_TIMEOUT)
                self._client = client
            return self._client


_UNSEEN = object()  # the watch has not answered yet


def _leader_pid(leader: LeaderInfo | None) -> PID | None:
    """The leader's actor, or None when none leads (or its znode names no actor)."""
    if leader is None:
        return None
    try:
        return PID.parse(leader.pid)
    except ValueError:
        return None


def _stop_client(client: KazooClient) -> None:
    with contextlib.suppress(KazooException, KazooTimeoutError):
        client.stop()
    client.close()


DETECTORS: dict[str, Callable[[str], MasterDetector]] = {
    "http": _http,
    "https": _https,
    "zk": ZooKeeperDetector,
}


def master_detector(address: str | PID) -> MasterDetector:
    """The detector for `address`; FlagsError (one line, naming --master) when it is malformed.

    `master@host:port` -> the actor; `scheme://...` -> DETECTORS[scheme];
    `host:port` -> HTTP.
    """
    if isinstance(address, PID):
        return ActorDetector(address)
    text = address.strip()
    if "://" in text:
        scheme = text.split("://", 1)[0]
        if scheme not in DETECTORS:
            raise FlagsError(f"--master: unsupported scheme in {text!r}")
        return DETECTORS[scheme](text)
    if "@" in text:
        try:
            return ActorDetector(PID.parse(text))
        except ValueError:
            raise FlagsError(f"--master: bad address {text!r}: expected name@HOST:PORT") from None
    return _http(text)
