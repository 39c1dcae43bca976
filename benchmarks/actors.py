"""Actor runtime benchmarks, each measured side by side with its baseline in one run.

    python -m benchmarks.actors [--json FILE] [--quick] [--runs N] [--curve]

- local_oneway: messages between two processes of one node,
  against a bare deque mailbox drained by call_soon.
- local_pingpong: round trips between two local processes (reported only).
- remote_oneway: messages from a node in another OS process over tcp loopback,
  against raw pyzmq PUSH/PULL with 64 payloads a frame.
- remote_pingpong: round trips with a node in another OS process,
  against raw pyzmq request/reply over the same kind of sockets.
- with `--curve`, remote_oneway_curve and remote_pingpong_curve: the same two
  with CurveZMQ on both nodes (keys made in a temporary directory), against
  the same scenario with CurveZMQ off: the ratio is what encryption costs.

The payload is the same ~100-byte MessagePack struct everywhere. Ours and the
baseline alternate, five pairs each; the table shows medians, and the ratio is
the median of the per-pair ratios, as machines here are noisy. Each OS process
is pinned to its own core (this one to the first allowed core, the other end of
a remote scenario to the second), ours and the baseline alike, so figures do
not move with where the scheduler happens to put them. `--runs N` repeats the
whole suite and prints the spread (lowest, median, highest) of each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import uvloop
import zmq

from libprocess import PID, Message, Node, Process, curve

ROOT = Path(__file__).resolve().parents[1]
# This process runs on the first allowed core, the other end of a remote scenario on the next.
CORES = sorted(os.sched_getaffinity(0))
HERE_CORE = CORES[0]
CHILD_CORE = CORES[1] if len(CORES) > 1 else CORES[0]
TARGETS = {"local_oneway": 0.30, "remote_oneway": 0.60, "remote_pingpong": 0.50}


class BenchUpdate(Message, frozen=True):
    """About 100 bytes encoded: a few strings and numbers, like a status update."""

    framework_id: str
    task_id: str
    agent_id: str
    state: str
    sequence: int
    timestamp: float


def payload(sequence: int = 0) -> BenchUpdate:
    return BenchUpdate(
        framework_id="5f1c0a2e-0000-4a8b-9b1e-000000000001",
        task_id=f"task-{sequence:08d}",
        agent_id="5f1c0a2e-S1",
        state="TASK_RUNNING",
        sequence=sequence,
        timestamp=1764000000.125,
    )


# -- actors --------------------------------------------------------------------


class Sink(Process):
    """Counts messages; resolves `done` after `expected` of them."""

    def __init__(self, expected: int, name: str | None = None) -> None:
        super().__init__(name)
        self.expected = expected
        self.received = 0
        self.done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def initialize(self) -> None:
        self.install(BenchUpdate, self.on_update)

    def on_update(self, sender: PID, update: BenchUpdate) -> None:
        self.received += 1
        if self.received == self.expected:
            self.done.set_result(time.perf_counter())


class Blaster(Process):
    """Sends `count` messages to `target` when started, in chunks that let the loop breathe."""

    def __init__(self, target: PID, count: int, chunk: int = 4096) -> None:
        super().__init__("blaster")
        self.target = target
        self.count = count
        self.chunk = chunk
        self.message = payload()

    def initialize(self) -> None:
        self.install(BenchUpdate, self.on_start)

    def on_start(self, sender: PID, start: BenchUpdate) -> None:
        if start.sequence < 0:  # a warm-up ping: both connections exist once it is answered
            self.send(sender, start)
        else:
            self._send_chunk(self.count)

    def _send_chunk(self, remaining: int) -> None:
        send, target, message = self.send, self.target, self.message
        for _ in range(min(self.chunk, remaining)):
            send(target, message)
        if remaining > self.chunk:
            self.delay(0, self._send_chunk, remaining - self.chunk)


class Echo(Process):
    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)

    def initialize(self) -> None:
        self.install(BenchUpdate, lambda sender, update: self.send(sender, update))


class Pinger(Process):
    def __init__(self, target: PID, rounds: int, first: int = 0) -> None:
        super().__init__()
        self.target = target
        self.rounds = rounds
        self.first = first
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def initialize(self) -> None:
        self.install(BenchUpdate, self.on_pong)
        self.send(self.target, payload(self.first))

    def on_pong(self, sender: PID, update: BenchUpdate) -> None:
        if update.sequence + 1 - self.first >= self.rounds:
            self.done.set_result(None)
        else:
            self.send(sender, payload(update.sequence + 1))


# -- local ---------------------------------------------------------------------


async def local_oneway(count: int) -> float:
    async with Node() as node:
        sink = Sink(count)
        target = node.spawn(sink)
        sender = node.spawn(Process())
        message = payload()
        send = node.send
        start = time.perf_counter()
        for _ in range(count):
            send(sender, target, message)
        end = await sink.done
        return count / (end - start)


async def deque_baseline(count: int) -> float:
    """A bare mailbox: a deque drained by a call_soon callback that calls the handler."""
    loop = asyncio.get_running_loop()
    mailbox: collections.deque[tuple[Callable[[object, object], None], object, object]]
    mailbox = collections.deque()
    state = {"received": 0, "scheduled": False}
    done: asyncio.Future[float] = loop.create_future()

    def handler(sender: object, message: object) -> None:
        state["received"] += 1
        if state["received"] == count:
            done.set_result(time.perf_counter())

    def drain() -> None:
        while mailbox:
            fn, sender, message = mailbox.popleft()
            fn(sender, message)
        state["scheduled"] = False

    def enqueue(message: object) -> None:
        mailbox.append((handler, None, message))
        if not state["scheduled"]:
            state["scheduled"] = True
            loop.call_soon(drain)

    message = payload()
    start = time.perf_counter()
    for _ in range(count):
        enqueue(message)
    return count / (await done - start)


async def local_pingpong(rounds: int) -> float:
    async with Node() as node:
        echo = node.spawn(Echo())
        pinger = Pinger(echo, rounds)
        start = time.perf_counter()
        node.spawn(pinger)
        await pinger.done
        return rounds / (time.perf_counter() - start)


# -- remote: our runtime -------------------------------------------------------


def _serve_command(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks.actors",
        "--core",
        str(CHILD_CORE),
        "--serve",
        *args,
    ]


def _child(*args: str, keys: Path | None = None) -> tuple[subprocess.Popen[str], str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    if keys is not None:  # the child's Node reads its CurveZMQ keys from the environment
        environment[curve.ENVIRONMENT] = str(keys / "child")
    child = subprocess.Popen(
        _serve_command(*args),
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=environment,
    )
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def _here(keys: Path | None) -> Node:
    return Node(curve_keys=keys / "here" if keys is not None else None)


async def remote_oneway(count: int, keys: Path | None = None) -> float:
    async with _here(keys) as node:
        sink = Sink(count, "sink")
        target = node.spawn(sink)
        child, blaster_text = _child("blaster", str(target), str(count), keys=keys)
        blaster = PID.parse(blaster_text)
        try:
            warm = Pinger(blaster, 1, first=-1)
            node.spawn(warm)
            await asyncio.wait_for(warm.done, 30)
            start = time.perf_counter()
            node.send(target, blaster, payload())
            end = await asyncio.wait_for(sink.done, 120)
            return count / (end - start)
        finally:
            child.kill()
            child.wait()


async def remote_pingpong(rounds: int, keys: Path | None = None) -> float:
    async with _here(keys) as node:
        child, echo_text = _child("echo", keys=keys)
        try:
            echo = PID.parse(echo_text)
            warm = Pinger(echo, 100)
            node.spawn(warm)
            await asyncio.wait_for(warm.done, 30)
            pinger = Pinger(echo, rounds)
            start = time.perf_counter()
            node.spawn(pinger)
            await asyncio.wait_for(pinger.done, 120)
            return rounds / (time.perf_counter() - start)
        finally:
            child.kill()
            child.wait()


async def serve(role: str, args: list[str]) -> None:
    node = await Node().start()
    if role == "blaster":
        pid = node.spawn(Blaster(PID.parse(args[0]), int(args[1])))
    else:
        pid = node.spawn(Echo("echo"))
    print(pid, flush=True)
    await asyncio.Event().wait()


# -- remote: raw pyzmq baselines -------------------------------------------------


def raw_serve(role: str, args: list[str]) -> None:
    context = zmq.Context()
    encoder = msgspec.msgpack.Encoder()
    if role == "raw-blaster":
        out = context.socket(zmq.PUSH)
        out.connect(args[0])
        count = int(args[1])
        print("ready", flush=True)
        message = payload()
        batch = [message] * 64
        sys.stdin.readline()  # go
        for _ in range(count // 64):
            out.send(encoder.encode(batch))
        out.close(linger=-1)
    else:  # raw-echo: reply to each message on the paired socket
        inbound = context.socket(zmq.PULL)
        port = inbound.bind_to_random_port("tcp://127.0.0.1")
        out = context.socket(zmq.PUSH)
        out.connect(args[0])
        print(port, flush=True)
        while True:
            out.send(inbound.recv())


def raw_oneway(count: int) -> float:
    count -= count % 64
    context = zmq.Context()
    inbound = context.socket(zmq.PULL)
    port = inbound.bind_to_random_port("tcp://127.0.0.1")
    decoder = msgspec.msgpack.Decoder(list[BenchUpdate])
    child = subprocess.Popen(
        _serve_command("raw-blaster", f"tcp://127.0.0.1:{port}", str(count)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        child.stdout.readline()
        start = time.perf_counter()
        child.stdin.write("go\n")
        child.stdin.flush()
        received = 0
        while received < count:
            received += len(decoder.decode(inbound.recv()))
        return count / (time.perf_counter() - start)
    finally:
        child.kill()
        child.wait()
        inbound.close(linger=0)
        context.term()


def raw_pingpong(rounds: int) -> float:
    context = zmq.Context()
    inbound = context.socket(zmq.PULL)
    port = inbound.bind_to_random_port("tcp://127.0.0.1")
    child, echo_port = _child("raw-echo", f"tcp://127.0.0.1:{port}")
    out = context.socket(zmq.PUSH)
    out.connect(f"tcp://127.0.0.1:{echo_port}")
    encoder = msgspec.msgpack.Encoder()
    decoder = msgspec.msgpack.Decoder(BenchUpdate)
    try:
        for sequence in range(100):  # warm up the connection
            out.send(encoder.encode(payload(sequence)))
            decoder.decode(inbound.recv())
        start = time.perf_counter()
        for sequence in range(rounds):
            out.send(encoder.encode(payload(sequence)))
            decoder.decode(inbound.recv())
        return rounds / (time.perf_counter() - start)
    finally:
        child.kill()
        child.wait()
        out.close(linger=0)
        inbound.close(linger=0)
        context.term()


# -- driver ---------------------------------------------------------------------


def best_of(repeats: int, measure: Callable[[], float]) -> float:
    return max(measure() for _ in range(repeats))


def paired(
    repeats: int, ours: Callable[[], float], baseline: Callable[[], float]
) -> tuple[float, float, float]:
    """Alternate baseline and ours, so each pair sees the same machine load.

    Returns the medians of ours, of the baseline, and of the per-pair ratios
    (the figure that matters, and the one least moved by a noisy neighbour).
    """
    pairs = [(ours(), baseline()) for _ in range(repeats)]
    return (
        statistics.median(value for value, _ in pairs),
        statistics.median(base for _, base in pairs),
        statistics.median(value / base for value, base in pairs),
    )


def run_all(quick: bool, keys: Path | None = None) -> dict[str, dict[str, float | None]]:
    scale = 0.2 if quick else 1.0
    local_count = int(500_000 * scale)
    remote_count = int(1_000_000 * scale)
    rounds = int(20_000 * scale)
    repeats = 1 if quick else 5

    def on_loop(coroutine_function: Callable[[int], object], count: int) -> Callable[[], float]:
        return lambda: uvloop.run(coroutine_function(count))  # type: ignore[arg-type]

    results: dict[str, dict[str, float | None]] = {}

    def record(name: str, figures: tuple[float, float, float]) -> None:
        value, baseline, ratio = figures
        results[name] = {
            "value": value,
            "baseline": baseline,
            "ratio": ratio,
            "target": TARGETS.get(name),
        }

    record(
        "local_oneway",
        paired(repeats, on_loop(local_oneway, local_count), on_loop(deque_baseline, local_count)),
    )
    pingpong = best_of(repeats, on_loop(local_pingpong, rounds * 5))
    results["local_pingpong"] = {"value": pingpong, "baseline": None, "ratio": None, "target": None}
    record(
        "remote_oneway",
        paired(repeats, on_loop(remote_oneway, remote_count), lambda: raw_oneway(remote_count)),
    )
    record(
        "remote_pingpong",
        paired(repeats, on_loop(remote_pingpong, rounds), lambda: raw_pingpong(rounds)),
    )
    if keys is not None:  # CurveZMQ on, against the same scenario with it off
        record(
            "remote_oneway_curve",
            paired(
                repeats,
                lambda: uvloop.run(remote_oneway(remote_count, keys)),
                on_loop(remote_oneway, remote_count),
            ),
        )
        record(
            "remote_pingpong_curve",
            paired(
                repeats,
                lambda: uvloop.run(remote_pingpong(rounds, keys)),
                on_loop(remote_pingpong, rounds),
            ),
        )
    return results


def print_table(results: dict[str, dict[str, float | None]]) -> None:
    print(f"{'scenario':<17} {'ours/s':>12} {'baseline/s':>12} {'ratio':>7} {'target':>7}  ok")
    for name, row in results.items():
        baseline, ratio, target = row["baseline"], row["ratio"], row["target"]
        ok = "" if target is None or ratio is None else ("yes" if ratio >= target else "NO")
        print(
            f"{name:<17} {row['value']:>12,.0f} "
            f"{(f'{baseline:,.0f}' if baseline else '-'):>12} "
            f"{(f'{ratio:.2f}' if ratio else '-'):>7} "
            f"{(f'>={target:.2f}' if target else 'report'):>7}  {ok}"
        )


def print_spread(runs: list[dict[str, dict[str, float | None]]]) -> dict[str, dict[str, float]]:
    """Lowest, median and highest ratio (and ours/s) of each scenario over the runs."""
    spread: dict[str, dict[str, float]] = {}
    print(f"spread over {len(runs)} runs (lowest / median / highest)")
    for name in runs[0]:
        for figure in ("ratio", "value"):
            values = [run[name][figure] for run in runs]
            if any(value is None for value in values):
                continue
            numbers = sorted(float(value) for value in values if value is not None)
            low, middle, high = numbers[0], statistics.median(numbers), numbers[-1]
            spread[f"{name}/{figure}"] = {"min": low, "median": middle, "max": high}
            form = ".2f" if figure == "ratio" else ",.0f"
            print(
                f"  {name:<17} {figure:<6} {low:{form}} / {middle:{form}} / {high:{form}}"
                f"  (spread {(high - low) / middle:.0%} of the median)"
            )
    return spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="a fifth of the work, one repeat")
    parser.add_argument("--runs", type=int, default=1, help="repeat the suite, print the spread")
    parser.add_argument(
        "--curve", action="store_true", help="also the remote scenarios with CurveZMQ on"
    )
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, default=HERE_CORE, help=argparse.SUPPRESS)
    options = parser.parse_args()
    os.sched_setaffinity(0, {options.core})
    if options.serve:
        role, *rest = options.serve
        if role.startswith("raw-"):
            raw_serve(role, rest)
        else:
            uvloop.run(serve(role, rest))
        return
    print(
        f"actor benchmarks: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"pyzmq {zmq.__version__}, pinned to cores {HERE_CORE} and {CHILD_CORE}"
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="zmesos-bench-keys-") as directory:
        keys = None
        if options.curve:
            keys = Path(directory)
            curve.generate(keys, ["here", "child"])
            print("remote *_curve: CurveZMQ on, baseline: the same scenario with it off")
        for _ in range(max(1, options.runs)):
            runs.append(run_all(options.quick, keys))
            print_table(runs[-1])
    figures: object = runs[0]
    if len(runs) > 1:
        figures = {"runs": runs, "spread": print_spread(runs)}
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
