"""Leader election in ZooKeeper (`--zk`), as Mesos's masters do it.

A `Contender` holds the master's ZooKeeper session for the life of the master
process. For each Master actor it publishes an ephemeral sequential znode
`<path>/json.info_<seq>` with the master's info as JSON and watches the
election: the lowest sequence leads. It tells the Master actor by `dispatch`:
`elected()` when this master leads, `leader_is(info)` when another does (or
None: nobody), `zookeeper_lost(why)` when the session is gone or the
connection has been down for a whole session timeout (another master may lead
by then). The master abdicates on losing leadership (master.base); the runner
then withdraws the old znode and contends again for a fresh Master actor.

kazoo calls back in its own threads; everything here crosses into the event
loop with `call_soon_threadsafe` before touching the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.recipe.watchers import ChildrenWatch

from libprocess import PID, Node
from zmesos.zookeeper import (
    ELECTION_PREFIX,
    LeaderInfo,
    ZooKeeperUrl,
    encode_leader_info,
    leader_of,
)
from zmesos.zookeeper.election import decode_leader_info

__all__ = ["Contender"]


class Contender:
    """One master process's candidacy. Methods run on the event loop unless said otherwise."""

    def __init__(self, url: ZooKeeperUrl, node: Node, session_timeout: float) -> None:
        self.url = url
        self.node = node
        self.session_timeout = session_timeout
        self.client = KazooClient(hosts=url.hosts, timeout=session_timeout)
        self.znode: str | None = None  # our election znode, once created
        self._loop = asyncio.get_running_loop()
        self._master: PID | None = None
        self._suspended: asyncio.TimerHandle | None = None
        self._last_leader: str | None = ""
        self._stopping = False
        self._candidacy = 0  # bumped per contend(): older watches stop

    async def start(self) -> None:
        """Connect (waits up to a session timeout); kazoo reconnects by itself afterwards."""
        self.client.add_listener(self._state_changed)
        await self._loop.run_in_executor(None, self._connect)

    def _connect(self) -> None:
        self.client.start(timeout=max(self.session_timeout, 5.0))
        self.client.ensure_path(self.url.path)

    async def contend(self, master: PID, info: LeaderInfo) -> None:
        """Publish `info` for the Master actor at `master`; retried until ZooKeeper takes it."""
        self._master = master
        self._last_leader = ""
        data = encode_leader_info(info)
        while not self._stopping:
            try:
                self.znode = await self._loop.run_in_executor(None, self._create, data)
                break
            except KazooException:
                await asyncio.sleep(min(self.session_timeout, 1.0))
        self._candidacy += 1
        candidacy = self._candidacy
        ChildrenWatch(
            self.client,
            self.url.path,
            lambda children: self._children_changed(candidacy, children),
            send_event=False,
        )

    def _create(self, data: bytes) -> str:
        return str(
            self.client.create(
                f"{self.url.path}/{ELECTION_PREFIX}",
                data,
                ephemeral=True,
                sequence=True,
                makepath=True,
            )
        )

    async def withdraw(self) -> None:
        """Delete our znode (if the session still has it): the next contender may lead."""
        znode, self.znode = self.znode, None
        self._master = None
        if znode is not None:
            with contextlib.suppress(KazooException):
                await self._loop.run_in_executor(None, self.client.delete, znode)

    async def stop(self) -> None:
        self._stopping = True
        await self.withdraw()
        with contextlib.suppress(KazooException):
            await self._loop.run_in_executor(None, self.client.stop)
        self.client.close()

    # -- kazoo's threads -------------------------------------------------------------

    def _children_changed(self, candidacy: int, children: list[str]) -> bool:
        """Runs in kazoo's callback thread; returns False to stop watching once superseded."""
        if candidacy != self._candidacy or self._master is None or self._stopping:
            return False
        leader = leader_of(children)
        info: LeaderInfo | None = None
        if leader is not None:
            with contextlib.suppress(NoNodeError, KazooException):
                data, _ = self.client.get(f"{self.url.path}/{leader}")
                info = decode_leader_info(data)
        elected = self.znode is not None and leader == self.znode.rsplit("/", 1)[-1]
        self._loop.call_soon_threadsafe(self._tell_master, elected, info)
        return True

    def _state_changed(self, state: str) -> None:
        """Runs in kazoo's thread on every connection state change."""
        self._loop.call_soon_threadsafe(self._connection_state, state)

    # -- back on the loop ------------------------------------------------------------

    def _tell_master(self, elected: bool, info: LeaderInfo | None) -> None:
        if self._master is None:
            return
        key = "elected" if elected else (info.pid if info is not None else None)
        if key == self._last_leader:
            return
        self._last_leader = key
        if elected:
            self._dispatch("elected")
        else:
            self._dispatch("leader_is", info)

    def _connection_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            if self._suspended is not None:
                self._suspended.cancel()
                self._suspended = None
            return
        if state == KazooState.LOST:
            self._dispatch("zookeeper_lost", "the ZooKeeper session expired")
            return
        if state == KazooState.SUSPENDED and self._suspended is None:
            # Disconnected: the session may live on; after a whole timeout it may not.
            self._suspended = self._loop.call_later(
                self.session_timeout,
                self._dispatch,
                "zookeeper_lost",
                "disconnected from ZooKeeper for a session timeout",
            )

    def _dispatch(self, method: str, *args: Any) -> None:
        self._suspended = None if method == "zookeeper_lost" else self._suspended
        if self._master is None:
            return
        future = self.node.dispatch(self._master, method, *args)
        future.add_done_callback(_consume)


def _consume(future: asyncio.Future[Any]) -> None:
    """The master may have ended meanwhile: its dispatch fails, and that is fine."""
    if not future.cancelled():
        future.exception()
