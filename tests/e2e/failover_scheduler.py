"""A scheduler as its own OS process, for failover tests: prints what happens, one line each.

    python -m tests.e2e.failover_scheduler MASTER FAILOVER_TIMEOUT COMMAND [FRAMEWORK_ID]

Without a framework id it registers, launches one task running COMMAND on its first
offer and prints `registered <id>`, then `status <task> <state>` for every
update. With one it fails over to that framework, launches nothing, asks for
implicit reconciliation and prints the answers the same way.
"""

from __future__ import annotations

import getpass
import sys

import uvloop

from frameworks.scheduler import Scheduler, SchedulerDriver
from libprocess import Node
from zmesos.protocol import CommandInfo, FrameworkInfo, MasterInfo, Offer, TaskInfo, TaskStatus
from zmesos.resources import Resources


class FailoverScheduler(Scheduler):
    def __init__(self, launch: bool, command: str) -> None:
        self.launch = launch
        self.command = command

    def registered(self, driver: SchedulerDriver, framework_id: str, master: MasterInfo) -> None:
        print(f"registered {framework_id}", flush=True)
        if not self.launch:
            driver.reconcile_tasks()

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            if not self.launch:
                driver.decline(offer.id)
                continue
            self.launch = False
            task = TaskInfo(
                name="sleeper",
                task_id="sleeper",
                agent_id=offer.agent_id,
                resources=tuple(Resources.parse("cpus:0.1;mem:32").to_list()),
                command=CommandInfo(value=self.command),
            )
            driver.launch_tasks([offer.id], [task])

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        print(f"status {status.task_id} {status.state.value}", flush=True)


async def main(master: str, failover_timeout: float, command: str, framework_id: str) -> None:
    info = FrameworkInfo(
        user=getpass.getuser(), name="failover", id=framework_id, failover_timeout=failover_timeout
    )
    async with Node() as node:
        driver = SchedulerDriver(
            FailoverScheduler(launch=not framework_id, command=command),
            info,
            master,
            registration_backoff=(0.2, 1.0),
        )
        node.spawn(driver)
        await driver.join()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    framework_id = arguments[3] if len(arguments) > 3 else ""
    uvloop.run(main(arguments[0], float(arguments[1]), arguments[2], framework_id))
