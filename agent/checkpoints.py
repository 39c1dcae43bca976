"""The agent's checkpoints: what it writes under `<work_dir>/meta/` and reads back on start.

Only frameworks that set `checkpoint` have their frameworks, executors, runs,
tasks and status update streams written (as in Mesos); the agent's own info and
id always are. Every file is a sequence of framed records (agent.records) of
MessagePack, replaced whole through zmesos.durable.write_atomically: an info
file holds one record, a task's `task.updates` one per update taken and one per
acknowledgement, in order. `Checkpointer` writes; `read_checkpoint` reads the
whole tree back as plain records, logging (`checkpoint_dropped`) whatever is
torn or unreadable and recovering the rest. Writes are synchronous: the agent
must not acknowledge or forward what is not yet on disk (Mesos does the same).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from agent import paths
from agent.errors import RecoveryError
from agent.records import frame, split
from zmesos.durable import read_if_exists, write_atomically
from zmesos.protocol import AgentInfo, ExecutorInfo, FrameworkInfo, StatusUpdate, TaskInfo

__all__ = [
    "AgentCheckpoint",
    "Checkpointer",
    "ExecutorCheckpoint",
    "ExecutorRecord",
    "FrameworkCheckpoint",
    "RunCheckpoint",
    "TaskCheckpoint",
    "UpdateLog",
    "UpdateRecord",
    "current_boot_id",
    "read_checkpoint",
]

BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"

T = TypeVar("T")


class ExecutorRecord(msgspec.Struct, kw_only=True, frozen=True):
    """executor.info: the ExecutorInfo, and whether the agent made it for a command task."""

    info: ExecutorInfo
    command_executor: bool = False


class UpdateRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One entry of task.updates: an update taken, or the acknowledgement of a uuid."""

    update: StatusUpdate | None = None
    acknowledged: bytes | None = None


_encoder = msgspec.msgpack.Encoder()


def _encode(value: Any) -> bytes:
    return frame(_encoder.encode(value))


def current_boot_id() -> str:
    """This boot of the machine ('' where the system does not say)."""
    try:
        return Path(BOOT_ID_FILE).read_text().strip()
    except OSError:
        return ""


class UpdateLog:
    """A task's task.updates file: appended by rewriting it whole, atomically."""

    __slots__ = ("_data", "path")

    def __init__(self, path: Path, data: bytes = b"") -> None:
        self.path = path
        self._data = bytearray(data)

    def append(self, record: UpdateRecord) -> None:
        self._data += _encode(record)
        write_atomically(self.path, bytes(self._data))


class Checkpointer:
    """Writes the agent's checkpoints under `<work_dir>/meta/` (see agent.paths)."""

    def __init__(self, work_dir: str | Path) -> None:
        self.work_dir = Path(work_dir)

    def boot_id(self) -> None:
        write_atomically(paths.boot_id_path(self.work_dir), current_boot_id().encode())

    def agent(self, info: AgentInfo) -> None:
        """The agent's info (with its id); it becomes the agent to recover."""
        write_atomically(paths.agent_info_path(self.work_dir, info.id), _encode(info))
        write_atomically(paths.latest_agent_path(self.work_dir), _encode(info.id))

    def forget_agent(self) -> None:
        """Start afresh next time: the next start registers as a new agent."""
        paths.latest_agent_path(self.work_dir).unlink(missing_ok=True)

    def framework(self, agent_id: str, info: FrameworkInfo, pid: str) -> None:
        write_atomically(paths.framework_info_path(self.work_dir, agent_id, info.id), _encode(info))
        self.framework_pid(agent_id, info.id, pid)

    def framework_pid(self, agent_id: str, framework_id: str, pid: str) -> None:
        path = paths.framework_pid_path(self.work_dir, agent_id, framework_id)
        write_atomically(path, _encode(pid))

    def executor(
        self,
        agent_id: str,
        framework_id: str,
        record: ExecutorRecord,
        container_id: str,
    ) -> None:
        """The executor and its new run (the run's directory and `runs/latest`)."""
        executor_id = record.info.executor_id
        path = paths.executor_info_path(self.work_dir, agent_id, framework_id, executor_id)
        write_atomically(path, _encode(record))
        run = paths.run_meta_dir(self.work_dir, agent_id, framework_id, executor_id, container_id)
        run.mkdir(parents=True, exist_ok=True)
        latest = paths.latest_run_path(self.work_dir, agent_id, framework_id, executor_id)
        write_atomically(latest, _encode(container_id))

    def forked_pid(
        self, agent_id: str, framework_id: str, executor_id: str, container_id: str, pid: int
    ) -> None:
        path = paths.forked_pid_path(
            self.work_dir, agent_id, framework_id, executor_id, container_id
        )
        write_atomically(path, _encode(pid))

    def libprocess_pid(
        self, agent_id: str, framework_id: str, executor_id: str, container_id: str, pid: str
    ) -> None:
        path = paths.libprocess_pid_path(
            self.work_dir, agent_id, framework_id, executor_id, container_id
        )
        write_atomically(path, _encode(pid))

    def task(
        self, agent_id: str, framework_id: str, executor_id: str, container_id: str, task: TaskInfo
    ) -> None:
        path = paths.task_info_path(
            self.work_dir, agent_id, framework_id, executor_id, container_id, task.task_id
        )
        write_atomically(path, _encode(task))

    def update_log(
        self,
        agent_id: str,
        framework_id: str,
        executor_id: str,
        container_id: str,
        task_id: str,
        data: bytes = b"",
    ) -> UpdateLog:
        """The task's update stream file; `data` is what it holds already (on recovery)."""
        path = paths.task_updates_path(
            self.work_dir, agent_id, framework_id, executor_id, container_id, task_id
        )
        return UpdateLog(path, data)

    def remove_task(
        self, agent_id: str, framework_id: str, executor_id: str, container_id: str, task_id: str
    ) -> None:
        """A task whose terminal update was acknowledged: nothing of it is left to recover."""
        shutil.rmtree(
            paths.task_meta_dir(
                self.work_dir, agent_id, framework_id, executor_id, container_id, task_id
            ),
            ignore_errors=True,
        )

    def remove_executor(self, agent_id: str, framework_id: str, executor_id: str) -> None:
        """An executor that is gone and whose tasks are all acknowledged."""
        shutil.rmtree(
            paths.executor_meta_dir(self.work_dir, agent_id, framework_id, executor_id),
            ignore_errors=True,
        )

    def remove_framework(self, agent_id: str, framework_id: str) -> None:
        shutil.rmtree(
            paths.framework_meta_dir(self.work_dir, agent_id, framework_id), ignore_errors=True
        )


# -- reading back ----------------------------------------------------------------------


@dataclasses.dataclass
class TaskCheckpoint:
    info: TaskInfo
    records: list[UpdateRecord]  # the update stream, in order
    updates_data: bytes  # the whole records of task.updates (a torn tail left out)


@dataclasses.dataclass
class RunCheckpoint:
    container_id: str
    forked_pid: int | None
    libprocess_pid: str | None
    tasks: dict[str, TaskCheckpoint]


@dataclasses.dataclass
class ExecutorCheckpoint:
    info: ExecutorInfo
    command_executor: bool
    run: RunCheckpoint | None  # the latest run (None: it never got one)


@dataclasses.dataclass
class FrameworkCheckpoint:
    info: FrameworkInfo
    pid: str
    executors: dict[str, ExecutorCheckpoint]


@dataclasses.dataclass
class AgentCheckpoint:
    info: AgentInfo
    boot_id: str  # the boot the checkpoint was written under
    frameworks: dict[str, FrameworkCheckpoint]
    dropped: int = 0  # how many files were torn or unreadable (each logged)


class _Reader:
    """Reads one meta tree; every problem is logged once and counted."""

    def __init__(self, work_dir: Path, log: Any) -> None:
        self.work_dir = work_dir
        self.log = log
        self.dropped = 0

    def dropped_file(self, path: Path, reason: str, **fields: Any) -> None:
        self.dropped += 1
        self.log.warning("checkpoint_dropped", path=str(path), reason=reason, **fields)

    def one(self, path: Path, kind: type[T]) -> T | None:
        """The single record of an info file, or None (missing, or logged as dropped)."""
        data = read_if_exists(path)
        if data is None:
            return None
        parts = split(data)
        if not parts.records:
            self.dropped_file(path, "no whole record", bytes=len(data))
            return None
        try:
            return msgspec.msgpack.decode(parts.records[-1], type=kind)
        except msgspec.DecodeError as error:
            self.dropped_file(path, f"undecodable: {error}")
            return None

    def updates(self, path: Path) -> tuple[list[UpdateRecord], bytes]:
        data = read_if_exists(path) or b""
        parts = split(data)
        records: list[UpdateRecord] = []
        valid = 0
        for payload in parts.records:
            try:
                records.append(msgspec.msgpack.decode(payload, type=UpdateRecord))
            except msgspec.DecodeError:
                break
            valid += len(frame(payload))
        dropped = len(data) - valid
        if dropped:
            self.dropped_file(
                path, "torn or damaged tail", bytes=dropped, records_kept=len(records)
            )
        return records, data[:valid]

    def agent(self, agent_id: str) -> AgentCheckpoint:
        info_path = paths.agent_info_path(self.work_dir, agent_id)
        info = self.one(info_path, AgentInfo)
        if info is None:
            raise RecoveryError(f"{info_path} is missing or damaged")
        if info.id != agent_id:
            raise RecoveryError(f"{info_path} belongs to agent {info.id!r}, not {agent_id!r}")
        boot = read_if_exists(paths.boot_id_path(self.work_dir))
        frameworks: dict[str, FrameworkCheckpoint] = {}
        root = paths.agent_meta_dir(self.work_dir, agent_id) / "frameworks"
        for directory in _subdirectories(root):
            framework = self.framework(agent_id, directory.name)
            if framework is not None:
                frameworks[framework.info.id] = framework
        return AgentCheckpoint(
            info=info,
            boot_id=boot.decode().strip() if boot else "",
            frameworks=frameworks,
            dropped=self.dropped,
        )

    def framework(self, agent_id: str, framework_id: str) -> FrameworkCheckpoint | None:
        info = self.one(
            paths.framework_info_path(self.work_dir, agent_id, framework_id), FrameworkInfo
        )
        pid = self.one(paths.framework_pid_path(self.work_dir, agent_id, framework_id), str)
        if info is None or info.id != framework_id:
            return None
        executors: dict[str, ExecutorCheckpoint] = {}
        root = paths.framework_meta_dir(self.work_dir, agent_id, framework_id) / "executors"
        for directory in _subdirectories(root):
            executor = self.executor(agent_id, framework_id, directory.name)
            if executor is not None:
                executors[executor.info.executor_id] = executor
        return FrameworkCheckpoint(info=info, pid=pid or "", executors=executors)

    def executor(
        self, agent_id: str, framework_id: str, executor_id: str
    ) -> ExecutorCheckpoint | None:
        record = self.one(
            paths.executor_info_path(self.work_dir, agent_id, framework_id, executor_id),
            ExecutorRecord,
        )
        if record is None or record.info.executor_id != executor_id:
            return None
        latest = self.one(
            paths.latest_run_path(self.work_dir, agent_id, framework_id, executor_id), str
        )
        run = self.run(agent_id, framework_id, executor_id, latest) if latest else None
        return ExecutorCheckpoint(
            info=record.info, command_executor=record.command_executor, run=run
        )

    def run(
        self, agent_id: str, framework_id: str, executor_id: str, container_id: str
    ) -> RunCheckpoint:
        ids = (self.work_dir, agent_id, framework_id, executor_id, container_id)
        tasks: dict[str, TaskCheckpoint] = {}
        for directory in _subdirectories(paths.run_meta_dir(*ids) / "tasks"):
            info = self.one(paths.task_info_path(*ids, directory.name), TaskInfo)
            if info is None or info.task_id != directory.name:
                continue
            records, data = self.updates(paths.task_updates_path(*ids, directory.name))
            tasks[info.task_id] = TaskCheckpoint(info=info, records=records, updates_data=data)
        return RunCheckpoint(
            container_id=container_id,
            forked_pid=self.one(paths.forked_pid_path(*ids), int),
            libprocess_pid=self.one(paths.libprocess_pid_path(*ids), str),
            tasks=tasks,
        )


def read_checkpoint(work_dir: str | Path, log: Any) -> AgentCheckpoint | None:
    """The checkpointed agent to recover, or None when there is none (a first start).

    Raises RecoveryError when the checkpoint names an agent whose info is missing,
    damaged or another agent's. Torn or unreadable files below it are logged as
    `checkpoint_dropped` and left out; the rest is recovered.
    """
    reader = _Reader(Path(work_dir), log)
    latest_path = paths.latest_agent_path(work_dir)
    if read_if_exists(latest_path) is None:
        return None
    agent_id = reader.one(latest_path, str)
    if not agent_id:
        raise RecoveryError(f"{latest_path} is damaged")
    try:
        return reader.agent(agent_id)
    except ValueError as error:  # an id that cannot be a directory name
        raise RecoveryError(str(error)) from None


def _subdirectories(directory: Path) -> list[Path]:
    try:
        return sorted(entry for entry in directory.iterdir() if entry.is_dir())
    except FileNotFoundError:
        return []
