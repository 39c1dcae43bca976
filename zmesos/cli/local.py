"""`zmesos local`: a master and N agents as separate OS processes on loopback.

With `--masters 3` it also starts a ZooKeeper server (Debian's package, which
`make` installs) and three masters that elect a leader there, on ports
`--port`, `--port`+1, ...; agents and the example frameworks find the leader
through `zk://`. Work directories go to a temporary folder unless `--work-dir` is given. Ctrl-C
(or SIGTERM) stops everything and leaves no process behind. It prints the
web UI's address (the master's, `/`) and stays up until Ctrl-C. With
`--example` the shipped example frameworks run against the cluster, a summary
is printed, and the command exits with their status (what `make run` does);
`--example --stay` keeps the cluster up afterwards for a look, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import aiohttp
import uvloop

from libprocess import configure_logging, curve
from zmesos.cli.flags import Parser, port, positive_count
from zmesos.cli.signals import stop_event_on_signals
from zmesos.cli.supervisor import supervise
from zmesos.errors import FlagsError
from zmesos.flags import parse_resources
from zmesos.zookeeper import ZooKeeperServer, ZooKeeperUnavailable

STARTUP_TIMEOUT = 30.0
STOP_GRACE = 10.0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    parser = commands.add_parser(name, help="run a local cluster", description=__doc__)
    parser.add_argument(
        "--agents", type=positive_count, default=2, help="how many agents (default: 2)"
    )
    parser.add_argument(
        "--masters",
        type=positive_count,
        default=1,
        help="how many masters; more than one elect a leader in a local ZooKeeper (default: 1)",
    )
    parser.add_argument("--ip", default="127.0.0.1", help="loopback address to use")
    parser.add_argument(
        "--port", type=port, default=5050, help="the master's address, HTTP (default: 5050)"
    )
    parser.add_argument("--work-dir", help="agents' work directories go below (default: temporary)")
    parser.add_argument(
        "--resources",
        default="cpus:4;mem:4096;disk:8192;ports:[31000-32000]",
        help="each agent's resources",
    )
    parser.add_argument(
        "--example",
        action="store_true",
        help="run the example frameworks, print a summary and exit",
    )
    parser.add_argument(
        "--restart-agents",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start an agent that dies again (zmesos.cli.supervisor; default: yes)",
    )
    parser.add_argument(
        "--curve",
        action="store_true",
        help="CurveZMQ on every actor connection of the cluster: keys made in <work dir>/keys",
    )
    parser.add_argument(
        "--stay",
        action="store_true",
        help="with --example: keep the cluster up afterwards, until Ctrl-C",
    )


def run(options: argparse.Namespace, parser: Parser) -> int:
    try:
        parse_resources(options.resources)
    except FlagsError as error:
        parser.error(str(error))
    if options.log_level is None:  # the children log to files; keep this terminal for results
        configure_logging(json=options.log_json or None, level="warning")
    return uvloop.run(_run(options, parser))


class LocalCluster:
    """Masters and agents as child OS processes, each in its own session.

    With `masters` > 1, `start` also starts a ZooKeeper server (in
    `<work dir>/zookeeper`) and the masters elect a leader there; `master`, the
    address agents and frameworks are given, is then the `zk://` URL.
    """

    def __init__(
        self,
        ip: str,
        port: int,
        work_dir: Path,
        resources: str,
        masters: int = 1,
        *,
        zookeeper: ZooKeeperServer | None = None,
        zk_path: str = "/zmesos",
        master_ports: list[int] | None = None,
        log_json: bool = False,
        curve_agents: int = 0,
    ) -> None:
        self.ip = ip
        self.port = port
        self.work_dir = work_dir
        self.resources = resources
        self.masters = masters
        # A ZooKeeper given here (tests share one) is not stopped with the cluster.
        self.zookeeper = zookeeper
        self.zk_path = zk_path
        self._owns_zookeeper = zookeeper is None
        # Master i listens on master_ports[i] (default: port + i).
        self.master_ports = master_ports or [port + index for index in range(masters)]
        self.children: list[asyncio.subprocess.Process] = []
        self.agents: dict[int, asyncio.subprocess.Process] = {}  # the latest of each index
        self.master_processes: dict[int, asyncio.subprocess.Process] = {}
        self._drains: list[asyncio.Future[bytes]] = []
        self.log_json = log_json  # children log JSON lines
        # With curve_agents: CurveZMQ everywhere, a key directory per node in <work dir>/keys
        # (masters, agents 0..curve_agents-1, and "scheduler" for frameworks), made now.
        self.keys_dir: Path | None = None
        if curve_agents:
            self.keys_dir = work_dir / "keys"
            names = [_master_label(index) for index in range(masters)]
            names += [f"agent-{index}" for index in range(curve_agents)]
            curve.generate(self.keys_dir, [*names, "scheduler"])

    @property
    def zk_url(self) -> str | None:
        return self.zookeeper.url(self.zk_path) if self.zookeeper is not None else None

    @property
    def master(self) -> str:
        """What agents and frameworks are given: the `zk://` URL, or the master's HTTP."""
        return self.zk_url or f"{self.ip}:{self.master_ports[0]}"

    def master_url(self, index: int = 0) -> str:
        return f"http://{self.ip}:{self.master_ports[index]}"

    @property
    def url(self) -> str:
        """The first master's HTTP (any master redirects operators to the leader)."""
        return self.master_url(0)

    async def start(self, agents: int) -> None:
        if self.masters > 1 and self.zookeeper is None:
            await self.start_zookeeper()
        for index in range(self.masters):
            await self.start_master(index=index)
        for index in range(agents):
            await self.start_agent(index)
        await self.wait_for_agents(agents)

    async def start_zookeeper(self) -> None:
        """ZooKeeper for the masters' election (blocking start, run in a worker thread)."""
        if self.zookeeper is None:
            self.zookeeper = ZooKeeperServer(self.work_dir / "zookeeper")
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.zookeeper.start)
        except ZooKeeperUnavailable as error:
            raise RuntimeError(str(error)) from None

    async def start_master(self, *extra: str, index: int = 0) -> None:
        """Master `index` on its port (`port + index`), its file registry in `<work dir>/master`
        (a restart reads it back); with ZooKeeper it contends for leadership there."""
        election = ("--zk", self.zk_url) if self.zk_url else ()
        work_dir = self.work_dir / ("master" if index == 0 else f"master-{index}")
        label = _master_label(index)
        await self.spawn(
            label,
            "master",
            "--ip",
            self.ip,
            "--port",
            str(self.master_ports[index]),
            "--work-dir",
            str(work_dir),
            *election,
            *self.curve_flags(label),
            *extra,
        )
        self.master_processes[index] = self.children[-1]

    async def leader_index(self, timeout: float = STARTUP_TIMEOUT) -> int:
        """Which master leads now, its registry read (asking each master's metrics)."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                for index in self.master_processes:
                    with contextlib.suppress(aiohttp.ClientError, ValueError):
                        url = f"{self.master_url(index)}/metrics/snapshot"
                        async with session.get(url) as response:
                            metrics = await response.json()
                        if metrics.get("master/elected") and metrics.get("master/recovered"):
                            return index
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError("no master was elected in time")
                await asyncio.sleep(0.1)

    def agent_work_dir(self, index: int) -> Path:
        return self.work_dir / f"agent-{index}"

    async def start_agent(self, index: int, *extra: str, actor_port: int = 0) -> None:
        """Start agent `index` (again: it recovers from its work directory's checkpoint)."""
        await self.spawn(
            f"agent-{index}",
            "agent",
            "--master",
            self.master,
            "--ip",
            self.ip,
            "--port",
            "0",
            "--actor-port",
            str(actor_port),
            "--work-dir",
            str(self.agent_work_dir(index)),
            "--resources",
            self.resources,
            *self.curve_flags(f"agent-{index}"),
            *extra,
        )
        self.agents[index] = self.children[-1]

    def curve_flags(self, node: str) -> tuple[str, ...]:
        """`--curve-keys` with `node`'s key directory, when the cluster runs CurveZMQ."""
        return ("--curve-keys", str(self.keys_dir / node)) if self.keys_dir else ()

    async def kill_agent(self, index: int) -> None:
        """SIGKILL agent `index` (not its executors: they lead sessions of their own)."""
        agent = self.agents[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, signal.SIGKILL)
        await agent.wait()

    async def spawn(self, label: str, *arguments: str, module: str = "zmesos.cli") -> None:
        """Start `python -m module arguments` in its own session; wait for its first line."""
        log_path = self.work_dir / f"{label}.log"
        with open(log_path, "ab") as log_file:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                module,
                *(("--log-json",) if self.log_json and module == "zmesos.cli" else ()),
                *arguments,
                stdout=asyncio.subprocess.PIPE,
                stderr=log_file,
                start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
                env={**os.environ, "PYTHONPATH": _project_root()},
            )
        self.children.append(child)
        assert child.stdout is not None
        try:
            line = await asyncio.wait_for(child.stdout.readline(), STARTUP_TIMEOUT)
        except TimeoutError:
            line = b""
        if not line:
            raise RuntimeError(f"{label} did not start; see {log_path}")
        print(f"  {line.decode().strip()}", flush=True)
        # Keep reading so a chatty child never blocks on a full pipe.
        self._drains.append(asyncio.ensure_future(child.stdout.read()))

    async def wait_for_agents(self, expected: int, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until the (leading) master counts `expected` active agents (polling metrics)."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                for index in self.master_processes or [0]:
                    url = f"{self.master_url(index)}/metrics/snapshot"
                    with contextlib.suppress(aiohttp.ClientError, ValueError):
                        async with session.get(url) as response:
                            metrics = await response.json()
                        if metrics.get("master/slaves_active", 0) >= expected:
                            return
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"{expected} agents did not register in time")
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """SIGTERM agents first (they stop their executors), then the master; SIGKILL stragglers."""
        for child in reversed(self.children):
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                await asyncio.wait_for(child.wait(), STOP_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                await child.wait()
            # Whatever the child left in its session (executors, tasks) goes with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        if self.zookeeper is not None and self._owns_zookeeper:
            self.zookeeper.stop()


def _master_label(index: int) -> str:
    return "master" if index == 0 else f"master-{index}"


def _project_root() -> str:
    return str(Path(__file__).resolve().parents[2])


async def _run(options: argparse.Namespace, parser: Parser) -> int:
    temporary = options.work_dir is None
    work_dir = Path(options.work_dir or tempfile.mkdtemp(prefix="zmesos-local-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(
        options.ip,
        options.port,
        work_dir,
        options.resources,
        masters=options.masters,
        log_json=options.log_json,
        curve_agents=options.agents if options.curve else 0,
    )
    supervisor: asyncio.Future[None] | None = None
    if cluster.keys_dir is not None:  # this process's nodes (the examples) are the "scheduler"
        os.environ[curve.ENVIRONMENT] = str(cluster.keys_dir / "scheduler")
        print(f"CurveZMQ on: frameworks use --curve-keys {cluster.keys_dir / 'scheduler'}")
    stop = stop_event_on_signals()
    status = 0
    try:
        masters = "a master" if options.masters == 1 else f"ZooKeeper, {options.masters} masters"
        print(f"starting {masters} and {options.agents} agents (work dir {work_dir})", flush=True)
        await cluster.start(options.agents)
        supervisor = asyncio.ensure_future(
            supervise(cluster, restart_agents=options.restart_agents)
        )
        print(f"cluster up: master {cluster.master}, web UI {cluster.url}/", flush=True)
        if options.example:
            status = await _run_example(cluster.master, stop)
        if (options.stay or not options.example) and not stop.is_set():
            print(f"web UI {cluster.url}/ ; Ctrl-C stops the cluster", flush=True)
            await stop.wait()
    except RuntimeError as error:
        print(f"zmesos local: error: {error}", file=sys.stderr)
        status = 1
    finally:
        if supervisor is not None:
            supervisor.cancel()
        await cluster.stop()
        if temporary and status == 0:
            shutil.rmtree(work_dir, ignore_errors=True)
    return status


async def _examples(master: str) -> int:
    """The batch frameworks, then the key-value service surviving a kill."""
    from frameworks.examples.mixed import run_example
    from frameworks.examples.stateful import run_stateful_example

    batch = await run_example(master)
    stateful = await run_stateful_example(master)
    return batch or stateful


async def _run_example(master: str, stop: asyncio.Event) -> int:
    example = asyncio.ensure_future(_examples(master))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({example, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not example.done():
        example.cancel()
        return 130
    return example.result()
