import json

from libprocess import Node, configure_logging
from libprocess.testing import settle
from tests.libprocess.actors import Note, Recorder


class Chatty(Recorder):
    def on_note(self, sender, note):
        self.log.info("note_seen", text=note.text)


async def test_logging_json_lines_carry_the_actor_pid(capsys):
    configure_logging(json=True, level="info")
    try:
        async with Node() as node:
            pid = node.spawn(Chatty())
            node.send(pid, pid, Note(text="hi"))
            await settle()
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
        seen = [line for line in lines if line["event"] == "note_seen"]
        assert seen == [
            {
                "event": "note_seen",
                "text": "hi",
                "pid": str(pid),
                "level": "info",
                "timestamp": seen[0]["timestamp"],
            }
        ]
    finally:
        configure_logging()  # back to what the environment says


def test_logging_rejects_an_unknown_level():
    import pytest

    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(level="chatty")


def test_logging_drop_lines_are_rate_limited_per_event_and_reason():
    import pytest
    import structlog

    from libprocess.logging import DropLogLimiter

    now = [100.0]
    limiter = DropLogLimiter(lines=3, window=1.0, now=lambda: now[0])

    def passes(event: dict) -> bool:
        try:
            limiter(None, "warning", event)
        except structlog.DropEvent:
            return False
        return True

    first = [passes({"event": "dropping_message", "reason": "no handler"}) for _ in range(10)]
    assert first == [True] * 3 + [False] * 7
    assert passes({"event": "dropping_message", "reason": "no such process"})  # its own budget
    assert passes({"event": "note_seen"})  # only drops are limited
    now[0] += 1.0
    line = {"event": "dropping_message", "reason": "no handler"}
    assert passes(line)
    assert line["suppressed"] == 7
    with pytest.raises(structlog.DropEvent):
        for _ in range(3):
            limiter(None, "warning", {"event": "dropping_message", "reason": "no handler"})


async def test_logging_a_flood_of_dropped_messages_logs_few_lines_and_counts_every_one(capsys):

    configure_logging(json=True, level="info")
    try:
        async with Node() as node:
            deaf = node.spawn(Recorder())
            node.processes[deaf.name]._handlers.clear()  # it takes no message now
            for number in range(5000):
                node.send(deaf, deaf, Note(text="x", number=number))
            await settle()
            assert node.metrics["dropped_messages/no_handler"] == 5000
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
        drops = [line for line in lines if line["event"] == "dropping_message"]
        assert 1 <= len(drops) <= 20
    finally:
        configure_logging()
