"""The Master actor: admits agents and frameworks, turns allocations into offers,
launches tasks, relays status updates and keeps agents' liveness.

Every message the master takes is installed in `initialize`, one line each;
the handlers live in groups, one module each: master.agents (registration,
pings, removal), master.frameworks (registration, failover, removal),
master.accept (offers, decline, revive, suppress, Accept), master.tasks (kill,
reconcile, status updates, framework messages), over master.base (state and
shared helpers).
Handlers follow one shape: count the message, guard clauses that log
`dropping_message` with a reason (and count it) and return, then the change.
State lives in `self.cluster` (registries), `self.offers` (outstanding offers)
and the allocator actor, which the master drives by `dispatch` and which
dispatches allocations back (`receive_allocations`).

Choices where Mesos leaves room, stated once:
- A terminal task's resources go back to the allocator when the master sees
  the terminal update (Mesos waits for the acknowledgement); the task leaves
  the framework's live tasks then, and its id may be reused.
- Resource operations (RESERVE, UNRESERVE, CREATE, DESTROY, GROW_VOLUME,
  SHRINK_VOLUME; master.operations) apply in the Accept's order, between its
  LAUNCHes; an invalid one is refused (logged, counted in
  `master/operations_refused/<rule>`) and the rest of the Accept goes on. The
  agent is sent its checkpointed resources before any task that may use them.
  v0 has no operation feedback: a framework sees the outcome in its next
  offers, or in the TASK_ERROR of a task that used refused resources.
- Tasks launched on invalid offers get TASK_DROPPED, reason REASON_INVALID_OFFERS.
"""

from __future__ import annotations

from typing import Any

from libprocess import PID, clock
from master.accept import OfferHandlers
from master.agents import AgentHandlers
from master.allocation import AllocatorProcess
from master.frameworks import FrameworkHandlers
from master.tasks import TaskHandlers
from master.views import metrics_view, state_view
from zmesos.protocol import (
    AcceptOffers,
    DeactivateFramework,
    DeclineOffers,
    ExecutorToFramework,
    ExitedExecutor,
    FrameworkToExecutor,
    KillTask,
    MasterInfo,
    Pong,
    ReconcileTasks,
    RegisterAgent,
    RegisterFramework,
    ReregisterAgent,
    ReregisterFramework,
    ReviveOffers,
    ShutdownFrameworkExecutor,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    SuppressOffers,
    UnregisterAgent,
    UnregisterFramework,
)
from zmesos.version import MESOS_VERSION

__all__ = ["Master"]


class Master(AgentHandlers, FrameworkHandlers, OfferHandlers, TaskHandlers):
    """The master. Spawn it on a node (its name is "master"); it spawns its allocator."""

    def initialize(self) -> None:
        self.start_time = clock.now()
        self.info = MasterInfo(
            id=self.id,
            pid=str(self.pid),
            hostname=self.flags.hostname or self.pid.host,
            port=self.flags.port,  # the HTTP address users name it by
            version=MESOS_VERSION,
        )
        self.allocator = self.node.spawn(
            AllocatorProcess(
                self.pid, self.flags.allocation_interval, name=f"{self.pid.name}-allocator"
            )
        )

        # Agents.
        self.install(RegisterAgent, self.register_agent)
        self.install(ReregisterAgent, self.reregister_agent)
        self.install(UnregisterAgent, self.unregister_agent)
        self.install(Pong, self.pong)
        self.install(StatusUpdateMessage, self.status_update)
        self.install(ExitedExecutor, self.exited_executor)
        self.install(ExecutorToFramework, self.executor_to_framework)
        # Frameworks.
        self.install(RegisterFramework, self.register_framework)
        self.install(ReregisterFramework, self.reregister_framework)
        self.install(UnregisterFramework, self.unregister_framework)
        self.install(DeactivateFramework, self.deactivate_framework)
        self.install(AcceptOffers, self.accept_offers)
        self.install(DeclineOffers, self.decline_offers)
        self.install(ReviveOffers, self.revive_offers)
        self.install(SuppressOffers, self.suppress_offers)
        self.install(KillTask, self.kill_task)
        self.install(ShutdownFrameworkExecutor, self.shutdown_framework_executor)
        self.install(ReconcileTasks, self.reconcile_tasks)
        self.install(StatusUpdateAcknowledgement, self.status_update_acknowledgement)
        self.install(FrameworkToExecutor, self.framework_to_executor)
        self.log.info("master_started", master_id=self.id)

    def finalize(self) -> None:
        self.node.terminate(self.allocator)

    def exited(self, pid: PID) -> None:
        framework = self.cluster.frameworks_by_pid.get(pid)
        if framework is not None:
            self._framework_disconnected(framework)
        agent = self.cluster.agents_by_pid.get(pid)
        if agent is not None:
            self._agent_disconnected(agent)

    def state(self) -> dict[str, Any]:
        return state_view(self)

    def metrics_snapshot(self) -> dict[str, float]:
        return metrics_view(self)

    def allocator_pid(self) -> PID:
        return self.allocator
