"""Flood benchmark: a master's memory while one local client floods it with small frames.

    python -m benchmarks.flood [--seconds 15] [--json FILE] [--quick]

A real `zmesos master` runs as its own OS process; a raw pyzmq PUSH client (its
own OS process too) sends it small valid frames as fast as ZeroMQ lets it, for
`--seconds`: each frame one `Pong` from a process the master has never heard
of, which the master drops (and logs). Reported: the master's peak resident
memory (VmHWM) against its resident memory before the flood, the frames the
client got out, the bytes of log the master wrote, and how long a real
framework took to register while the flood ran (an ordinary peer must still
get through).

The flood is stopped early, and reported as such, if the master passes
`--rss-ceiling-mb` (so a regression cannot eat the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import uvloop
import zmq

from libprocess.origins import RawPeer

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def flood(
    endpoint: str, to: str, name: str, body: object, seconds: float, per_run: int, runs: int
) -> int:
    """Send frames of `runs` runs of `per_run` copies of `body` to `to` for `seconds`; frames sent.

    Sends block when ZeroMQ's queue to the peer is full: a receiver that applies
    backpressure slows this client down. SIGTERM ends the flood early (a test
    stops it once it has seen what it waited for, however slow the machine).
    """
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    context = zmq.Context()
    peer = RawPeer(context, endpoint)  # answers the receiver's question: who it is
    out = peer.outbound
    run = [peer.pid("flooder"), to, name, [body] * per_run]
    frame = msgspec.msgpack.encode([run] * runs)
    sent = 0
    deadline = time.monotonic() + seconds
    while True:
        for index in range(256):
            if stopping:
                break
            if index % 16 == 0:  # the receiver's question comes early: answer it soon
                peer.answer()
            if out.poll(100, zmq.POLLOUT):
                out.send(frame, zmq.NOBLOCK)
                sent += 1
        if stopping or time.monotonic() >= deadline:
            break
    peer.close()
    context.term()
    return sent


def start_flooder(
    endpoint: str,
    to: str,
    name: str,
    body: object,
    seconds: float,
    per_run: int = 1,
    runs: int = 1,
) -> subprocess.Popen[str]:
    """The flooding client in its own OS process; it prints the frames it sent when done."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.flood",
            "--flood",
            endpoint,
            to,
            name,
            json.dumps(body),
            str(seconds),
            str(per_run),
            str(runs),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=ENV,
    )


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB, from /proc."""
    figures: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0])
    return figures


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _register_framework(master: str, timeout: float) -> float | None:
    """Seconds a real scheduler driver takes to register with `master` (None: not in time)."""
    from frameworks.batch import BatchScheduler
    from frameworks.scheduler import SchedulerDriver
    from libprocess import Node
    from zmesos.protocol import FrameworkInfo

    scheduler = BatchScheduler([])
    framework = FrameworkInfo(user=getpass.getuser(), name="probe", roles=("*",))
    async with Node() as node:
        driver = SchedulerDriver(scheduler, framework, master)
        start = time.perf_counter()
        node.spawn(driver)
        try:
            while not driver.framework_id:
                if time.perf_counter() - start > timeout:
                    return None
                await asyncio.sleep(0.01)
            return time.perf_counter() - start
        finally:
            driver.stop()


def measure(seconds: float, rss_ceiling_mb: float) -> dict[str, object]:
    port, actor_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="zmesos-flood-") as work:
        log_path = Path(work) / "master.log"
        with open(log_path, "wb") as log_file:
            master = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "zmesos.cli",
                    "master",
                    "--port",
                    str(port),
                    "--actor-port",
                    str(actor_port),
                ],
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
                cwd=ROOT,
                env=ENV,
            )
        try:
            assert master.stdout is not None
            master.stdout.readline()  # "master master@..." once it serves
            before = memory_kb(master.pid)["VmRSS"]
            flooder = start_flooder(f"tcp://127.0.0.1:{actor_port}", "master", "Pong", {}, seconds)
            time.sleep(min(1.0, seconds / 3))
            registered = uvloop.run(_register_framework(f"127.0.0.1:{port}", seconds))
            peak = before
            stopped_early = False
            while flooder.poll() is None:
                peak = max(peak, memory_kb(master.pid)["VmRSS"])
                if peak > rss_ceiling_mb * 1024:
                    stopped_early = True
                    flooder.kill()
                    break
                time.sleep(0.05)
            out, _ = flooder.communicate(timeout=30)
            frames = int(out.strip() or 0)
            peak = max(peak, memory_kb(master.pid)["VmHWM"])
        finally:
            master.kill()
            master.wait()
        log_bytes = log_path.stat().st_size
    return {
        "seconds": seconds,
        "rss_before_mb": before / 1024,
        "rss_peak_mb": peak / 1024,
        "frames_sent": frames,
        "log_mb": log_bytes / 1e6,
        "framework_registered_s": registered,
        "stopped_at_ceiling": stopped_early,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="flood length (default: 15)")
    parser.add_argument(
        "--rss-ceiling-mb", type=float, default=6000.0, help="stop the flood above this"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="a 3 s flood")
    parser.add_argument("--flood", nargs=7, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.flood:
        endpoint, to, name, body, seconds, per_run, runs = options.flood
        print(flood(endpoint, to, name, json.loads(body), float(seconds), int(per_run), int(runs)))
        return
    seconds = 3.0 if options.quick else options.seconds
    figures = measure(seconds, options.rss_ceiling_mb)
    print(f"flood benchmark: {os.cpu_count()} cores, pyzmq {zmq.__version__}, no randomness")
    for key, value in figures.items():
        print(f"  {key:<24} {value if not isinstance(value, float) else f'{value:,.3f}'}")
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
