"""`python -m frameworks.kvstore --master HOST:PORT`: keep the key-value service running.

Prints where the service runs each time it (re)starts; Ctrl-C stops the
framework (the reservation and the volume stay, for the next run).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import signal
import sys

import uvloop

from frameworks.kvstore.scheduler import KeyValueScheduler
from frameworks.scheduler import SchedulerDriver
from libprocess import Node


async def _run(master: str, role: str) -> int:
    stop = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(number, stop.set)
    async with Node() as node:
        scheduler = KeyValueScheduler(role=role, on_event=lambda text: print(text, flush=True))
        driver = SchedulerDriver(scheduler, scheduler.framework_info(getpass.getuser()), master)
        node.spawn(driver)
        while not stop.is_set():
            running = asyncio.ensure_future(scheduler.running.get())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if running.done():
                task_id, host, port = running.result()
                print(f"{task_id} serves http://{host}:{port}/keys", flush=True)
            else:
                running.cancel()
        driver.stop()
        await asyncio.sleep(0.2)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frameworks.kvstore", description=__doc__)
    parser.add_argument("--master", required=True, help="the master, HOST:PORT")
    parser.add_argument("--role", default="kv", help="the role to reserve for (default: kv)")
    options = parser.parse_args(argv)
    return uvloop.run(_run(options.master, options.role))


if __name__ == "__main__":
    sys.exit(main())
