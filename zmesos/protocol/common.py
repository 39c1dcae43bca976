"""Values every conversation shares: ids, task states, task/executor/framework/agent info.

Names follow Mesos (include/mesos/mesos.proto), shortened where the protobuf
nesting only added noise. Resources travel as lists of `Resource` structs;
`Resources.from_list` turns them back into arithmetic values.

Like the messages that carry them (libprocess.Message), these are frozen values
the garbage collector does not track (`gc=False`): a master holds one TaskInfo
per task, and a failover brings 100,000 of them back at once.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, Literal

import msgspec

from libprocess.pid import PID_REGEX
from zmesos.resources import Resource

# Types that make decoding refuse a bad value at the edge, before any handler runs.
# The wire keeps plain strings: any MessagePack library reads and writes them.
MAX_ID_LENGTH = 255
# An id one node gives another (framework, agent, executor, offer): empty where it
# means "not set"; at most 255 characters without '/', whitespace or control
# characters. Ids a framework chooses for its tasks and executors stay plain strings:
# the master refuses bad ones back to the framework (TASK_ERROR), as Mesos does.
ID = Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH, pattern=r"^[^/\s\x00-\x1f\x7f]*$")]
# A process id, `name@host:port` with a port in 1-65535.
PIDText = Annotated[str, msgspec.Meta(pattern=PID_REGEX)]
# A process id, or empty where there is none.
OptionalPIDText = Annotated[str, msgspec.Meta(pattern=f"^$|{PID_REGEX}")]


class TaskState(enum.StrEnum):
    STAGING = "TASK_STAGING"
    STARTING = "TASK_STARTING"
    RUNNING = "TASK_RUNNING"
    KILLING = "TASK_KILLING"
    FINISHED = "TASK_FINISHED"
    FAILED = "TASK_FAILED"
    KILLED = "TASK_KILLED"
    ERROR = "TASK_ERROR"
    LOST = "TASK_LOST"
    DROPPED = "TASK_DROPPED"
    UNREACHABLE = "TASK_UNREACHABLE"
    GONE = "TASK_GONE"
    GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    UNKNOWN = "TASK_UNKNOWN"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        TaskState.FINISHED,
        TaskState.FAILED,
        TaskState.KILLED,
        TaskState.ERROR,
        TaskState.LOST,
        TaskState.DROPPED,
        TaskState.GONE,
        TaskState.GONE_BY_OPERATOR,
    }
)


class Source(enum.StrEnum):
    MASTER = "SOURCE_MASTER"
    AGENT = "SOURCE_AGENT"
    EXECUTOR = "SOURCE_EXECUTOR"


class Reason(enum.StrEnum):
    """Why a task reached its state (Mesos's TaskStatus.Reason, the ones we use)."""

    COMMAND_EXECUTOR_FAILED = "REASON_COMMAND_EXECUTOR_FAILED"
    EXECUTOR_REGISTRATION_TIMEOUT = "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
    EXECUTOR_REREGISTRATION_TIMEOUT = "REASON_EXECUTOR_REREGISTRATION_TIMEOUT"
    EXECUTOR_TERMINATED = "REASON_EXECUTOR_TERMINATED"
    EXECUTOR_UNREGISTERED = "REASON_EXECUTOR_UNREGISTERED"
    FRAMEWORK_REMOVED = "REASON_FRAMEWORK_REMOVED"
    INVALID_OFFERS = "REASON_INVALID_OFFERS"
    RECONCILIATION = "REASON_RECONCILIATION"
    RESOURCES_UNKNOWN = "REASON_RESOURCES_UNKNOWN"
    AGENT_REMOVED = "REASON_SLAVE_REMOVED"
    AGENT_REMOVED_BY_OPERATOR = "REASON_SLAVE_REMOVED_BY_OPERATOR"
    AGENT_DISCONNECTED = "REASON_SLAVE_DISCONNECTED"
    AGENT_RESTARTED = "REASON_SLAVE_RESTARTED"
    AGENT_UNKNOWN = "REASON_SLAVE_UNKNOWN"
    TASK_INVALID = "REASON_TASK_INVALID"
    TASK_UNAUTHORIZED = "REASON_TASK_UNAUTHORIZED"
    TASK_UNKNOWN = "REASON_TASK_UNKNOWN"
    TASK_KILLED_DURING_LAUNCH = "REASON_TASK_KILLED_DURING_LAUNCH"
    CONTAINER_LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
    CONTAINER_LIMITATION_MEMORY = "REASON_CONTAINER_LIMITATION_MEMORY"
    CONTAINER_LIMITATION_DISK = "REASON_CONTAINER_LIMITATION_DISK"
    TASK_CHECK_STATUS_UPDATED = "REASON_TASK_CHECK_STATUS_UPDATED"
    TASK_HEALTH_CHECK_STATUS_UPDATED = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    TASK_GROUP_INVALID = "REASON_TASK_GROUP_INVALID"
    TASK_GROUP_UNAUTHORIZED = "REASON_TASK_GROUP_UNAUTHORIZED"


# A span of time in seconds as tasks give them (health checks, kill policies): not
# negative, and at most a year, so no timer is asked for an absurd deadline.
MAX_TASK_SECONDS = 365 * 24 * 3600.0
Seconds = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_TASK_SECONDS)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0.0, le=MAX_TASK_SECONDS)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
MAX_URI_LENGTH = 4096


class KillPolicy(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """How a task is killed: SIGTERM, then SIGKILL after `grace_period_seconds`."""

    grace_period_seconds: Seconds = 3.0


class CommandURI(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Something the agent fetches into the sandbox before the executor starts (Mesos's
    CommandInfo.URI): `file://`, an absolute path, `http://` or `https://`.

    `extract` unpacks a .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz or .zip into the
    sandbox; `executable` makes the file executable instead (then nothing is
    extracted); `output_file` names the fetched file (a relative path inside the
    sandbox); `cache` keeps a copy in the agent's fetcher cache, keyed by `value`.
    """

    value: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URI_LENGTH)]
    executable: bool = False
    extract: bool = True
    cache: bool = False
    output_file: Annotated[str, msgspec.Meta(max_length=MAX_URI_LENGTH)] = ""

    def __post_init__(self) -> None:
        if "\0" in self.value:
            raise ValueError("a URI must not hold a NUL character")
        if self.output_file:
            parts = self.output_file.split("/")
            if self.output_file.startswith("/") or ".." in parts or "\0" in self.output_file:
                raise ValueError(
                    f"output_file {self.output_file!r} must be a relative path inside the sandbox"
                )


class CommandInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A command: `value` run by a shell when `shell`, else `value` with `arguments`.

    `uris` are fetched into the sandbox before the command starts.
    """

    value: str = ""
    shell: bool = True
    arguments: tuple[str, ...] = ()
    environment: dict[str, str] = {}
    user: str = ""
    uris: tuple[CommandURI, ...] = ()


class HealthCheckType(enum.StrEnum):
    COMMAND = "COMMAND"
    HTTP = "HTTP"
    TCP = "TCP"


class HTTPCheckInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """GET `scheme://127.0.0.1:port/path`: healthy when the status is one of `statuses`,
    or 200-399 when none are given."""

    port: Port
    path: Annotated[str, msgspec.Meta(pattern=r"^(/[^\x00-\x1f\x7f ]*)?$", max_length=4096)] = "/"
    scheme: Literal["http", "https"] = "http"
    statuses: tuple[Annotated[int, msgspec.Meta(ge=100, le=599)], ...] = ()


class TCPCheckInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A TCP connection to 127.0.0.1:port: healthy (for a check: succeeded) when it opens."""

    port: Port


class HealthCheck(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A task's health check (Mesos's HealthCheck, with its defaults).

    The first check runs `delay_seconds` after the task starts, then one every
    `interval_seconds`; a check that takes longer than `timeout_seconds` failed.
    Failures within `grace_period_seconds` of the start are ignored until the
    first success; `consecutive_failures` failures in a row get the task killed.
    """

    type: HealthCheckType
    command: CommandInfo | None = None
    http: HTTPCheckInfo | None = None
    tcp: TCPCheckInfo | None = None
    delay_seconds: Seconds = 15.0
    interval_seconds: PositiveSeconds = 10.0
    timeout_seconds: PositiveSeconds = 20.0
    consecutive_failures: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 3
    grace_period_seconds: Seconds = 10.0

    def __post_init__(self) -> None:
        if self.type is HealthCheckType.COMMAND and (
            self.command is None or not self.command.value
        ):
            raise ValueError("a COMMAND health check needs `command` with a value")
        if self.type is HealthCheckType.HTTP and self.http is None:
            raise ValueError("an HTTP health check needs `http`")
        if self.type is HealthCheckType.TCP and self.tcp is None:
            raise ValueError("a TCP health check needs `tcp`")


class CheckType(enum.StrEnum):
    """Mesos's CheckInfo.Type. UNKNOWN decodes (a framework may send it) and is refused
    by the master, as Mesos refuses it."""

    UNKNOWN = "UNKNOWN"
    COMMAND = "COMMAND"
    HTTP = "HTTP"
    TCP = "TCP"


class CheckHTTPInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """GET `http://127.0.0.1:port/path`, redirects followed; the result is the status code.
    An empty path asks for `/`."""

    port: Port
    path: Annotated[str, msgspec.Meta(max_length=MAX_URI_LENGTH)] = ""


class CheckInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A task's check (Mesos's CheckInfo): like a health check, run by the task's executor
    `delay_seconds` after the task starts and then every `interval_seconds`, each bounded
    by `timeout_seconds`, but its result is reported to the framework, never interpreted:
    a check never kills its task.

    The fields decode loosely (a missing type or command, a negative time) so that the
    master refuses such a check with Mesos's own messages (zmesos.protocol.checks).
    """

    type: CheckType | None = None
    command: CommandInfo | None = None
    http: CheckHTTPInfo | None = None
    tcp: TCPCheckInfo | None = None
    delay_seconds: float = 15.0
    interval_seconds: float = 10.0
    timeout_seconds: float = 20.0


class CommandCheckStatus(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    exit_code: int | None = None


class HTTPCheckStatus(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    status_code: int | None = None


class TCPCheckStatus(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    succeeded: bool | None = None


class CheckStatusInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The last result of a task's check (Mesos's CheckStatusInfo): `type` names the check,
    and the part of that type is present; its value is None while no result is known
    (the check has not run yet, timed out, or could not be performed)."""

    type: CheckType
    command: CommandCheckStatus | None = None
    http: HTTPCheckStatus | None = None
    tcp: TCPCheckStatus | None = None

    @classmethod
    def empty(cls, check_type: CheckType) -> CheckStatusInfo:
        """The status of a `check_type` check whose result is not known."""
        if check_type is CheckType.COMMAND:
            return cls(type=check_type, command=CommandCheckStatus())
        if check_type is CheckType.HTTP:
            return cls(type=check_type, http=HTTPCheckStatus())
        if check_type is CheckType.TCP:
            return cls(type=check_type, tcp=TCPCheckStatus())
        return cls(type=check_type)


class ExecutorType(enum.StrEnum):
    """Mesos's ExecutorInfo.Type. DEFAULT: the agent's default executor (zmesos's
    frameworks.default_executor), which runs task groups; it has no command of its own.
    CUSTOM: the framework's executor, run from `command`."""

    DEFAULT = "DEFAULT"
    CUSTOM = "CUSTOM"


class ExecutorInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """An executor. `type` None is Mesos's unset type: a CUSTOM executor for LAUNCH;
    LAUNCH_GROUP needs it set."""

    executor_id: str
    framework_id: str = ""
    command: CommandInfo = CommandInfo()
    resources: tuple[Resource, ...] = ()
    name: str = ""
    source: str = ""
    type: ExecutorType | None = None

    @property
    def is_default(self) -> bool:
        return self.type is ExecutorType.DEFAULT


class TaskInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """What a framework asks to run. Exactly one of `command` and `executor` is set."""

    name: str
    task_id: str
    agent_id: str
    resources: tuple[Resource, ...] = ()
    command: CommandInfo | None = None
    executor: ExecutorInfo | None = None
    data: bytes = b""
    labels: dict[str, str] = {}
    kill_policy: KillPolicy | None = None
    health_check: HealthCheck | None = None
    check: CheckInfo | None = None


# At most this many tasks in one task group (a bound on what one message may ask for).
MAX_TASK_GROUP_SIZE = 1024


class TaskGroupInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Tasks delivered to one executor together, all or none (Mesos's TaskGroupInfo)."""

    tasks: Annotated[tuple[TaskInfo, ...], msgspec.Meta(max_length=MAX_TASK_GROUP_SIZE)] = ()

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(task.task_id for task in self.tasks)


class TaskStatus(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    task_id: str
    state: TaskState
    source: Source = Source.MASTER
    reason: Reason | None = None
    message: str = ""
    agent_id: str = ""
    executor_id: str = ""
    timestamp: float = 0.0
    uuid: bytes | None = None  # set for updates that need an acknowledgement
    data: bytes = b""
    healthy: bool | None = None  # the task's health, where it has a health check
    check_status: CheckStatusInfo | None = None  # its check's last result, where it has one


class MinAllocatableResources(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Alternatives, each a map of scalar quantities an offer must all hold."""

    quantities: tuple[dict[str, float], ...] = ()


class OfferFilters(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A framework's offer filters for one role (Mesos's OfferFilters).

    `min_allocatable_resources`, when set, replaces the master's minimum
    allocatable for this framework in this role; an empty list accepts any
    offer.
    """

    min_allocatable_resources: MinAllocatableResources | None = None


PARTITION_AWARE = "PARTITION_AWARE"  # FrameworkInfo capability (Mesos's name)


class FrameworkInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    user: str
    name: str
    id: ID = ""
    roles: tuple[str, ...] = ("*",)
    failover_timeout: float = 0.0
    checkpoint: bool = False
    principal: str = ""
    hostname: str = ""
    capabilities: tuple[str, ...] = ()
    webui_url: str = ""
    # role -> offer filters in that role
    offer_filters: dict[str, OfferFilters] = {}

    @property
    def partition_aware(self) -> bool:
        """Whether it takes the states that say more than TASK_LOST (TASK_UNREACHABLE,
        TASK_DROPPED, TASK_GONE, ...): Mesos's PARTITION_AWARE capability."""
        return PARTITION_AWARE in self.capabilities


class AgentInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    hostname: str
    resources: tuple[Resource, ...] = ()
    attributes: dict[str, str] = {}
    id: ID = ""
    port: int = 0


class MasterInfo(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    id: ID
    pid: PIDText
    hostname: str
    port: int
    version: str = ""


class Filters(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    refuse_seconds: float = 5.0


class Offer(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    id: str
    framework_id: str
    agent_id: str
    hostname: str
    resources: tuple[Resource, ...]
    role: str = "*"
    attributes: dict[str, str] = {}
    executor_ids: tuple[str, ...] = ()
    agent_pid: OptionalPIDText = ""


class OperationType(enum.StrEnum):
    LAUNCH = "LAUNCH"
    LAUNCH_GROUP = "LAUNCH_GROUP"
    RESERVE = "RESERVE"
    UNRESERVE = "UNRESERVE"
    CREATE = "CREATE"
    DESTROY = "DESTROY"
    GROW_VOLUME = "GROW_VOLUME"
    SHRINK_VOLUME = "SHRINK_VOLUME"


class Operation(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One step of an Accept (Mesos's Offer.Operation).

    LAUNCH carries `tasks`; LAUNCH_GROUP the `executor` and the `task_group` it
    runs (both required: a LAUNCH_GROUP without them does not decode); RESERVE,
    UNRESERVE, CREATE and DESTROY carry `resources` (for CREATE and DESTROY: the
    volumes); GROW_VOLUME carries the `volume` and the reserved disk `addition`
    it takes in; SHRINK_VOLUME the `volume` and the MB to `subtract` from it.
    """

    type: OperationType
    tasks: tuple[TaskInfo, ...] = ()
    resources: tuple[Resource, ...] = ()
    volume: Resource | None = None
    addition: Resource | None = None
    subtract: float = 0.0
    executor: ExecutorInfo | None = None
    task_group: TaskGroupInfo | None = None

    def __post_init__(self) -> None:
        if self.type is OperationType.LAUNCH_GROUP and (
            self.executor is None or self.task_group is None
        ):
            raise ValueError("a LAUNCH_GROUP needs `executor` and `task_group`")

    @property
    def launched_tasks(self) -> tuple[TaskInfo, ...]:
        """The tasks this operation launches: a LAUNCH's, or a LAUNCH_GROUP's group."""
        if self.type is OperationType.LAUNCH:
            return self.tasks
        if self.type is OperationType.LAUNCH_GROUP and self.task_group is not None:
            return self.task_group.tasks
        return ()


class StatusUpdate(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A task status on its way from executor or agent to the scheduler."""

    framework_id: ID
    status: TaskStatus
    agent_id: ID = ""
    executor_id: ID = ""
    timestamp: float = 0.0
    uuid: bytes | None = None


def new_status_update(
    framework_id: str,
    status: TaskStatus,
    *,
    source: Source,
    agent_id: str,
    executor_id: str,
    timestamp: float,
) -> StatusUpdate:
    """A status update that needs an acknowledgement: a fresh uuid, stamped on both levels.

    Agents and executors make their updates here, so status and update always
    agree on uuid, source, ids and time.
    """
    update_uuid = uuid.uuid4().bytes
    stamped = msgspec.structs.replace(
        status,
        source=source,
        agent_id=agent_id,
        executor_id=executor_id,
        timestamp=timestamp,
        uuid=update_uuid,
    )
    return StatusUpdate(
        framework_id=framework_id,
        status=stamped,
        agent_id=agent_id,
        executor_id=executor_id,
        timestamp=timestamp,
        uuid=update_uuid,
    )


__all__ = [
    "ID",
    "MAX_ID_LENGTH",
    "MAX_TASK_GROUP_SIZE",
    "MAX_TASK_SECONDS",
    "PARTITION_AWARE",
    "TERMINAL_STATES",
    "AgentInfo",
    "CheckHTTPInfo",
    "CheckInfo",
    "CheckStatusInfo",
    "CheckType",
    "CommandCheckStatus",
    "CommandInfo",
    "CommandURI",
    "ExecutorInfo",
    "ExecutorType",
    "Filters",
    "FrameworkInfo",
    "HTTPCheckInfo",
    "HTTPCheckStatus",
    "HealthCheck",
    "HealthCheckType",
    "KillPolicy",
    "MasterInfo",
    "MinAllocatableResources",
    "Offer",
    "OfferFilters",
    "Operation",
    "OperationType",
    "OptionalPIDText",
    "PIDText",
    "Port",
    "PositiveSeconds",
    "Reason",
    "Seconds",
    "Source",
    "StatusUpdate",
    "TCPCheckInfo",
    "TCPCheckStatus",
    "TaskGroupInfo",
    "TaskInfo",
    "TaskState",
    "TaskStatus",
    "new_status_update",
]
