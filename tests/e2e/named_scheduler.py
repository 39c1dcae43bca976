"""A scheduler as its own OS process that names things as its caller says (web UI tests).

    python -m tests.e2e.named_scheduler MASTER NAME COMMAND

Registers a framework called NAME (its `webui_url` the script `javascript:NAME`),
launches one task `named-task` called NAME (with a label whose value is NAME, and
a health check `true` run once at its start) running COMMAND on its first offer,
declines the rest, prints `status <task> <state>` for every update and runs
until stopped.
"""

from __future__ import annotations

import getpass
import sys

import uvloop

from frameworks.scheduler import Scheduler, SchedulerDriver
from libprocess import Node
from zmesos.cli.signals import stop_event_on_signals
from zmesos.protocol import (
    CommandInfo,
    FrameworkInfo,
    HealthCheck,
    HealthCheckType,
    Offer,
    TaskInfo,
    TaskStatus,
)
from zmesos.resources import Resources

TASK_ID = "named-task"


class NamedScheduler(Scheduler):
    def __init__(self, name: str, command: str) -> None:
        self.name = name
        self.command = command
        self.launched = False

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            if self.launched:
                driver.decline(offer.id)
                continue
            self.launched = True
            task = TaskInfo(
                name=self.name,
                task_id=TASK_ID,
                agent_id=offer.agent_id,
                resources=tuple(Resources.parse("cpus:0.1;mem:32").to_list()),
                command=CommandInfo(value=self.command),
                labels={"note": self.name},
                health_check=HealthCheck(
                    type=HealthCheckType.COMMAND,
                    command=CommandInfo(value="true"),
                    delay_seconds=0,
                    interval_seconds=3600,
                ),
            )
            driver.launch_tasks([offer.id], [task])

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        print(f"status {status.task_id} {status.state.value}", flush=True)


async def main(master: str, name: str, command: str) -> None:
    # A web UI address that is a script, not a page: the web UI must not link it.
    info = FrameworkInfo(user=getpass.getuser(), name=name, webui_url=f"javascript:{name}")
    # Its own handlers: started in the background by a non-interactive shell (CI), a
    # process inherits SIGINT ignored, and the test's Ctrl-C would never stop it.
    stop = stop_event_on_signals()
    async with Node() as node:
        driver = SchedulerDriver(NamedScheduler(name, command), info, master)
        node.spawn(driver)
        await stop.wait()
        driver.stop()


if __name__ == "__main__":
    master, name, command = sys.argv[1:4]
    uvloop.run(main(master, name, command))
