"""Whether a master leads, and where the leader is, readable without asking the master.

The master's HTTP checks leadership on every request (master.http's
middleware: 307 to the leader, 503 while none is elected). Asking the master
by `dispatch` each time cost about 15% of the CPU of a v1 scheduler call, so
the Master publishes a `Leadership` here whenever its `leading` or `leader`
changes, and withdraws it when it ends; the middleware reads the last one
published for the master's PID. Both run on the master's event loop, so a
read sees every change made before it.
"""

from __future__ import annotations

import dataclasses

from libprocess import PID

__all__ = ["Leadership", "current", "publish", "withdraw"]


@dataclasses.dataclass(frozen=True, slots=True)
class Leadership:
    """`leading`: this master serves; `leader`: the leader's HTTP `host:port`, if known."""

    leading: bool
    leader: str | None


# master PID -> (the Master object that published, what it published)
_published: dict[PID, tuple[object, Leadership]] = {}


def publish(pid: PID, owner: object, leadership: Leadership) -> None:
    _published[pid] = (owner, leadership)


def withdraw(pid: PID, owner: object) -> None:
    """Forget what `owner` published (not what a newer master at `pid` did)."""
    entry = _published.get(pid)
    if entry is not None and entry[0] is owner:
        del _published[pid]


def current(pid: PID) -> Leadership | None:
    """What the running master at `pid` published last; None when none runs there."""
    entry = _published.get(pid)
    return None if entry is None else entry[1]
