"""The status update manager on the paused clock: order, one in flight, backoff, acks, dups."""

from __future__ import annotations

import itertools
import uuid

import msgspec
import pytest

from agent.checkpoints import UpdateLog, UpdateRecord
from agent.errors import StatusUpdateError
from agent.records import split
from agent.status_updates import StatusUpdateManager
from libprocess import Node, Process, clock
from libprocess.testing import settle
from zmesos.protocol import StatusUpdate, TaskState, TaskStatus


class Host(Process):
    """Owns the manager's timers, as the agent does; records what is forwarded and when."""

    def __init__(self) -> None:
        super().__init__()
        self.forwarded: list[tuple[float, StatusUpdate]] = []
        self.manager = StatusUpdateManager(self.forward, self.delay)

    def forward(self, update: StatusUpdate) -> None:
        self.forwarded.append((clock.now(), update))

    def sent(self) -> list[tuple[str, TaskState]]:
        return [(u.status.task_id, u.status.state) for _, u in self.forwarded]


def update(task_id: str, state: TaskState, framework_id: str = "f1") -> StatusUpdate:
    update_uuid = uuid.uuid4().bytes
    return StatusUpdate(
        framework_id=framework_id,
        status=TaskStatus(task_id=task_id, state=state, uuid=update_uuid),
        uuid=update_uuid,
    )


def hosted(node: Node) -> Host:
    host = Host()
    node.spawn(host)
    return host


async def advance(seconds: float) -> None:
    clock.advance(seconds)
    await settle()


async def test_status_updates_forward_one_at_a_time_in_order():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        host = hosted(node)
        manager = host.manager
        starting, running, finished = (
            update("t1", TaskState.STARTING),
            update("t1", TaskState.RUNNING),
            update("t1", TaskState.FINISHED),
        )
        for each in (starting, running, finished):
            assert manager.update(each)
        assert host.sent() == [("t1", TaskState.STARTING)]

        assert manager.acknowledge("f1", "t1", starting.uuid) == starting
        assert manager.acknowledge("f1", "t1", running.uuid) == running
        assert host.sent() == [
            ("t1", TaskState.STARTING),
            ("t1", TaskState.RUNNING),
            ("t1", TaskState.FINISHED),
        ]
        assert manager.pending("f1", "t1") == (finished,)


async def test_status_updates_streams_of_different_tasks_are_independent():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        host = hosted(node)
        host.manager.update(update("t1", TaskState.RUNNING))
        host.manager.update(update("t2", TaskState.RUNNING))
        host.manager.update(update("t1", TaskState.FINISHED, framework_id="f2"))
        assert sorted(host.sent()) == [
            ("t1", TaskState.FINISHED),
            ("t1", TaskState.RUNNING),
            ("t2", TaskState.RUNNING),
        ]
        assert len(host.manager) == 3


async def test_status_updates_retry_10_20_40_seconds_capped_at_10_minutes():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        host = hosted(node)
        start = clock.now()
        host.manager.update(update("t1", TaskState.RUNNING))
        for _ in range(3000):  # 3000 s, in 1 s steps
            await advance(1)
        times = [round(at - start) for at, _ in host.forwarded]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps[:8] == [10, 20, 40, 80, 160, 320, 600, 600]
        assert {u.status.state for _, u in host.forwarded} == {TaskState.RUNNING}


async def test_status_updates_acknowledgement_stops_retries_and_resets_backoff():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        host = hosted(node)
        running, finished = update("t1", TaskState.RUNNING), update("t1", TaskState.FINISHED)
        host.manager.update(running)
        host.manager.update(finished)
        await advance(10)
        await advance(20)  # the head went three times: 0, 10, 30
        assert len(host.forwarded) == 3
        host.manager.acknowledge("f1", "t1", running.uuid)
        start = clock.now()
        await advance(10)  # the next update starts again at 10 s
        times = [round(at - start) for at, u in host.forwarded if u == finished]
        assert times == [0, 10]

        assert host.manager.acknowledge("f1", "t1", finished.uuid) == finished
        assert len(host.manager) == 0  # terminal, acknowledged: the stream is closed
        count = len(host.forwarded)
        await advance(3600)
        assert len(host.forwarded) == count


async def test_status_updates_duplicates_are_dropped():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        host = hosted(node)
        running = update("t1", TaskState.RUNNING)
        assert host.manager.update(running)
        assert not host.manager.update(running)
        host.manager.acknowledge("f1", "t1", running.uuid)
        assert not host.manager.update(running)  # acknowledged already: still a duplicate
        assert len(host.forwarded) == 1
        assert host.manager.pending("f1", "t1") == ()


async def test_status_updates_refuse_wrong_acknowledgements_and_updates_without_uuid():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        host = hosted(node)
        running, finished = update("t1", TaskState.RUNNING), update("t1", TaskState.FINISHED)
        host.manager.update(running)
        host.manager.update(finished)
        assert host.manager.acknowledge("f1", "t1", finished.uuid) is None  # not the head
        assert host.manager.acknowledge("f1", "t9", running.uuid) is None  # no such stream
        assert host.manager.pending("f1", "t1") == (running, finished)
        with pytest.raises(StatusUpdateError):
            host.manager.update(
                StatusUpdate(
                    framework_id="f1", status=TaskStatus(task_id="t2", state=TaskState.RUNNING)
                )
            )


async def test_status_updates_pause_holds_and_resume_resends_heads():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        host = hosted(node)
        host.manager.pause()
        running = update("t1", TaskState.RUNNING)
        host.manager.update(running)
        await advance(3600)
        assert host.forwarded == []

        host.manager.resume()
        assert host.sent() == [("t1", TaskState.RUNNING)]
        start = clock.now()
        await advance(10)
        assert [round(at - start) for at, _ in host.forwarded] == [0, 10]

        host.manager.pause()
        await advance(3600)
        assert len(host.forwarded) == 2


async def test_status_updates_cleanup_forgets_a_frameworks_streams():
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        host = hosted(node)
        host.manager.update(update("t1", TaskState.RUNNING))
        host.manager.update(update("t2", TaskState.RUNNING))
        host.manager.update(update("t1", TaskState.RUNNING, framework_id="f2"))
        assert host.manager.cleanup("f1") == 2
        assert len(host.manager) == 1
        await advance(10)
        assert [u.framework_id for _, u in host.forwarded[3:]] == ["f2"]


async def test_status_updates_persisted_streams_recover_in_order_and_know_duplicates(tmp_path):
    clock.pause()
    async with Node(host="127.0.0.1", port=0) as node:
        host = hosted(node)
        running, finished = update("t1", TaskState.RUNNING), update("t1", TaskState.FINISHED)
        log = UpdateLog(tmp_path / "task.updates")
        host.manager.update(running, log)
        host.manager.update(finished)
        host.manager.acknowledge("f1", "t1", running.uuid)

        records = split((tmp_path / "task.updates").read_bytes()).records
        assert len(records) == 3  # update, update, acknowledgement: in the order taken

        restarted = hosted(node)  # a new agent's manager, paused until it registers
        restarted.manager.pause()
        data = (tmp_path / "task.updates").read_bytes()
        replayed = [msgspec.msgpack.decode(r, type=UpdateRecord) for r in records]
        log = UpdateLog(tmp_path / "task.updates", data)
        assert restarted.manager.recover("f1", "t1", replayed, log) == (finished,)
        assert not restarted.manager.update(finished)  # a duplicate, still known
        assert not restarted.manager.update(running)
        restarted.manager.resume()
        assert restarted.sent() == [("t1", TaskState.FINISHED)]
        await advance(10)
        assert restarted.sent() == [("t1", TaskState.FINISHED)] * 2  # retried as before

        restarted.manager.acknowledge("f1", "t1", finished.uuid)
        records = split((tmp_path / "task.updates").read_bytes()).records
        replayed = [msgspec.msgpack.decode(r, type=UpdateRecord) for r in records]
        again = hosted(node)
        assert again.manager.recover("f1", "t1", replayed, None) == ()
        assert len(again.manager) == 0  # terminal and acknowledged: closed
