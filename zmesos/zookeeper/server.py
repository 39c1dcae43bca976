"""A ZooKeeper server on loopback, for tests, benchmarks and `zmesos local --masters N`.

Runs Debian's `zookeeper` package (installed by `make`) as a standalone
server: its own data directory, a free port, a short tick so sessions of
masters that die expire quickly. `start` returns once the server answers
(it blocks: call it from a worker thread in async code); `stop` kills it and
waits; `restart` keeps its port and data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["ZOOKEEPER_JAR", "ZooKeeperServer", "ZooKeeperUnavailable"]

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
START_TIMEOUT = 30.0
JUTE_MAX_BUFFER = 4 * 1024 * 1024  # a registry read of 50,000 agents lists big directories


class ZooKeeperUnavailable(RuntimeError):
    """ZooKeeper (or Java) is not installed, or the server did not start."""


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class ZooKeeperServer:
    """One standalone server. `tick_ms` sets the session timeout floor (2 ticks)."""

    def __init__(
        self, data_dir: str | Path, host: str = "127.0.0.1", port: int = 0, tick_ms: int = 250
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or _free_port(host)
        self.tick_ms = tick_ms
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"zk://{self.hosts}{path}"

    @staticmethod
    def available() -> str | None:
        """None when a server can be started here, else why not."""
        if not ZOOKEEPER_JAR.exists():
            return f"{ZOOKEEPER_JAR} is missing (make installs Debian's zookeeper package)"
        if shutil.which("java") is None:
            return "java is not installed (Debian's zookeeper package brings it)"
        return None

    def start(self) -> ZooKeeperServer:
        """Start the server and wait until it answers (blocking: a few seconds of Java)."""
        problem = self.available()
        if problem is not None:
            raise ZooKeeperUnavailable(problem)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "zoo.cfg"
        config.write_text(
            "\n".join(
                [
                    f"tickTime={self.tick_ms}",
                    f"dataDir={self.data_dir / 'data'}",
                    f"clientPort={self.port}",
                    f"clientPortAddress={self.host}",
                    "maxClientCnxns=0",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=ruok",
                    "",
                ]
            )
        )
        with open(self.data_dir / "zookeeper.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    "java",
                    "-Xmx512m",
                    f"-Djute.maxbuffer={JUTE_MAX_BUFFER}",
                    "-Dzookeeper.admin.enableServer=false",
                    "-cp",
                    str(ZOOKEEPER_JAR),
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                    str(config),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._wait_until_serving()
        return self

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process is not None and self.process.poll() is not None:
                raise ZooKeeperUnavailable(
                    f"ZooKeeper exited ({self.process.returncode}); see {self.data_dir}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ZooKeeperUnavailable(f"ZooKeeper did not start; see {self.data_dir}")
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=2.0) as connection:
                connection.sendall(b"ruok")
                return connection.recv(4) == b"imok"
        except OSError:
            return False

    def stop(self) -> None:
        """Kill the server (SIGKILL, its whole session) and wait for it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start()
