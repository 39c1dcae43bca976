"""A simulated agent: speaks the agent protocol to a real master, runs no processes.

Each task it is given reports TASK_RUNNING at once and TASK_FINISHED once the
RUNNING update is acknowledged, one update in flight per task, resent with the
real agent's backoff until acknowledged, as its status update manager does.
Thousands of them share one node, so a benchmark can put 10,000 agents in
front of one master on a small machine.
"""

from __future__ import annotations

import random

from agent.status_updates import MAX_RETRY_INTERVAL, MIN_RETRY_INTERVAL
from libprocess import PID, Process, Timer, clock
from zmesos.protocol import (
    AgentInfo,
    AgentRegistered,
    AgentReregistered,
    Ping,
    Pong,
    RegisterAgent,
    RunTask,
    Source,
    StatusUpdate,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    TaskState,
    TaskStatus,
    new_status_update,
)
from zmesos.resources import Resources


class SimulatedAgent(Process):
    def __init__(self, name: str, master: PID, resources: Resources, hostname: str) -> None:
        super().__init__(name)
        self.master = master
        self.info = AgentInfo(hostname=hostname, resources=tuple(resources.to_list()))
        self.agent_id = ""
        # (framework, task) -> the update waiting for its acknowledgement, and its retry
        self.in_flight: dict[tuple[str, str], tuple[StatusUpdate, Timer]] = {}
        self.finished = 0

    def initialize(self) -> None:
        self.install(AgentRegistered, self._registered)
        self.install(AgentReregistered, self._registered)
        self.install(Ping, lambda sender, ping: self.send(sender, Pong()))
        self.install(RunTask, self._run_task)
        self.install(StatusUpdateAcknowledgement, self._acknowledged)
        # Spread registrations over a second so 10,000 agents do not arrive in one burst.
        self.delay(random.random(), self._register)

    def _register(self) -> None:
        if self.agent_id:
            return
        self.send(self.master, RegisterAgent(agent=self.info))
        self.delay(5.0 + random.random() * 5.0, self._register)

    def _registered(self, sender: PID, message: AgentRegistered | AgentReregistered) -> None:
        self.agent_id = message.agent_id

    def _run_task(self, sender: PID, message: RunTask) -> None:
        self._update(message.framework.id, message.task.task_id, TaskState.RUNNING)

    def _update(self, framework_id: str, task_id: str, state: TaskState) -> None:
        update = new_status_update(
            framework_id,
            TaskStatus(task_id=task_id, state=state),
            source=Source.EXECUTOR,
            agent_id=self.agent_id,
            executor_id=task_id,
            timestamp=clock.now(),
        )
        self._forward(update)

    def _forward(self, update: StatusUpdate, interval: float = MIN_RETRY_INTERVAL) -> None:
        """Send `update`; again after `interval` unless acknowledged, backing off as the
        real agent's status update manager does (10 s doubling to 10 min)."""
        self.send(self.master, StatusUpdateMessage(update=update, pid=str(self.pid)))
        backoff = min(interval * 2, MAX_RETRY_INTERVAL)
        retry = self.delay(interval, self._forward, update, backoff)
        self.in_flight[(update.framework_id, update.status.task_id)] = (update, retry)

    def _acknowledged(self, sender: PID, ack: StatusUpdateAcknowledgement) -> None:
        key = (ack.framework_id, ack.task_id)
        waiting = self.in_flight.get(key)
        if waiting is None or waiting[0].uuid != ack.uuid:
            return
        update, retry = self.in_flight.pop(key)
        retry.cancel()
        if update.status.state == TaskState.RUNNING:
            self._update(ack.framework_id, ack.task_id, TaskState.FINISHED)
        else:
            self.finished += 1
