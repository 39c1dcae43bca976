"""Fuzz: every registered message type, random and boundary values, at a real master and agent.

A master node and an agent node (the same code the CLI runs, on real ZeroMQ over
loopback) take frames from a raw ZeroMQ socket: each frame a run of messages of
one registered type whose bodies are built from the type's schema, most fields
plausible (ids and PIDs the nodes know, boundary numbers, valid enum names) and
some wrong on purpose (bad types, bad states, bad PIDs, huge or control-character
strings). Senders are processes of the fuzzer's own node and, for most types,
the very PIDs the target trusts (its agent, its framework's scheduler, its
master), so the frames reach deep into the handlers. A node takes a run only
from a connection proven to speak for its sender's node (libprocess.origins),
so each frame goes out on a raw channel of the node that owns its sender, as
a compromised node would send it.

Afterwards: no handler raised (`handler_errors`), the master's registries and
the agent's tables still agree with themselves, and a new framework still runs
a command task to TASK_FINISHED on the real agent.

    python -m benchmarks.fuzz [--frames 100000] [--seed S] [--json PATH]

prints frames, frames/s, what the nodes refused and the checks' outcome. The
`make test` sweep (tests/e2e/test_fuzz.py) runs the same harness with fewer frames.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import msgspec
import uvloop
import zmq

from agent import AgentFlags
from agent.runner import AgentHandle, run_agent
from frameworks import Scheduler, SchedulerDriver
from libprocess import PID, Message, Node, configure_logging
from master import MasterFlags
from master.runner import MasterHandle, run_master
from zmesos.protocol import (
    CommandInfo,
    Filters,
    FrameworkInfo,
    Offer,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from zmesos.resources import Resources

__all__ = [
    "FrameFactory",
    "FuzzResult",
    "Targets",
    "check_agent",
    "check_master",
    "fuzz",
    "run_fuzz",
    "serves_a_framework",
    "start_targets",
    "wait_taken",
]

# Messages a trusted sender could send legitimately and that end what the final
# check needs (the agent, its registration, a process launch from a random
# command): these come only from the fuzzer's own processes.
_NOT_FORGED_TO_MASTER = frozenset(
    {
        "UnregisterAgent",
        "RegisterAgent",
        "ReregisterAgent",
        "RegisterFramework",  # from the agent's PID: a framework there would hold its offers
        "ReregisterFramework",
        "ExitedNotice",
        "LinkRequest",
    }
)
_NOT_FORGED_TO_AGENT = frozenset(
    {
        "ShutdownAgent",
        "AgentRegistered",
        "AgentReregistered",
        "RunTask",
        "RunTaskGroup",
        "ExitedNotice",
        "LinkRequest",
        "CheckpointResources",
    }
)
_AGENT_RESOURCES = "cpus:2;mem:1024;disk:1024;ports:[31000-31100]"
_BIG = 2**63


class FrameFactory:
    """Builds fuzz frames (plain MessagePack, as msgpack-python writes it) from the schemas.

    `known` holds strings the targets know (ids, PIDs, task ids, roles): strings are
    drawn from it often, so guards pass and handlers go deep. `mutation` is the
    chance that a field gets a value of the wrong kind.
    """

    def __init__(self, rng: random.Random, *, mutation: float = 0.08) -> None:
        self.rng = rng
        self.mutation = mutation
        self.known: list[str] = ["*", "t1", "e1", "role1", "TASK_RUNNING", "cpus", "mem"]
        self.names = sorted(Message.registry)
        self._schemas = {
            name: msgspec.inspect.type_info(Message.registry[name]) for name in self.names
        }

    def learn(self, *values: str) -> None:
        for value in values:
            if value and value not in self.known:
                self.known.append(value)

    def body(self, name: str) -> dict[str, Any]:
        value = self._value(self._schemas[name], depth=0)
        assert isinstance(value, dict)
        return value

    def frame(self, sender: str, to: str, name: str, count: int = 1) -> bytes:
        return msgpack.packb([[sender, to, name, [self.body(name) for _ in range(count)]]])

    # -- values --------------------------------------------------------------------

    def _value(self, info: msgspec.inspect.Type, depth: int) -> Any:
        rng = self.rng
        if depth > 0 and rng.random() < self.mutation:
            return self._wrong()
        inspect = msgspec.inspect
        if isinstance(info, inspect.StructType):
            out: dict[str, Any] = {}
            for field in info.fields:
                if not field.required and rng.random() < 0.3:
                    continue  # keep the default
                if field.required and rng.random() < self.mutation / 4:
                    continue  # a missing required field
                out[field.encode_name] = self._value(field.type, depth + 1)
            return out
        if isinstance(info, (inspect.ListType, inspect.VarTupleType, inspect.SetType)):
            size = rng.choice((0, 0, 1, 1, 2, 3)) if depth < 4 else 0
            return [self._value(info.item_type, depth + 1) for _ in range(size)]
        if isinstance(info, inspect.DictType):
            size = rng.choice((0, 1, 2)) if depth < 4 else 0
            return {
                self._key(info.key_type): self._value(info.value_type, depth + 1)
                for _ in range(size)
            }
        if isinstance(info, inspect.UnionType):
            return self._value(rng.choice(info.types), depth)
        if isinstance(info, inspect.EnumType):
            if rng.random() < 0.1:
                return rng.choice(("BOGUS", "", "task_running", 3))
            return rng.choice([member.value for member in info.cls])
        if isinstance(info, inspect.LiteralType):
            return rng.choice(info.values)
        if isinstance(info, inspect.StrType):
            return self._string()
        if isinstance(info, inspect.BoolType):
            return rng.random() < 0.5
        if isinstance(info, inspect.IntType):
            return rng.choice((0, 1, -1, 2, 7, 2**31, -(2**31), _BIG - 1, -_BIG, 65535, 65536))
        if isinstance(info, inspect.FloatType):
            return rng.choice(
                (
                    0.0,
                    -0.0,
                    1.0,
                    0.5,
                    -1.0,
                    5.0,
                    1e308,
                    -1e308,
                    math.inf,
                    -math.inf,
                    math.nan,
                    1e-300,
                )
            )
        if isinstance(info, inspect.BytesType):
            return rng.choice((b"", b"\x00", b"x" * 16, rng.randbytes(16), b"\xff" * 1000))
        if isinstance(info, inspect.NoneType):
            return None
        return self._wrong()

    def _key(self, info: msgspec.inspect.Type) -> Any:
        if isinstance(info, msgspec.inspect.StrType):
            return self._string()
        value = self._value(info, depth=1)
        return value if isinstance(value, (str, int, float, bool, bytes)) else "k"

    def _string(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            return rng.choice(self.known)
        if roll < 0.7:
            return ""
        return rng.choice(
            (
                "x" * 300,
                "a/b",
                "..",
                "with space",
                "ctl\x00\x1f",
                "é☃\u202e",
                "nobody@127.0.0.1:1",
                "s@127.0.0.1:0",
                "s@127.0.0.1:70000",
                "cpus:-1;mem:nan",
                "TASK_BOGUS",
                "role/sub",
                str(rng.random()),
            )
        )

    def _wrong(self) -> Any:
        rng = self.rng
        return rng.choice(
            (None, [], {}, "BOGUS", -1, _BIG - 1, 1.5, math.nan, b"\x00", [None], {"x": 1}, True)
        )


@dataclasses.dataclass
class Targets:
    master: MasterHandle
    agent: AgentHandle
    sink: Node  # the fuzzer's own node: senders live here, replies land here
    driver: SchedulerDriver  # a framework the fuzz frames impersonate
    work_dir: Path
    channels: dict[tuple[str, tuple[str, int]], zmq.Socket[bytes]] = dataclasses.field(
        default_factory=dict
    )

    def channel(self, key: str, sender: str) -> zmq.Socket[bytes]:
        """A raw channel to the master's node (`key` "master") or the agent's, from the node
        that owns `sender` (one of the three nodes)."""
        address = PID.parse(sender).address
        cached = self.channels.get((key, address))
        if cached is not None:
            return cached
        owners = (self.master.node, self.agent.node, self.sink)
        [owner] = [node for node in owners if node.address == address]
        target = self.master.node if key == "master" else self.agent.node
        channel = owner.open_channel(target.address)
        channel.setsockopt(zmq.SNDHWM, 0)
        self.channels[(key, address)] = channel
        return channel

    async def stop(self) -> None:
        for node in (self.sink,):
            await node.stop()
        await self.agent.stop()
        await self.master.stop()


class _Idle(Scheduler):
    """The impersonated framework: registers, keeps what it is offered."""

    def __init__(self) -> None:
        self.offers: list[Offer] = []

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        self.offers.extend(offers)


async def _until(
    predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(poll)


async def start_targets(work_dir: Path) -> Targets:
    """A master, an agent registered with it, and an idle framework holding an offer."""
    master = await run_master(
        MasterFlags(ip="127.0.0.1", port=0, master_id="FUZZ", allocation_interval=0.2)
    )
    agent = await run_agent(
        AgentFlags(
            master=f"127.0.0.1:{master.http.port}",
            ip="127.0.0.1",
            port=0,
            work_dir=str(work_dir),
            resources=_AGENT_RESOURCES,
            registration_backoff_factor=0.1,
        )
    )
    await _until(lambda: bool(agent.agent.connected), 20, "the agent to register")
    sink = await Node(host="127.0.0.1").start()
    scheduler = _Idle()
    driver = SchedulerDriver(
        scheduler,
        FrameworkInfo(user="fuzz", name="fuzzed", roles=("*",)),
        master.pid,
        registration_backoff=(0.2, 1.0),
    )
    sink.spawn(driver)
    await _until(lambda: bool(scheduler.offers), 20, "an offer to the fuzzed framework")
    return Targets(master, agent, sink, driver, work_dir)


def _learn_targets(factory: FrameFactory, targets: Targets) -> None:
    master = targets.master.master
    factory.learn(str(targets.master.pid), str(targets.agent.pid), str(targets.driver.pid))
    factory.learn(master.id, targets.agent.agent.agent_id, targets.driver.framework_id)
    for offer in master.offers.all():
        factory.learn(offer.id)
    for framework in master.cluster.frameworks.values():
        factory.learn(framework.id, *framework.tasks)


async def wait_taken(targets: Targets, key: str, frame: bytes) -> None:
    """Send one frame to the master's node (`key` "master") or the agent's, until it is read."""
    node = targets.master.node if key == "master" else targets.agent.node
    sender = msgpack.unpackb(frame)[0][0]
    before = node.metrics["frames_received"]
    targets.channel(key, sender).send(frame)
    await _until(lambda: node.metrics["frames_received"] > before, 10, "the frame to arrive")
    await asyncio.sleep(0.001)  # its messages are handled


@dataclasses.dataclass
class FuzzResult:
    frames: int
    messages: int
    seconds: float
    master_refused: int
    agent_refused: int
    master_handler_errors: int
    agent_handler_errors: int
    problems: list[str]

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


async def fuzz(targets: Targets, frames: int, rng: random.Random) -> FuzzResult:
    """Send `frames` fuzz frames, half to the master and half to the agent, then check."""
    factory = FrameFactory(rng)
    _learn_targets(factory, targets)
    sink_host, sink_port = targets.sink.address
    own = [f"{name}@{sink_host}:{sink_port}" for name in ("fuzz(1)", "fuzz(2)", "scheduler(9)")]
    master_pid, agent_pid = str(targets.master.pid), str(targets.agent.pid)
    to_master = [*own, agent_pid, str(targets.driver.pid)]
    to_agent = [*own, master_pid]
    nodes = {"master": targets.master.node, "agent": targets.agent.node}
    before = {key: node.metrics["frames_received"] for key, node in nodes.items()}
    sent = {"master": 0, "agent": 0}
    messages = 0
    started = time.perf_counter()
    try:
        for index in range(frames):
            key = "master" if index % 2 == 0 else "agent"
            name = rng.choice(factory.names)
            senders = to_master if key == "master" else to_agent
            sender = rng.choice(senders)
            forbidden = _NOT_FORGED_TO_MASTER if key == "master" else _NOT_FORGED_TO_AGENT
            if sender not in own and name in forbidden:
                sender = rng.choice(own)
            to = rng.choice(("master", "agent")) if rng.random() < 0.95 else rng.choice(("", "x"))
            to = key if to in ("master", "agent") else to
            count = rng.choice((1, 1, 1, 2, 5))
            targets.channel(key, sender).send(factory.frame(sender, to, name, count))
            sent[key] += 1
            messages += count
            if index % 512 == 511:
                # Let the nodes keep up, so the figure is what they handle, not what queues.
                await _until(
                    lambda: all(
                        nodes[k].metrics["frames_received"] - before[k] >= sent[k] - 256
                        for k in nodes
                    ),
                    60,
                    "the nodes to take the frames",
                    poll=0.001,
                )
                _learn_targets(factory, targets)
        await _until(
            lambda: all(nodes[k].metrics["frames_received"] - before[k] >= sent[k] for k in nodes),
            60,
            "the nodes to take every frame",
            poll=0.001,
        )
        seconds = time.perf_counter() - started
    finally:
        for channel in targets.channels.values():
            channel.close()
        targets.channels.clear()
    await asyncio.sleep(0.2)  # the last frames' messages leave the mailboxes
    problems = check_master(targets.master) + check_agent(targets.agent)
    return FuzzResult(
        frames=frames,
        messages=messages,
        seconds=seconds,
        master_refused=targets.master.node.metrics["invalid_messages"]
        + targets.master.node.metrics["invalid_frames"],
        agent_refused=targets.agent.node.metrics["invalid_messages"]
        + targets.agent.node.metrics["invalid_frames"],
        master_handler_errors=targets.master.node.metrics["handler_errors"],
        agent_handler_errors=targets.agent.node.metrics["handler_errors"],
        problems=problems,
    )


def check_master(handle: MasterHandle) -> list[str]:
    """The master's registries agree with themselves (the invariants of master.state)."""
    master = handle.master
    cluster = master.cluster
    problems: list[str] = []
    for agent_id, agent in cluster.agents.items():
        if agent.id != agent_id or cluster.agents_by_pid.get(agent.pid) is not agent:
            problems.append(f"agent {agent_id} is not indexed by its id and pid")
        for (framework_id, task_id), task in agent.tasks.items():
            framework = cluster.frameworks.get(framework_id)
            if framework is not None and framework.tasks.get(task_id) is not task:
                problems.append(f"task {task_id} on agent {agent_id} is not its framework's")
    for pid, agent in cluster.agents_by_pid.items():
        if cluster.agents.get(agent.id) is not agent or agent.pid != pid:
            problems.append(f"agent at {pid} is indexed by a stale pid")
    for framework_id, framework in cluster.frameworks.items():
        if framework.id != framework_id:
            problems.append(f"framework {framework_id} is indexed under another id")
        scheduler = framework.pid
        if (
            scheduler is not None
            and framework.connected
            and cluster.frameworks_by_pid.get(scheduler) is not framework
        ):
            problems.append(f"framework {framework_id} is not indexed by its pid")
        for task_id, task in framework.tasks.items():
            holder = cluster.agents.get(task.agent_id)
            if holder is not None and holder.tasks.get((framework_id, task_id)) is not task:
                problems.append(f"task {task_id} of {framework_id} is not on its agent")
    for outstanding in master.offers.all():
        if outstanding.agent_id not in cluster.agents:
            problems.append(f"offer {outstanding.id} is on an unknown agent")
        if outstanding.framework_id not in cluster.frameworks:
            problems.append(f"offer {outstanding.id} is to an unknown framework")
    for agent in cluster.agents.values():
        if agent.connected and agent.ping_timer is None:
            problems.append(f"agent {agent.id} is connected and never pinged")
    if master.metrics["allocator_call_failures"]:
        problems.append(f"{master.metrics['allocator_call_failures']} allocator calls failed")
    return problems


def check_agent(handle: AgentHandle) -> list[str]:
    """The agent's tables agree with themselves."""
    agent = handle.agent
    problems: list[str] = []
    for framework_id, framework in agent.frameworks.items():
        if framework.id != framework_id:
            problems.append(f"framework {framework_id} is indexed under another id")
        for executor_id, executor in framework.executors.items():
            if executor.id != executor_id or executor.framework_id != framework_id:
                problems.append(f"executor {executor_id} is misfiled")
            for task_id, task in executor.tasks.items():
                if task.id != task_id:
                    problems.append(f"task {task_id} is misfiled")
    return problems


class _OneTask(Scheduler):
    """Runs `true` once, on the named agent only."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self.states: list[TaskState] = []
        self.launched = False

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            resources = Resources.from_list(offer.resources)
            if self.launched or offer.agent_id != self.agent_id or resources.cpus < 0.1:
                driver.decline(offer.id, Filters(refuse_seconds=0.5))
                continue
            self.launched = True
            task = TaskInfo(
                name="after-fuzz",
                task_id="after-fuzz",
                agent_id=offer.agent_id,
                resources=tuple(Resources.parse("cpus:0.1;mem:32").to_list()),
                command=CommandInfo(value="true"),
            )
            driver.launch_tasks([offer.id], [task])

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        self.states.append(status.state)


async def serves_a_framework(targets: Targets, timeout: float = 30.0) -> list[TaskState]:
    """A new framework on a new node runs a command task on the real agent; its states."""
    targets.driver.stop()  # the fuzzed framework gives its offers back
    node = await Node(host="127.0.0.1").start()
    try:
        scheduler = _OneTask(targets.agent.agent.agent_id)
        driver = SchedulerDriver(
            scheduler,
            FrameworkInfo(user="fuzz", name="after-fuzz"),
            targets.master.pid,
            registration_backoff=(0.2, 1.0),
        )
        node.spawn(driver)
        try:
            await _until(
                lambda: any(state.terminal for state in scheduler.states),
                timeout,
                "the task after the fuzz to end",
            )
        finally:
            driver.stop()
        return scheduler.states
    finally:
        await node.stop()


async def run_fuzz(frames: int, seed: int, work_dir: Path) -> tuple[FuzzResult, list[TaskState]]:
    targets = await start_targets(work_dir)
    try:
        result = await fuzz(targets, frames, random.Random(seed))
        states = await serves_a_framework(targets)
        result.master_handler_errors = targets.master.node.metrics["handler_errors"]
        result.agent_handler_errors = targets.agent.node.metrics["handler_errors"]
        return result, states
    finally:
        await targets.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    # Every refused frame logs a warning; at 10^5 frames that is the benchmark. Errors show.
    configure_logging(level=os.environ.get("ZMESOS_LOG_LEVEL", "error"))
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}")
    with tempfile.TemporaryDirectory(prefix="zmesos-fuzz-") as work_dir:
        result, states = uvloop.run(run_fuzz(args.frames, seed, Path(work_dir)))
    finished = TaskState.FINISHED in states
    figures = {
        "seed": seed,
        "frames": result.frames,
        "messages": result.messages,
        "seconds": round(result.seconds, 2),
        "frames_per_second": round(result.frames_per_second),
        "master_refused": result.master_refused,
        "agent_refused": result.agent_refused,
        "master_handler_errors": result.master_handler_errors,
        "agent_handler_errors": result.agent_handler_errors,
        "problems": result.problems,
        "task_after_fuzz": [state.value for state in states],
    }
    print(
        f"{result.frames} frames ({result.messages} messages) in {result.seconds:.1f} s: "
        f"{result.frames_per_second:,.0f} frames/s"
    )
    print(f"refused at the edge: master {result.master_refused}, agent {result.agent_refused}")
    print(
        f"handler errors: master {result.master_handler_errors}, "
        f"agent {result.agent_handler_errors}; problems: {result.problems or 'none'}"
    )
    print(f"a framework after the fuzz: {' -> '.join(s.value for s in states)}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    ok = (
        finished
        and not result.problems
        and result.master_handler_errors == 0
        and result.agent_handler_errors == 0
    )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
