"""The status update manager: reliable, in-order delivery of task updates to the scheduler.

One stream per (framework, task). Within a stream updates leave in the order
they arrived and one at a time: the head is forwarded, and the next one only
after the scheduler's acknowledgement of the head comes back. An unacknowledged
head is forwarded again after 10 s, then 20, 40 ... capped at 10 min (runtime
clock). An update whose uuid the stream has seen is a duplicate and is dropped.
When a terminal update is acknowledged the stream is closed and forgotten.

While paused (no master) nothing is forwarded and no retry timer runs; `resume`
forwards every stream's head at once with a fresh backoff. The manager lives
inside the agent actor and never awaits: `forward` sends, `delay` arms a timer
whose callback runs as an event of the owning process.

A stream of a checkpointing framework has an UpdateLog (agent.checkpoints):
each update is written to it before it is forwarded (or acknowledged to the
executor, which the caller does after `update` returns), each acknowledgement
before the next update leaves. After a restart `recover` replays a stream's
records, so its unacknowledged updates are forwarded again once the agent
re-registers, and a duplicate of one it had is still recognised.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from agent.checkpoints import UpdateLog, UpdateRecord
from agent.errors import StatusUpdateError
from libprocess import Timer
from zmesos.protocol import StatusUpdate

__all__ = ["MAX_RETRY_INTERVAL", "MIN_RETRY_INTERVAL", "StatusUpdateManager"]

MIN_RETRY_INTERVAL = 10.0
MAX_RETRY_INTERVAL = 600.0

Forward = Callable[[StatusUpdate], None]
Delay = Callable[..., Timer]  # delay(seconds, callback, *args), e.g. Process.delay
StreamKey = tuple[str, str]  # (framework id, task id)


class _Stream:
    __slots__ = ("interval", "key", "log", "pending", "received", "timer")

    def __init__(self, key: StreamKey, log: UpdateLog | None) -> None:
        self.key = key
        self.log = log
        self.pending: deque[StatusUpdate] = deque()
        self.received: set[bytes] = set()  # every uuid taken, acknowledged or not
        self.timer: Timer | None = None
        self.interval = MIN_RETRY_INTERVAL

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class StatusUpdateManager:
    """Keeps, orders, forwards and retries task status updates until acknowledged."""

    def __init__(
        self,
        forward: Forward,
        delay: Delay,
        *,
        min_interval: float = MIN_RETRY_INTERVAL,
        max_interval: float = MAX_RETRY_INTERVAL,
    ) -> None:
        self._forward = forward
        self._delay = delay
        self._min_interval = min_interval
        self._max_interval = max_interval
        self._streams: dict[StreamKey, _Stream] = {}
        self._paused = False

    # -- queries ---------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    def __len__(self) -> int:
        """How many streams are open."""
        return len(self._streams)

    def pending(self, framework_id: str, task_id: str) -> tuple[StatusUpdate, ...]:
        """The stream's unacknowledged updates, head first (empty if it is closed)."""
        stream = self._streams.get((framework_id, task_id))
        return tuple(stream.pending) if stream else ()

    # -- updates and acknowledgements ------------------------------------------

    def update(self, update: StatusUpdate, log: UpdateLog | None = None) -> bool:
        """Take an update into its task's stream. False: a duplicate, dropped.

        `log` persists a stream this update opens (checkpointing frameworks); the
        update is on disk when this returns. Raises StatusUpdateError when the
        update has no uuid (it would never be acknowledged).
        """
        if update.uuid is None:
            raise StatusUpdateError(f"update for task {update.status.task_id} has no uuid")
        key = (update.framework_id, update.status.task_id)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(key, log)
        elif update.uuid in stream.received:
            return False
        if stream.log is not None:
            stream.log.append(UpdateRecord(update=update))
        stream.received.add(update.uuid)
        stream.pending.append(update)
        if len(stream.pending) == 1 and not self._paused:
            self._send_head(stream, fresh=True)
        return True

    def acknowledge(self, framework_id: str, task_id: str, uuid: bytes) -> StatusUpdate | None:
        """The scheduler acknowledged `uuid`: pop it and forward the stream's next update.

        Returns the acknowledged update, or None when the acknowledgement does not
        match the stream's head (unknown stream, a duplicate or a stale one): the
        caller logs and drops it. After a terminal update's acknowledgement the
        stream is closed.
        """
        stream = self._streams.get((framework_id, task_id))
        if stream is None or not stream.pending or stream.pending[0].uuid != uuid:
            return None
        if stream.log is not None:
            stream.log.append(UpdateRecord(acknowledged=uuid))
        stream.cancel_timer()
        acknowledged = stream.pending.popleft()
        if acknowledged.status.state.terminal:
            self._close(stream)
        elif stream.pending and not self._paused:
            self._send_head(stream, fresh=True)
        return acknowledged

    def recover(
        self,
        framework_id: str,
        task_id: str,
        records: list[UpdateRecord],
        log: UpdateLog | None,
    ) -> tuple[StatusUpdate, ...]:
        """Rebuild a stream from its checkpointed records; returns its pending updates.

        Nothing is forwarded now (the manager is paused while the agent
        recovers). A stream whose terminal update was acknowledged stays closed.
        """
        key = (framework_id, task_id)
        stream = _Stream(key, log)
        for record in records:
            if record.update is not None and record.update.uuid is not None:
                if record.update.uuid not in stream.received:
                    stream.received.add(record.update.uuid)
                    stream.pending.append(record.update)
                continue
            if not stream.pending or stream.pending[0].uuid != record.acknowledged:
                continue  # an acknowledgement of nothing pending: nothing to replay
            if stream.pending.popleft().status.state.terminal:
                return ()
        self._streams[key] = stream
        if stream.pending and not self._paused:
            self._send_head(stream, fresh=True)
        return tuple(stream.pending)

    # -- life cycle ------------------------------------------------------------

    def pause(self) -> None:
        """Stop forwarding (the master is gone); updates keep being taken."""
        self._paused = True
        for stream in self._streams.values():
            stream.cancel_timer()

    def resume(self) -> None:
        """Forward every stream's head now, with a fresh backoff."""
        self._paused = False
        for stream in list(self._streams.values()):
            if stream.pending:
                self._send_head(stream, fresh=True)

    def cleanup(self, framework_id: str) -> int:
        """Forget every stream of a framework (it is gone); returns how many."""
        keys = [key for key in self._streams if key[0] == framework_id]
        for key in keys:
            self._close(self._streams[key])
        return len(keys)

    def close_all(self) -> None:
        for stream in list(self._streams.values()):
            self._close(stream)

    # -- internals -------------------------------------------------------------

    def _close(self, stream: _Stream) -> None:
        stream.cancel_timer()
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]

    def _send_head(self, stream: _Stream, *, fresh: bool) -> None:
        stream.cancel_timer()
        if fresh:
            stream.interval = self._min_interval
        head = stream.pending[0]
        self._forward(head)
        stream.timer = self._delay(stream.interval, self._retry, stream, head.uuid)

    def _retry(self, stream: _Stream, uuid: Any) -> None:
        stream.timer = None
        if self._paused or self._streams.get(stream.key) is not stream:
            return
        if not stream.pending or stream.pending[0].uuid != uuid:
            return
        stream.interval = min(stream.interval * 2, self._max_interval)
        self._send_head(stream, fresh=False)
