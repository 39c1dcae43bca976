"""ZooKeeper, where a cluster's masters elect a leader and everyone finds it.

parse_zk_url        `zk://host:port/path` -> hosts and path (zmesos.zookeeper.url)
leader_of, etc.     the election's znodes and the leader's info (zmesos.zookeeper.election)
ZooKeeperServer     a local server for tests, benchmarks, `zmesos local --masters N`
"""

import logging

from zmesos.zookeeper.election import (
    ELECTION_PREFIX,
    LeaderInfo,
    decode_leader_info,
    encode_leader_info,
    leader_of,
    read_leader,
)
from zmesos.zookeeper.server import ZooKeeperServer, ZooKeeperUnavailable
from zmesos.zookeeper.url import ZooKeeperUrl, parse_zk_url

__all__ = [
    "ELECTION_PREFIX",
    "LeaderInfo",
    "ZooKeeperServer",
    "ZooKeeperUnavailable",
    "ZooKeeperUrl",
    "decode_leader_info",
    "encode_leader_info",
    "leader_of",
    "parse_zk_url",
    "read_leader",
]

# kazoo logs every reconnection attempt; the masters and detectors log what matters.
logging.getLogger("kazoo").setLevel(logging.ERROR)
