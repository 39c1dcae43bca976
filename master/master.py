"""The Master actor: admits agents and frameworks, turns allocations into offers,
launches tasks, relays status updates and keeps agents' liveness.

Every message the master takes is installed in `initialize`, one line each,
grouped by the module that holds its handler: master.authentication_handlers
(principals proved by schedulers and agents), master.agent_handlers
(registration, pings, removal), master.framework_handlers (registration,
failover, removal), master.offer_handlers (offers, decline, revive, suppress,
Accept), master.task_handlers (kill, reconcile, status updates, executor and
framework messages). Beside them: master.partition_handlers (unreachable,
returning and gone agents), master.recovery_handlers (reading the registry),
master.operator_calls (weights, quota), all over master.base (state and
shared helpers).
Messages are installed with `_install_leading`: held until the registry is
read, refused by a master that does not lead.
Handlers follow one shape: count the message, guard clauses that log
`dropping_message` with a reason (and count it) and return, then the change.
State lives in `self.cluster` (registries), `self.offers` (outstanding offers)
and the allocator actor, which the master drives by `dispatch` and which
dispatches allocations back (`receive_allocations`). As in Mesos, a task's
resources go back to the allocator when the master records a terminal (or
unreachable) state; the task stays among the framework's tasks (and in
/state) until its terminal update is acknowledged.

Choices where Mesos leaves room, stated once:
- Resource operations (RESERVE, UNRESERVE, CREATE, DESTROY, GROW_VOLUME,
  SHRINK_VOLUME; master.operations) apply in the Accept's order, between its
  LAUNCHes; an invalid one is refused (logged, counted in
  `master/operations_refused/<rule>`) and the rest of the Accept goes on. The
  agent is sent its checkpointed resources before any task that may use them.
  v0 has no operation feedback: a framework sees the outcome in its next
  offers, or in the TASK_ERROR of a task that used refused resources.
- Tasks launched on invalid offers get TASK_DROPPED, reason REASON_INVALID_OFFERS.
- Security (off by default): master.authentication_handlers records which
  principal each process proved; `--acls` is asked through `_authorized`
  (master.base, master.authorization) by the handlers that guard an action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from libprocess import PID, clock
from master import leadership
from master.agent_handlers import AgentHandlers
from master.allocator import HierarchicalAllocator
from master.allocator_process import AllocatorProcess
from master.authentication_handlers import AuthenticationHandlers
from master.framework_handlers import FrameworkHandlers
from master.offer_handlers import OfferHandlers
from master.operator_calls import OperatorCalls
from master.operator_operations import OperatorOperations
from master.operator_v1 import OperatorV1Handlers
from master.recovery_handlers import RecoveryHandlers
from master.task_handlers import MasterTaskHandlers
from master.views import metrics_view, state_view
from zmesos.http.shapes import format_flags
from zmesos.protocol import (
    AcceptOffers,
    Authenticate,
    AuthenticationProof,
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


class Master(
    AuthenticationHandlers,
    AgentHandlers,
    RecoveryHandlers,
    FrameworkHandlers,
    OfferHandlers,
    MasterTaskHandlers,
    OperatorCalls,
    OperatorV1Handlers,
    OperatorOperations,
):
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
        self.leader = self.info if self.leading else None
        self.allocator = self.node.spawn(
            AllocatorProcess(
                self.pid,
                self.flags.allocation_interval,
                allocator=HierarchicalAllocator(
                    fair_sharing_excluded_resource_names=self.flags.fair_sharing_excluded_names(),
                    filter_gpu_resources=self.flags.filter_gpu_resources,
                ),
                name=f"{self.pid.name}-allocator",
            )
        )

        # master/authentication_handlers.py (served whether leading or not)
        self.install(Authenticate, self.authenticate)
        self.install(AuthenticationProof, self.authentication_proof)
        # master/agent_handlers.py
        self._install_leading(RegisterAgent, self.register_agent)
        self._install_leading(ReregisterAgent, self.reregister_agent)
        self._install_leading(UnregisterAgent, self.unregister_agent)
        self._install_leading(Pong, self.pong)
        # master/framework_handlers.py
        self._install_leading(RegisterFramework, self.register_framework)
        self._install_leading(ReregisterFramework, self.reregister_framework)
        self._install_leading(UnregisterFramework, self.unregister_framework)
        self._install_leading(DeactivateFramework, self.deactivate_framework)
        # master/offer_handlers.py (and receive_allocations, dispatched by the allocator)
        self._install_leading(AcceptOffers, self.accept_offers)
        self._install_leading(DeclineOffers, self.decline_offers)
        self._install_leading(ReviveOffers, self.revive_offers)
        self._install_leading(SuppressOffers, self.suppress_offers)
        # master/task_handlers.py
        self._install_leading(KillTask, self.kill_task)
        self._install_leading(ShutdownFrameworkExecutor, self.shutdown_framework_executor)
        self._install_leading(ReconcileTasks, self.reconcile_tasks)
        self._install_leading(StatusUpdateMessage, self.status_update)
        self._install_leading(StatusUpdateAcknowledgement, self.status_update_acknowledgement)
        self._install_leading(ExitedExecutor, self.exited_executor)
        self._install_leading(FrameworkToExecutor, self.framework_to_executor)
        self._install_leading(ExecutorToFramework, self.executor_to_framework)
        self.log.info("master_started", master_id=self.id, registry=self.registrar.store.kind)
        if self.registrar.store.kind == "in_memory":
            self.log.warning("registry_in_memory", consequence="nothing survives a restart")
        if self.leading:
            self._recover_registry()
        else:
            self.log.info("master_contending", zk=self.flags.zk)

    def finalize(self) -> None:
        leadership.withdraw(self.pid, self)
        self.node.terminate(self.allocator)

    def exited(self, pid: PID) -> None:
        self.authenticated.pop(pid, None)
        framework = self.cluster.frameworks_by_pid.get(pid)
        if framework is not None:
            self._framework_disconnected(framework)
        agent = self.cluster.agents_by_pid.get(pid)
        if agent is not None:
            self._agent_disconnected(agent)

    def state(self, principal: str | None = None) -> dict[str, Any]:
        """/state as `principal` (the HTTP request's; None: unknown) may see it."""
        viewer = self._viewer(principal)
        view = state_view(self, viewer)
        self._viewed(viewer, principal, "state")
        return view

    def view_as(
        self,
        principal: str | None,
        view: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """`view(master, *args, viewer=..., **kwargs)` as `principal` may see it (the ACLs);
        what it hid is logged and counted once."""
        kwargs = kwargs or {}
        viewer = self._viewer(principal)
        answer = view(self, *args, viewer=viewer, **kwargs)
        self._viewed(viewer, principal, getattr(view, "__name__", "view"))
        return answer

    def flags_view(self, principal: str | None = None) -> dict[str, Any] | None:
        """Mesos's /flags, `{"flags": {name: value}}`; None when view_flags refuses."""
        if not self._authorized("view_flags", principal, None):
            return None
        return {"flags": format_flags(self.flags)}

    def may_get_endpoint(self, principal: str | None, path: str) -> bool:
        """get_endpoints: whether `principal` may GET `path` (a denial is logged, counted)."""
        return self._authorized("get_endpoints", principal, path)

    def metrics_snapshot(self) -> dict[str, float]:
        return metrics_view(self)

    def allocator_pid(self) -> PID:
        return self.allocator
