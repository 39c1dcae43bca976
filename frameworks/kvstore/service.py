"""The key-value service: `python -m frameworks.kvstore.service --port P --data DIR`.

Keys and values live in SQLite at `DIR/kv.sqlite` (DIR is the task's
persistent volume); every write is committed before it is answered, so an
answered PUT survives any kill. HTTP on `--host:--port`:
`PUT /keys/<key>` (body: the value), `GET /keys/<key>` (404 when missing),
`GET /keys` (every key, JSON), `GET /health`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

__all__ = ["KeyValueStore", "main"]

_MAX_VALUE = 1 << 20


class KeyValueStore:
    """SQLite under a lock: one connection, shared by the server's threads."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB)")

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))

    def get(self, key: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def items(self) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM kv ORDER BY key").fetchall()
        return {key: bytes(value).decode(errors="replace") for key, value in rows}


def _handler(store: KeyValueStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

        def _answer(self, status: int, body: bytes = b"", kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _key(self) -> str | None:
            if not self.path.startswith("/keys/"):
                return None
            key = unquote(self.path[len("/keys/") :])
            return key or None

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, b"ok")
            elif self.path == "/keys":
                self._answer(200, json.dumps(store.items()).encode(), "application/json")
            elif (key := self._key()) is None:
                self._answer(404, b"no such path")
            elif (value := store.get(key)) is None:
                self._answer(404, b"no such key")
            else:
                self._answer(200, value, "application/octet-stream")

        def do_PUT(self) -> None:
            key = self._key()
            length = int(self.headers.get("Content-Length") or 0)
            if key is None:
                self._answer(404, b"no such path")
            elif not 0 <= length <= _MAX_VALUE:
                self._answer(413, b"value too large")
            else:
                store.put(key, self.rfile.read(length))
                self._answer(204)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="frameworks.kvstore.service")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", required=True, help="the directory of the persistent volume")
    options = parser.parse_args(argv)
    data = Path(options.data)
    if not data.is_dir():
        print(f"--data {data} is not a directory", file=sys.stderr)
        return 2
    store = KeyValueStore(data / "kv.sqlite")
    server = ThreadingHTTPServer((options.host, options.port), _handler(store))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"serving {len(store.items())} keys from {data} on {options.host}:{options.port}")
    sys.stdout.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
