"""The agent's checkpoints: written under meta/, read back whole, damage logged and left out."""

from __future__ import annotations

import pytest
import structlog
from structlog.testing import capture_logs

from agent import paths
from agent.checkpoints import (
    Checkpointer,
    ExecutorRecord,
    UpdateRecord,
    read_checkpoint,
)
from agent.errors import RecoveryError
from zmesos.protocol import (
    AgentInfo,
    CommandInfo,
    ExecutorInfo,
    FrameworkInfo,
    Source,
    TaskInfo,
    TaskState,
    TaskStatus,
    new_status_update,
)

AGENT = AgentInfo(hostname="h", id="a1")
FRAMEWORK = FrameworkInfo(user="u", name="f", id="f1", checkpoint=True)
EXECUTOR = ExecutorInfo(executor_id="e1", framework_id="f1", command=CommandInfo(value="x"))
TASK = TaskInfo(name="t1", task_id="t1", agent_id="a1", command=CommandInfo(value="sleep 1"))


def written(work_dir) -> Checkpointer:
    checkpointer = Checkpointer(work_dir)
    checkpointer.boot_id()
    checkpointer.agent(AGENT)
    checkpointer.framework("a1", FRAMEWORK, "scheduler@h:1")
    checkpointer.executor("a1", "f1", ExecutorRecord(info=EXECUTOR, command_executor=True), "c1")
    checkpointer.forked_pid("a1", "f1", "e1", "c1", 4242)
    checkpointer.libprocess_pid("a1", "f1", "e1", "c1", "executor@127.0.0.1:1234")
    checkpointer.task("a1", "f1", "e1", "c1", TASK)
    return checkpointer


def status(state: TaskState):
    return new_status_update(
        "f1",
        TaskStatus(task_id="t1", state=state),
        source=Source.EXECUTOR,
        agent_id="a1",
        executor_id="e1",
        timestamp=1.0,
    )


def test_checkpoints_layout_is_mesos_meta_directory(tmp_path):
    written(tmp_path)
    meta = tmp_path / "meta"
    run = meta / "agents/a1/frameworks/f1/executors/e1/runs/c1"
    for path in (
        meta / "boot_id",
        meta / "agents/latest",
        meta / "agents/a1/agent.info",
        meta / "agents/a1/frameworks/f1/framework.info",
        meta / "agents/a1/frameworks/f1/framework.pid",
        meta / "agents/a1/frameworks/f1/executors/e1/executor.info",
        meta / "agents/a1/frameworks/f1/executors/e1/runs/latest",
        run / "pids/forked.pid",
        run / "pids/libprocess.pid",
        run / "tasks/t1/task.info",
    ):
        assert path.is_file(), path


def test_checkpoints_read_back_what_was_written(tmp_path):
    checkpointer = written(tmp_path)
    log = checkpointer.update_log("a1", "f1", "e1", "c1", "t1")
    starting, running = status(TaskState.STARTING), status(TaskState.RUNNING)
    log.append(UpdateRecord(update=starting))
    log.append(UpdateRecord(acknowledged=starting.uuid))
    log.append(UpdateRecord(update=running))

    checkpoint = read_checkpoint(tmp_path, structlog.get_logger())
    assert checkpoint is not None
    assert checkpoint.info == AGENT and checkpoint.dropped == 0
    framework = checkpoint.frameworks["f1"]
    assert (framework.info, framework.pid) == (FRAMEWORK, "scheduler@h:1")
    executor = framework.executors["e1"]
    assert executor.info == EXECUTOR and executor.command_executor
    assert executor.run is not None
    assert (executor.run.container_id, executor.run.forked_pid) == ("c1", 4242)
    assert executor.run.libprocess_pid == "executor@127.0.0.1:1234"
    task = executor.run.tasks["t1"]
    assert task.info == TASK
    assert task.records == [
        UpdateRecord(update=starting),
        UpdateRecord(acknowledged=starting.uuid),
        UpdateRecord(update=running),
    ]


def test_checkpoints_first_start_has_nothing_to_recover(tmp_path):
    assert read_checkpoint(tmp_path, structlog.get_logger()) is None


def test_checkpoints_torn_update_stream_keeps_whole_records_and_says_so(tmp_path):
    checkpointer = written(tmp_path)
    log = checkpointer.update_log("a1", "f1", "e1", "c1", "t1")
    starting, running = status(TaskState.STARTING), status(TaskState.RUNNING)
    log.append(UpdateRecord(update=starting))
    log.append(UpdateRecord(update=running))
    path = paths.task_updates_path(tmp_path, "a1", "f1", "e1", "c1", "t1")
    path.write_bytes(path.read_bytes()[:-5])  # a power cut mid-write, as a disk might leave it

    with capture_logs() as logs:
        checkpoint = read_checkpoint(tmp_path, structlog.get_logger())
    assert checkpoint is not None and checkpoint.dropped == 1
    task = checkpoint.frameworks["f1"].executors["e1"].run.tasks["t1"]
    assert task.records == [UpdateRecord(update=starting)]
    [dropped] = [entry for entry in logs if entry["event"] == "checkpoint_dropped"]
    assert dropped["path"] == str(path)
    assert dropped["records_kept"] == 1 and dropped["bytes"] > 0


def test_checkpoints_unreadable_task_info_drops_that_task_only(tmp_path):
    written(tmp_path)
    paths.task_info_path(tmp_path, "a1", "f1", "e1", "c1", "t1").write_bytes(b"\x00\x01")
    with capture_logs() as logs:
        checkpoint = read_checkpoint(tmp_path, structlog.get_logger())
    assert checkpoint is not None
    assert checkpoint.frameworks["f1"].executors["e1"].run.tasks == {}
    assert [entry["reason"] for entry in logs] == ["no whole record"]


def test_checkpoints_of_another_agent_refuse_recovery(tmp_path):
    written(tmp_path)
    Checkpointer(tmp_path / "elsewhere").agent(AgentInfo(hostname="h", id="a2"))
    stranger = paths.agent_info_path(tmp_path / "elsewhere", "a2").read_bytes()
    paths.agent_info_path(tmp_path, "a1").write_bytes(stranger)  # a copied work dir, say
    with pytest.raises(RecoveryError, match="belongs to agent 'a2', not 'a1'"):
        read_checkpoint(tmp_path, structlog.get_logger())


def test_checkpoints_forget_agent_means_a_fresh_start(tmp_path):
    checkpointer = written(tmp_path)
    checkpointer.forget_agent()
    assert read_checkpoint(tmp_path, structlog.get_logger()) is None
