"""A ZooKeeper server on loopback, for tests, benchmarks and `zmesos local --masters N`.

Runs Debian's `zookeeper` package (installed by `make`) as a standalone
server: its own data directory, a free port, a short tick so sessions of
masters that die expire quickly. `start` returns once the server answers
(it blocks: call it from a worker thread in async code); `stop` kills it and
waits; `restart` keeps its port and data.

The server logs (log4j, INFO and up) to `zookeeper.log` in its data directory,
what the JVM itself prints goes to `zookeeper.out` there; a server that exits
or does not answer in time raises ZooKeeperUnavailable with the last lines of
both (stack frames left out), so the reason (a port in use, a bad data
directory, ...) is in the error itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["ZOOKEEPER_JAR", "ZooKeeperServer", "ZooKeeperUnavailable"]

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
# Debian's zookeeper.jar logs through SLF4J and names no binding on its class path, so
# its log would go nowhere (SLF4J's no-op logger): these bind it to log4j 1.2. Both
# come with the package (libzookeeper-java depends on libslf4j-java, liblog4j1.2-java).
LOGGING_JARS = (Path("/usr/share/java/slf4j-log4j12.jar"), Path("/usr/share/java/log4j-1.2.jar"))
START_TIMEOUT = 30.0
JUTE_MAX_BUFFER = 4 * 1024 * 1024  # a registry read of 50,000 agents lists big directories
LOG_TAIL_LINES = 8  # of the log, in a start failure's message
_STACK_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")
_LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.RollingFileAppender
log4j.appender.FILE.File={log}
log4j.appender.FILE.MaxFileSize=10MB
log4j.appender.FILE.MaxBackupIndex=1
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} %-5p [%t:%C{{1}}@%L] %m%n
"""


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
    def log_path(self) -> Path:
        """The server's own log (log4j)."""
        return self.data_dir / "zookeeper.log"

    @property
    def output_path(self) -> Path:
        """What the JVM prints on its stdout and stderr (a JVM that cannot start says why)."""
        return self.data_dir / "zookeeper.out"

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
        logging = self.data_dir / "log4j.properties"
        log_file = str(self.log_path).replace("\\", "\\\\")  # a Java properties value
        logging.write_text(_LOG4J_PROPERTIES.format(log=log_file))
        class_path = [ZOOKEEPER_JAR, *(jar for jar in LOGGING_JARS if jar.exists())]
        with open(self.output_path, "ab") as output:
            self.process = subprocess.Popen(
                [
                    "java",
                    "-Xmx512m",
                    f"-Djute.maxbuffer={JUTE_MAX_BUFFER}",
                    "-Dzookeeper.admin.enableServer=false",
                    f"-Dlog4j.configuration={logging.as_uri()}",
                    "-cp",
                    ":".join(str(jar) for jar in class_path),
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                    str(config),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        self._wait_until_serving()
        return self

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process is not None and self.process.poll() is not None:
                raise ZooKeeperUnavailable(
                    self._failure(f"ZooKeeper exited ({self.process.returncode})")
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ZooKeeperUnavailable(
                    self._failure(f"ZooKeeper did not answer within {START_TIMEOUT:g} s")
                )
            time.sleep(0.1)

    def _failure(self, what: str) -> str:
        """`what` went wrong, and the last lines the server and its JVM wrote."""
        lines = self.log_tail()
        if not lines:
            return f"{what} and wrote no log; see {self.data_dir}"
        shown = "\n".join(f"  {line}" for line in lines)
        return f"{what}; the end of its log ({self.log_path}):\n{shown}"

    def log_tail(self, count: int = LOG_TAIL_LINES) -> list[str]:
        """The last `count` lines of what the JVM printed and of the log, stack frames
        left out (the exception and its message stay)."""
        lines: list[str] = []
        for path in (self.output_path, self.log_path):
            with contextlib.suppress(OSError):
                lines += [
                    line
                    for line in path.read_text(errors="replace").splitlines()
                    if line.strip() and not _STACK_FRAME.match(line)
                ]
        return lines[-count:]

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
