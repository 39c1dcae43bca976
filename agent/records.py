"""Framed records: how every checkpoint file holds its content.

A file is a sequence of records, each `length (4 bytes, big endian) | crc32 of
the payload (4 bytes) | payload`. An info file holds one record; a task's
status update stream holds one per update and acknowledgement, in order.
Checkpoints are replaced whole (zmesos.durable.write_atomically), so a torn
file should never be seen; if one is (a disk that lies about fsync, a copy cut
short, a hand edit), `split` keeps every whole record before the damage and
says how many bytes it dropped, so the last complete record wins.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["HEADER_SIZE", "MAX_RECORD_BYTES", "Split", "frame", "split"]

_HEADER = struct.Struct(">II")
HEADER_SIZE = _HEADER.size
MAX_RECORD_BYTES = 64 * 1024 * 1024  # a longer length field is damage, not a record


class Split:
    """The whole records at the head of some bytes, and what followed them."""

    __slots__ = ("dropped", "records", "valid_length")

    def __init__(self, records: list[bytes], valid_length: int, dropped: int) -> None:
        self.records = records
        self.valid_length = valid_length  # bytes that hold the whole records
        self.dropped = dropped  # bytes after them: a torn or damaged tail


def frame(payload: bytes) -> bytes:
    """`payload` as one record."""
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def split(data: bytes) -> Split:
    """The records of `data`, stopping at the first that is cut short or fails its checksum."""
    records: list[bytes] = []
    offset = 0
    while offset + HEADER_SIZE <= len(data):
        length, checksum = _HEADER.unpack_from(data, offset)
        start = offset + HEADER_SIZE
        end = start + length
        if length > MAX_RECORD_BYTES or end > len(data):
            break
        payload = data[start:end]
        if zlib.crc32(payload) != checksum:
            break
        records.append(payload)
        offset = end
    return Split(records, offset, len(data) - offset)
