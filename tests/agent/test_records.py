"""Framed records: whole records survive, a torn or damaged tail is measured and left out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.records import HEADER_SIZE, frame, split


def test_records_round_trip_in_order():
    data = b"".join(frame(payload) for payload in (b"one", b"", b"three"))
    parts = split(data)
    assert parts.records == [b"one", b"", b"three"]
    assert (parts.valid_length, parts.dropped) == (len(data), 0)


def test_records_torn_tail_keeps_the_whole_ones():
    whole = frame(b"first") + frame(b"second")
    torn = whole + frame(b"third")[:-2]
    parts = split(torn)
    assert parts.records == [b"first", b"second"]
    assert parts.valid_length == len(whole)
    assert parts.dropped == len(torn) - len(whole)


def test_records_checksum_mismatch_ends_the_stream():
    damaged = bytearray(frame(b"first") + frame(b"second") + frame(b"third"))
    damaged[len(frame(b"first")) + HEADER_SIZE] ^= 0xFF  # a bit flipped inside "second"
    parts = split(bytes(damaged))
    assert parts.records == [b"first"]
    assert parts.dropped == len(damaged) - len(frame(b"first"))


def test_records_absurd_length_is_damage_not_a_record():
    assert split(b"\xff\xff\xff\xff\x00\x00\x00\x00rest").records == []


@given(st.lists(st.binary(max_size=64), max_size=8), st.data())
def test_records_any_cut_keeps_a_prefix(payloads, data):
    whole = b"".join(frame(payload) for payload in payloads)
    cut = data.draw(st.integers(min_value=0, max_value=len(whole)))
    parts = split(whole[:cut])
    assert parts.records == payloads[: len(parts.records)]
    assert parts.valid_length + parts.dropped == cut
