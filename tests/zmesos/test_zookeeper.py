"""zk:// URLs, the election's znodes and the ZooKeeper detector, against a real server."""

from __future__ import annotations

import asyncio
import json
import socket

import msgspec
import pytest
from kazoo.client import KazooClient

from libprocess import PID
from tests.conftest import _no_zookeeper
from zmesos.detector import MasterNotFound, master_detector
from zmesos.errors import FlagsError
from zmesos.zookeeper import (
    ELECTION_PREFIX,
    LeaderInfo,
    ZooKeeperServer,
    ZooKeeperUnavailable,
    decode_leader_info,
    encode_leader_info,
    leader_of,
    parse_zk_url,
)


def test_zookeeper_url_parses_hosts_and_path_and_refuses_bad_ones():
    url = parse_zk_url("zk://10.0.0.1:2181,zk2:2182/mesos/prod")
    assert (url.hosts, url.path) == ("10.0.0.1:2181,zk2:2182", "/mesos/prod")
    for bad in ("http://h:1/p", "zk://h:1", "zk://h/p", "zk://h:99999/p", "zk://:1/p", "zk://h:1/"):
        with pytest.raises(FlagsError, match="--zk"):
            parse_zk_url(bad)


def test_zookeeper_leader_is_the_lowest_sequence():
    children = [f"{ELECTION_PREFIX}0000000012", "other", f"{ELECTION_PREFIX}0000000003"]
    assert leader_of(children) == f"{ELECTION_PREFIX}0000000003"
    assert leader_of(["other"]) is None


def test_zookeeper_leader_info_carries_an_https_scheme_only_when_it_is_one():
    plain = LeaderInfo(id="a", pid="master@127.0.0.1:7001", hostname="h", port=5050)
    assert "scheme" not in json.loads(encode_leader_info(plain))  # as Mesos writes it
    assert decode_leader_info(encode_leader_info(plain)) == plain
    tls = msgspec.structs.replace(plain, scheme="https")
    assert decode_leader_info(encode_leader_info(tls)) == tls
    odd = json.loads(encode_leader_info(plain)) | {"scheme": "gopher"}
    assert decode_leader_info(json.dumps(odd).encode()) == plain


async def test_zookeeper_detector_finds_the_leader_and_the_next_one(zookeeper, zk_url):
    path = parse_zk_url(zk_url).path
    client = KazooClient(hosts=zookeeper.hosts)
    client.start(timeout=10)
    try:
        detector = master_detector(zk_url)
        with pytest.raises(MasterNotFound, match="no master leads"):
            await detector.detect()
        first, second = (
            client.create(
                f"{path}/{ELECTION_PREFIX}",
                encode_leader_info(
                    LeaderInfo(
                        id=name,
                        pid=f"master@127.0.0.1:{port}",
                        hostname="h",
                        port=5050,
                        scheme=scheme,
                    )
                ),
                ephemeral=True,
                sequence=True,
                makepath=True,
            )
            for name, port, scheme in (("a", 7001, "http"), ("b", 7002, "https"))
        )
        assert await detector.detect() == PID.parse("master@127.0.0.1:7001")
        assert await detector.http_url() == "http://h:5050"
        client.delete(first)
        assert await detector.detect() == PID.parse("master@127.0.0.1:7002")
        assert await detector.http_url() == "https://h:5050"  # the leader serves HTTPS
        client.set(second, b"not json")
        with pytest.raises(MasterNotFound):
            await detector.detect()
    finally:
        client.stop()
        client.close()


async def test_zookeeper_detector_watch_tells_of_each_new_leader(zookeeper, zk_url):
    path = parse_zk_url(zk_url).path + "/watched"
    client = KazooClient(hosts=zookeeper.hosts)
    client.start(timeout=10)
    detector = master_detector(f"{zk_url}/watched")
    try:
        assert detector.watches and not master_detector("h:5050").watches
        waiting = asyncio.ensure_future(detector.changed(None))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # none leads yet: no change from none

        def contend(name: str, port: int) -> str:
            info = LeaderInfo(id=name, pid=f"master@127.0.0.1:{port}", hostname="h", port=5050)
            return client.create(
                f"{path}/{ELECTION_PREFIX}",
                encode_leader_info(info),
                ephemeral=True,
                sequence=True,
                makepath=True,
            )

        first = contend("a", 7001)
        leader = await asyncio.wait_for(waiting, 10)
        assert leader == PID.parse("master@127.0.0.1:7001")
        contend("b", 7002)  # a standby: the leader stays, nobody is told
        waiting = asyncio.ensure_future(detector.changed(leader))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        client.delete(first)  # the leader's znode goes (its session expired)
        assert await asyncio.wait_for(waiting, 10) == PID.parse("master@127.0.0.1:7002")
    finally:
        detector.close()
        client.stop()
        client.close()


def test_zookeeper_server_that_cannot_start_says_why(tmp_path):
    """A server whose port is taken exits; the error carries the reason from its log."""
    problem = ZooKeeperServer.available()
    if problem is not None:
        _no_zookeeper(problem)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = ZooKeeperServer(tmp_path / "zookeeper", port=taken.getsockname()[1])
        with pytest.raises(ZooKeeperUnavailable) as refused:
            server.start()
    message = str(refused.value)
    assert message.startswith("ZooKeeper exited (1); the end of its log")
    assert "java.net.BindException: Address already in use" in message
    assert "\tat " not in message  # stack frames left out
    assert "Address already in use" in server.log_path.read_text()
