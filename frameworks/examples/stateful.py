"""The key-value service keeps its data through a kill: what `make run` shows after the batch.

Starts the kvstore framework, writes keys through the service, kills the
service's task, waits for the framework to relaunch it on the same volume and
reads the keys back, printing each step. Returns 0 when every key came back.
"""

from __future__ import annotations

import asyncio
import getpass

from frameworks.kvstore import KeyValueClient, KeyValueScheduler
from frameworks.scheduler import SchedulerDriver
from libprocess import Node

__all__ = ["run_stateful_example"]

KEYS = {"alpha": "1", "beta": "2", "gamma": "3"}
TIMEOUT = 60.0


def _say(text: str) -> None:
    print(f"  kvstore   {text}", flush=True)


async def run_stateful_example(master: str) -> int:
    print("\nkey-value service on a persistent volume", flush=True)
    async with Node() as node:
        scheduler = KeyValueScheduler(on_event=_say)
        driver = SchedulerDriver(scheduler, scheduler.framework_info(getpass.getuser()), master)
        node.spawn(driver)
        try:
            return await asyncio.wait_for(_exercise(driver, scheduler), TIMEOUT)
        except TimeoutError:
            print(f"  kvstore did not finish within {TIMEOUT:.0f} s", flush=True)
            return 1
        finally:
            driver.stop()
            await asyncio.sleep(0.2)  # let the unregistration leave


async def _exercise(driver: SchedulerDriver, scheduler: KeyValueScheduler) -> int:
    task_id, host, port = await scheduler.running.get()
    client = KeyValueClient(host, port)
    for key, written in KEYS.items():
        await client.put(key, written)
        _say(f"wrote {key}={written} to {task_id}")
    _say(f"killing {task_id}")
    driver.kill_task(task_id)
    task_id, host, port = await scheduler.running.get()
    client = KeyValueClient(host, port)
    missing = 0
    for key, expected in KEYS.items():
        value = await client.get(key)
        ok = value == expected
        missing += not ok
        _say(f"read {key}={value} from {task_id}" + ("" if ok else f" (expected {expected})"))
    _say("every key survived the kill" if not missing else f"{missing} keys lost")
    return 0 if not missing else 1
