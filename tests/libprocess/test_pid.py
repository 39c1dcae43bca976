import pickle

import pytest

from libprocess import PID


def test_pid_parse_and_format_round_trip():
    pid = PID.parse("master@127.0.0.1:5050")
    assert (pid.name, pid.host, pid.port) == ("master", "127.0.0.1", 5050)
    assert str(pid) == "master@127.0.0.1:5050"
    assert pid.address == ("127.0.0.1", 5050)


def test_pid_equality_and_hashing_use_all_parts():
    a = PID("agent(1)", "10.0.0.1", 5051)
    assert a == PID.parse("agent(1)@10.0.0.1:5051")
    assert len({a, PID("agent(1)", "10.0.0.1", 5051), PID("agent(1)", "10.0.0.1", 5052)}) == 2
    assert a != PID("agent(2)", "10.0.0.1", 5051)
    assert pickle.loads(pickle.dumps(a)) == a


def test_pid_parse_accepts_bracketed_ipv6():
    assert PID.parse("p@[::1]:1").host == "[::1]"


@pytest.mark.parametrize(
    "text",
    ["", "master", "master@host", "@host:1", "m@host:port", "m@host:0", "m@host:70000", "a b@h:1"],
)
def test_pid_parse_rejects_malformed_text_with_a_clear_error(text):
    with pytest.raises(ValueError, match="bad PID"):
        PID.parse(text)
