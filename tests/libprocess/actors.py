"""Small actors and messages shared by the runtime's tests."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from libprocess import PID, Message, Process


class Note(Message, frozen=True, kw_only=True):
    text: str
    number: int = 0


class Knock(Message, frozen=True, kw_only=True):
    """A message its senders resend unchanged until answered (`resent`)."""

    resent: ClassVar[bool] = True
    text: str


class Recorder(Process):
    """Records every Note and exited PID it sees, in order."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.notes: list[tuple[PID, Note]] = []
        self.exits: list[PID] = []
        self.events: list[str] = []
        self.arrived = asyncio.Event()

    def initialize(self) -> None:
        self.install(Note, self.on_note)

    def on_note(self, sender: PID, note: Note) -> None:
        self.notes.append((sender, note))
        self.events.append(f"note:{note.text}")
        self.arrived.set()

    def exited(self, pid: PID) -> None:
        self.exits.append(pid)
        self.events.append(f"exited:{pid.name}")
        self.arrived.set()

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(loop(), timeout)


class Echo(Process):
    """Sends every Note back to its sender."""

    def initialize(self) -> None:
        self.install(Note, lambda sender, note: self.send(sender, note))


class Stall(Process):
    """Blocks its whole node for `note.number` milliseconds on every Note: a busy application."""

    def initialize(self) -> None:
        self.install(Note, lambda sender, note: time.sleep(note.number / 1000))
