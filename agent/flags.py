"""The agent's flags (Mesos's names, snake_case) and the machine resources they resolve to.

`AgentFlags` validates itself on construction: a bad master address, resource
string or attribute string raises `FlagsError` (a ValueError) with a one-line
reason the CLI can print before exiting. Durations are seconds; `parse_duration`
reads Mesos's spellings (`5secs`, `1mins`, `500ms`) for the command line.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

from agent.errors import FlagsError
from agent.isolation import parse_isolation
from zmesos.authentication import Credential, load_credential
from zmesos.authorization import Acls, load_acls
from zmesos.detector import MasterDetector, master_detector
from zmesos.errors import AclsError, CredentialsError
from zmesos.flags import flag, parse_duration, parse_resources
from zmesos.resources import Resources

__all__ = [
    "DEFAULT_PORTS",
    "AgentFlags",
    "detect_resources",
    "parse_attributes",
    "parse_duration",
]

RECOVER_MODES = ("reconnect", "cleanup")
DEFAULT_PORTS = "[31000-32000]"
# Mesos leaves min(1 GB, half of it) of memory and min(5 GB, half of it) of disk to the host.
MEMORY_RESERVE_MB = 1024.0
DISK_RESERVE_MB = 5 * 1024.0
_MB = 1024 * 1024


def _default_work_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "zmesos", "agent")


@dataclasses.dataclass(frozen=True)
class AgentFlags:
    """What an agent is told at start. Validated on construction (FlagsError)."""

    master: str = flag("", "the master's HOST:PORT (its HTTP address; or master@HOST:PORT)")
    ip: str = flag("127.0.0.1", "address the agent binds and advertises")
    port: int = flag(5051, "HTTP port the agent answers on and advertises (0: any free port)")
    actor_port: int = flag(0, "port of the agent's actor endpoint (0: any free port)", mesos=False)
    resources: str = flag(
        "", "e.g. cpus:4;mem:2048;ports:[31000-32000]; what is left out is detected"
    )
    attributes: str = flag("", "e.g. rack:a;zone:b")
    work_dir: str = dataclasses.field(
        default_factory=_default_work_dir,
        metadata={"help": "where sandboxes, checkpoints (meta/) and volumes live"},
    )
    hostname: str = flag("", "hostname to report to the master (default: the machine's)")
    registration_backoff_factor: float = flag(
        1.0, "first registration retry within this; doubles up to a minute"
    )
    executor_shutdown_grace_period: float = flag(
        5.0, "time an executor has to stop after ShutdownExecutor before it is killed"
    )
    executor_registration_timeout: float = flag(
        60.0, "time an executor has to register before it is killed"
    )
    recovery_timeout: float = flag(
        15 * 60.0, "time executors of checkpointing frameworks wait for a lost agent"
    )
    recover: str = flag(
        "reconnect",
        "on start: reconnect (to the executors that outlived the last run, keeping the "
        "agent id) or cleanup (kill them, report their tasks, start clean)",
    )
    # Mesos waits 2 s; hundreds of Python executors on a busy machine need longer, and
    # the wait ends as soon as every recovered executor is back.
    executor_reregistration_timeout: float = flag(
        10.0, "after a restart, time recovered executors have to re-register before they are killed"
    )
    executor_fork_server: bool = flag(
        True,
        "fork command executors from a process that has imported them (faster launches)",
        mesos=False,
    )
    gc_delay: float = flag(
        7 * 24 * 3600.0,
        "how long sandboxes of finished executors and frameworks are kept (Mesos: 1weeks); "
        "less as the disk fills",
    )
    gc_disk_headroom: float = flag(
        0.1,
        "fraction of the disk kept free: sandboxes may live gc-delay * max(0, 1 - headroom - "
        "disk usage)",
    )
    disk_watch_interval: float = flag(
        60.0, "how often disk usage is checked to collect sandboxes sooner"
    )
    fetcher_cache_size: int = flag(
        2 << 30, "bytes the fetcher cache under <work-dir>/fetch may hold (2GB, 512MB; 0: no cache)"
    )
    isolation: str = flag(
        "",
        "isolators, comma-separated: cgroups/cpu, cgroups/mem, cgroups/pids, posix/cpu, "
        "posix/mem, disk/du (default: the cgroups ones the machine has, else posix; and disk/du)",
    )
    cgroups_root: str = flag("zmesos", "directory in each cgroup hierarchy for the containers")
    cgroups_enable_cfs: bool = flag(
        False, "cgroups/cpu: also cap each container at its cpus with a CFS quota"
    )
    cgroups_max_pids: int = flag(0, "cgroups/pids: most processes per container (0: no limit)")
    container_disk_watch_interval: float = flag(
        15.0, "disk/du: how often each sandbox's and volume's usage is measured"
    )
    enforce_container_disk_quota: bool = flag(
        False, "disk/du: kill a container that uses more disk than its tasks were given"
    )
    credential: str = flag(
        "", 'JSON file {"principal": .., "secret": ..}: authenticate with the master as it'
    )
    authentication_timeout: float = flag(
        15.0, "time an authentication with the master may take before it is tried again"
    )
    acls: str = flag(
        "", "JSON file of ACLs in Mesos's format; the agent asks access_sandboxes (none: anyone)"
    )
    # Read from --credential and --acls when the flags are made.
    credential_value: Credential | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )
    acl_rules: Acls | None = dataclasses.field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if self.master:
            master_detector(self.master)
        if self.resources:
            parse_resources(self.resources)
        parse_attributes(self.attributes)
        if not self.work_dir:
            raise FlagsError("--work-dir must not be empty")
        if self.recover not in RECOVER_MODES:
            raise FlagsError(
                f"--recover: {self.recover!r} is not one of {', '.join(RECOVER_MODES)}"
            )
        parse_isolation(self.isolation)
        if not self.cgroups_root.strip("/") or ".." in Path(self.cgroups_root).parts:
            raise FlagsError(f"--cgroups-root: {self.cgroups_root!r} is not a relative directory")
        if self.cgroups_max_pids < 0:
            raise FlagsError("--cgroups-max-pids: must not be negative")
        if self.container_disk_watch_interval <= 0:
            raise FlagsError("--container-disk-watch-interval: must be positive")
        for name in ("port", "actor_port"):
            if not 0 <= getattr(self, name) < 65536:
                raise FlagsError(
                    f"--{name.replace('_', '-')}: {getattr(self, name)} is out of range"
                )
        for name in (
            "registration_backoff_factor",
            "executor_shutdown_grace_period",
            "executor_registration_timeout",
            "executor_reregistration_timeout",
            "recovery_timeout",
            "gc_delay",
            "fetcher_cache_size",
        ):
            if getattr(self, name) < 0:
                raise FlagsError(f"--{name.replace('_', '-')}: must not be negative")
        if not 0.0 <= self.gc_disk_headroom <= 1.0:
            raise FlagsError(
                f"--gc-disk-headroom: {self.gc_disk_headroom} is not between 0.0 and 1.0"
            )
        if not self.disk_watch_interval > 0:
            raise FlagsError("--disk-watch-interval: must be more than zero")
        if self.authentication_timeout <= 0:
            raise FlagsError("--authentication-timeout must be > 0")
        if self.credential:
            try:
                object.__setattr__(self, "credential_value", load_credential(self.credential))
            except CredentialsError as error:
                raise FlagsError(f"--credential: {error}") from None
        if self.acls:
            try:
                object.__setattr__(self, "acl_rules", load_acls(self.acls))
            except AclsError as error:
                raise FlagsError(f"--acls: {error}") from None

    @property
    def master_detector(self) -> MasterDetector:
        """How to find the master's actor; FlagsError when --master is missing."""
        if not self.master:
            raise FlagsError("--master is required (HOST:PORT)")
        return master_detector(self.master)

    @property
    def attribute_map(self) -> dict[str, str]:
        return parse_attributes(self.attributes)


def parse_attributes(text: str) -> dict[str, str]:
    """`rack:a;zone:b` -> {"rack": "a", "zone": "b"}; FlagsError naming the bad entry."""
    attributes: dict[str, str] = {}
    for entry in text.split(";"):
        if not entry.strip():
            continue
        name, colon, value = entry.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not name or not value:
            raise FlagsError(f"--attributes: bad entry {entry.strip()!r}: expected name:value")
        if name in attributes:
            raise FlagsError(f"--attributes: {name!r} is given twice")
        attributes[name] = value
    return attributes


def detect_resources(flags: AgentFlags) -> Resources:
    """The agent's resources: --resources, plus whatever of cpus/mem/disk/ports it leaves out.

    Detected as Mesos does: cpus = the machine's CPU count; mem = total memory
    minus min(1 GB, half); disk = free space under work_dir minus min(5 GB, half);
    ports = [31000-32000]. Amounts are whole megabytes.
    """
    given = Resources.parse(flags.resources) if flags.resources else Resources()
    names = given.names()
    detected: list[str] = []
    if "cpus" not in names:
        detected.append(f"cpus:{os.cpu_count() or 1}")
    if "mem" not in names:
        total = _total_memory_mb()
        detected.append(f"mem:{int(total - min(MEMORY_RESERVE_MB, total / 2))}")
    if "disk" not in names:
        free = _free_disk_mb(flags.work_dir)
        detected.append(f"disk:{int(free - min(DISK_RESERVE_MB, free / 2))}")
    if "ports" not in names:
        detected.append(f"ports:{DEFAULT_PORTS}")
    if not detected:
        return given
    return given + Resources.parse(";".join(detected))


def _total_memory_mb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / _MB
    except (ValueError, OSError):
        return 0.0


def _free_disk_mb(work_dir: str) -> float:
    path = Path(work_dir).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free / _MB
    except OSError:
        return 0.0
