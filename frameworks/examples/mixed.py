"""Two frameworks with different task shapes sharing one cluster.

`primes` runs CPU-heavy tasks (1 cpu, 128 MB: count the primes below a bound),
`checksums` runs small I/O tasks (0.5 cpu, 64 MB: hash a few MB of random
bytes). Each prints what ran where as its tasks finish; a summary follows.
`zmesos local --example` (and so `make run`) runs this against a fresh cluster.
"""

from __future__ import annotations

import asyncio
import collections
import getpass
import shlex
import sys
from collections.abc import Callable

from frameworks.batch import BatchScheduler, Command, TaskRecord
from frameworks.scheduler import SchedulerDriver
from libprocess import Node
from zmesos.protocol import FrameworkInfo, TaskStatus
from zmesos.resources import Resources

TASKS_PER_FRAMEWORK = 24
TIMEOUT = 300.0

_PRIMES = (
    "import sys; n = {bound}; sieve = bytearray([1]) * n; sieve[:2] = b'\\x00\\x00'\n"
    "for i in range(2, int(n ** 0.5) + 1):\n"
    "    if sieve[i]: sieve[i*i::i] = bytes(len(range(i*i, n, i)))\n"
    "print('primes below', n, ':', sum(sieve))"
)


def primes_commands(count: int) -> list[Command]:
    resources = Resources.parse("cpus:1;mem:128")
    python = shlex.quote(sys.executable)
    return [
        Command(
            task_id=f"primes-{index:02d}",
            command=f"{python} -c {shlex.quote(_PRIMES.format(bound=200_000 + 50_000 * index))}",
            resources=resources,
        )
        for index in range(count)
    ]


def checksum_commands(count: int) -> list[Command]:
    resources = Resources.parse("cpus:0.5;mem:64")
    return [
        Command(
            task_id=f"checksum-{index:02d}",
            command=f"head -c {(index + 1) * 256 * 1024} /dev/urandom | sha256sum",
            resources=resources,
        )
        for index in range(count)
    ]


def _printer(framework: str) -> Callable[[TaskRecord, TaskStatus], None]:
    def on_update(record: TaskRecord, status: TaskStatus) -> None:
        if status.state.terminal:
            detail = f" ({status.message})" if status.message else ""
            where = f"{record.hostname} [{record.agent_id[-6:]}]"
            task = record.command.task_id
            print(
                f"  {framework:<9} {task:<12} on {where} {status.state.value}{detail}", flush=True
            )

    return on_update


async def run_example(master: str, tasks: int = TASKS_PER_FRAMEWORK) -> int:
    """Run both frameworks to completion against `master` (HOST:PORT); 0 if every task finished."""
    user = getpass.getuser()
    plans = {
        "primes": primes_commands(tasks),
        "checksums": checksum_commands(tasks),
    }
    async with Node() as node:
        schedulers: dict[str, BatchScheduler] = {}
        drivers: list[SchedulerDriver] = []
        for name, commands in plans.items():
            scheduler = BatchScheduler(commands, on_update=_printer(name))
            driver = SchedulerDriver(scheduler, FrameworkInfo(user=user, name=name), master)
            node.spawn(driver)
            schedulers[name] = scheduler
            drivers.append(driver)
        print(f"running {tasks} tasks in each of {', '.join(plans)}", flush=True)
        try:
            await asyncio.wait_for(
                asyncio.gather(*(scheduler.done for scheduler in schedulers.values())), TIMEOUT
            )
        except TimeoutError:
            print(f"example did not finish within {TIMEOUT:.0f} s", file=sys.stderr)
        finally:
            for driver in drivers:
                driver.stop()
            await asyncio.sleep(0.2)  # let the unregistrations leave
    return _summarize(schedulers)


def _summarize(schedulers: dict[str, BatchScheduler]) -> int:
    print("\nsummary")
    placements: collections.Counter[str] = collections.Counter()
    for name, scheduler in schedulers.items():
        states = collections.Counter(
            record.state.value if record.state else "NOT_LAUNCHED"
            for record in scheduler.records.values()
        )
        for record in scheduler.records.values():
            if record.agent_id:
                placements[record.agent_id] += 1
        print(
            f"  {name:<9} "
            + ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        )
    for agent_id, count in sorted(placements.items()):
        print(f"  agent {agent_id}: {count} tasks")
    ok = all(scheduler.succeeded for scheduler in schedulers.values())
    print("all tasks finished" if ok else "some tasks did not finish")
    return 0 if ok else 1
