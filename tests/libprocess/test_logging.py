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
