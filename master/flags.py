"""The master's flags: Mesos's names in snake_case (`--allocation-interval` on the command line)."""

from __future__ import annotations

import dataclasses
import re
import uuid

from zmesos.authentication import load_credentials
from zmesos.authorization import Acls, load_acls
from zmesos.errors import AclsError, CredentialsError, FlagsError
from zmesos.flags import flag
from zmesos.zookeeper import parse_zk_url

REGISTRIES = ("file", "in_memory")
_RESOURCE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclasses.dataclass
class MasterFlags:
    """Settings of one master. Durations are seconds on the runtime clock.

    `offer_timeout` None keeps offers until they are used, declined or
    rescinded for another reason (Mesos's default). `port` is the address users
    name (HTTP: operator endpoints and the v1 APIs); `actor_port` is the actor
    (ZeroMQ) endpoint, which agents and schedulers learn over HTTP (`GET
    /actor`); 0 binds either to an ephemeral port. `master_id` None draws a fresh
    UUID, the prefix of every agent, framework and offer id this master hands out.
    The registry is a file in `work_dir` when `registry` is "file" and a work
    dir is given; without a work dir it is kept in memory (and said so at start).
    With `zk` the masters elect a leader in ZooKeeper and the registry lives
    there (master.election, master.registry.zookeeper).
    """

    ip: str = flag("127.0.0.1", "address the master binds and advertises")
    port: int = flag(5050, "HTTP port users name the master by (operator endpoints, v1 APIs)")
    actor_port: int = flag(
        0, "port of the actor endpoint; clients learn it over HTTP (0: any)", mesos=False
    )
    hostname: str = flag("", "hostname reported to frameworks (the ip when empty)")
    allocation_interval: float = flag(1.0, "how often the allocator runs, besides after events")
    offer_timeout: float | None = flag(None, "rescind offers unused for this long (none: never)")
    agent_ping_timeout: float = flag(15.0, "time an agent has to answer a ping")
    max_agent_ping_timeouts: int = flag(5, "missed pings before an agent is removed")
    max_completed_frameworks: int = flag(50, "finished frameworks kept for /state")
    max_completed_tasks_per_framework: int = flag(
        1000, "finished tasks kept per framework for /state"
    )
    master_id: str | None = flag(
        None, "prefix of every id this master hands out (random when unset)", mesos=False
    )
    work_dir: str = flag("", "where the file registry lives (registry.json); none: in memory")
    registry: str = flag(
        "file", "where the registry lives: file (in --work-dir) or in_memory (lost on restart)"
    )
    zk: str = flag(
        "", "zk://HOST:PORT[,HOST:PORT]/PATH: elect a leader there and keep the registry there"
    )
    zk_session_timeout: float = flag(
        10.0, "ZooKeeper session timeout: a dead leader's candidacy ends after this"
    )
    agent_reregister_timeout: float = flag(
        600.0, "after a master failover, time agents have to re-register before unreachable"
    )
    registry_max_agent_age: float = flag(
        14 * 86400.0, "unreachable and gone agents are forgotten after this long"
    )
    registry_gc_interval: float = flag(
        900.0, "how often unreachable and gone agents past their age are forgotten"
    )
    fair_sharing_excluded_resource_names: str = flag(
        "", "comma-separated resource names (e.g. gpus) left out of DRF dominant shares"
    )
    filter_gpu_resources: bool = flag(
        True, "offer agents that have gpus only to frameworks with GPU_RESOURCES"
    )
    credentials: str = flag(
        "",
        'JSON file {"credentials": [{"principal": .., "secret": ..}]}: who may authenticate',
    )
    authenticate_frameworks: bool = flag(
        False, "refuse frameworks that did not authenticate (needs --credentials)"
    )
    authenticate_agents: bool = flag(
        False, "refuse agents that did not authenticate (needs --credentials)"
    )
    authentication_timeout: float = flag(
        15.0, "time a client has to finish authenticating once it started"
    )
    acls: str = flag("", "JSON file of ACLs in Mesos's format: who may do what (none: anyone)")
    # principal -> secret, read from --credentials when the flags are made.
    credential_table: dict[str, str] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # Read from --acls when the flags are made.
    acl_rules: Acls | None = dataclasses.field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if self.allocation_interval <= 0:
            raise FlagsError("--allocation-interval must be > 0")
        if self.offer_timeout is not None and self.offer_timeout <= 0:
            raise FlagsError("--offer-timeout must be > 0 (or none for no timeout)")
        for name in ("port", "actor_port"):
            if not 0 <= getattr(self, name) < 65536:
                raise FlagsError(
                    f"--{name.replace('_', '-')}: {getattr(self, name)} is out of range"
                )
        if self.agent_ping_timeout <= 0:
            raise FlagsError("--agent-ping-timeout must be > 0")
        if self.max_agent_ping_timeouts < 1:
            raise FlagsError("--max-agent-ping-timeouts must be >= 1")
        for name in ("max_completed_frameworks", "max_completed_tasks_per_framework"):
            if getattr(self, name) < 0:
                raise FlagsError(f"--{name.replace('_', '-')}: must not be negative")
        if self.zk:
            parse_zk_url(self.zk)
        if self.zk_session_timeout <= 0:
            raise FlagsError("--zk-session-timeout must be > 0")
        if self.registry not in REGISTRIES:
            raise FlagsError(f"--registry must be one of {', '.join(REGISTRIES)}")
        for name in ("agent_reregister_timeout", "registry_max_agent_age", "registry_gc_interval"):
            if getattr(self, name) <= 0:
                raise FlagsError(f"--{name.replace('_', '-')} must be > 0")
        self.fair_sharing_excluded_names()  # raises on a bad list
        if self.credentials:
            try:
                self.credential_table = load_credentials(self.credentials)
            except CredentialsError as error:
                raise FlagsError(f"--credentials: {error}") from None
        for name in ("authenticate_frameworks", "authenticate_agents"):
            if getattr(self, name) and not self.credentials:
                raise FlagsError(f"--{name.replace('_', '-')} needs --credentials")
        if self.acls:
            try:
                self.acl_rules = load_acls(self.acls)
            except AclsError as error:
                raise FlagsError(f"--acls: {error}") from None
        if self.authentication_timeout <= 0:
            raise FlagsError("--authentication-timeout must be > 0")

    def fair_sharing_excluded_names(self) -> tuple[str, ...]:
        """`--fair-sharing-excluded-resource-names` as names; FlagsError if malformed."""
        text = self.fair_sharing_excluded_resource_names
        if not text.strip():
            return ()
        names = tuple(name.strip() for name in text.split(","))
        for name in names:
            if not _RESOURCE_NAME.match(name):
                raise FlagsError(
                    f"--fair-sharing-excluded-resource-names: {name!r} is not a resource name"
                )
        return names

    def new_master_id(self) -> str:
        return self.master_id or str(uuid.uuid4())
