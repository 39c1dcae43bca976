"""Mesos's RecordIO: each record is its length in bytes, a newline, then the record.

    20\n{"type":"HEARTBEAT"}

`encode` frames one record; `RecordReader` takes bytes as they arrive (in
any chunks) and yields whole records, refusing a length over its limit.
"""

from __future__ import annotations

from zmesos.errors import ApiError

__all__ = ["RecordReader", "encode"]

MAX_LENGTH_DIGITS = 20  # a uint64


def encode(record: bytes) -> bytes:
    return b"%d\n%s" % (len(record), record)


class RecordReader:
    """Incremental decoder. `feed(data)` returns the records completed by `data`."""

    def __init__(self, max_record: int = 64 * 1024 * 1024) -> None:
        self.max_record = max_record
        self._buffer = bytearray()
        self._length: int | None = None

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        records: list[bytes] = []
        while True:
            if self._length is None:
                newline = self._buffer.find(b"\n")
                if newline < 0:
                    if len(self._buffer) > MAX_LENGTH_DIGITS:
                        raise ApiError("RecordIO: record length is not a number")
                    return records
                text = bytes(self._buffer[:newline]).strip()
                if not text.isdigit() or len(text) > MAX_LENGTH_DIGITS:
                    raise ApiError(f"RecordIO: bad record length {text[:32]!r}")
                length = int(text)
                if length > self.max_record:
                    raise ApiError(f"RecordIO: record of {length} bytes is over the limit")
                self._length = length
                del self._buffer[: newline + 1]
            if len(self._buffer) < self._length:
                return records
            records.append(bytes(self._buffer[: self._length]))
            del self._buffer[: self._length]
            self._length = None
