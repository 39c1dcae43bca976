"""The master's state and the helpers its handler groups share.

The Master actor (master.master) is assembled from handler groups, one
module each (master.agent_handlers, framework_handlers, offer_handlers,
task_handlers, partition_handlers, recovery_handlers, operator_calls). They
share the registries, the offer book and these helpers.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from libprocess import PID, Message, Process, ProcessTerminated, Timer, clock
from master import leadership
from master.allocator_process import AllocatorProcess
from master.authenticator import Authenticator, FailureLimiter
from master.authorization import Viewer, operation_requests, refusal_message
from master.flags import MasterFlags
from master.offer_book import OfferBook, OutstandingOffer
from master.operations import Refusal
from master.registry import (
    FileStore,
    InMemoryStore,
    Operation,
    QuotaRecord,
    Registrar,
    RegistryError,
    RegistryFenced,
    RegistryStore,
)
from master.state import Cluster, MasterAgent, MasterFramework, MasterTask
from zmesos.authorization import Authorizer
from zmesos.protocol import (
    CheckpointResources,
    FrameworkInfo,
    MasterInfo,
    NotLeader,
    Reason,
    RegisterAgent,
    RegisterFramework,
    ReregisterAgent,
    ReregisterFramework,
    RescindResourceOffer,
    ShutdownFramework,
    Source,
    StatusUpdate,
    StatusUpdateMessage,
    TaskState,
    TaskStatus,
)
from zmesos.protocol import Operation as OfferOperation
from zmesos.resources import Resource, Resources, checkpointed_part

__all__ = ["MasterBase"]


_MAX_STATUSES_PER_TASK = 20
_MAX_HELD_MESSAGES = 100_000  # messages kept while the registry is read; more are dropped
_REPLAY_CHUNK = 256  # held messages handled per event once the registry is read
_REGISTRATIONS = (RegisterAgent, ReregisterAgent, RegisterFramework, ReregisterFramework)

M = TypeVar("M", bound=Message)


def registry_store(flags: MasterFlags) -> RegistryStore:
    """The store the flags name: a file in --work-dir, else memory (with --zk the runner
    gives the master its ZooKeeper store)."""
    if flags.zk:
        raise ValueError("a master with --zk is given its ZooKeeper store (master.runner)")
    if flags.registry == "file" and flags.work_dir:
        return FileStore(flags.work_dir)
    return InMemoryStore()


class MasterBase(Process):
    """State and helpers shared by the master's handler groups (see master.master)."""

    def __init__(
        self,
        flags: MasterFlags | None = None,
        *,
        name: str = "master",
        store: RegistryStore | None = None,
    ) -> None:
        super().__init__(name)
        self.flags = flags or MasterFlags()
        self.id = self.flags.new_master_id()
        self.registrar = Registrar(store or registry_store(self.flags))
        # Leading: this master serves (at once without --zk, once elected with it).
        # Recovered: it has read the registry; until then the messages it leads for
        # are held, then replayed in order.
        self._leading = not self.flags.zk
        self.recovered = False
        self._standing_by = False  # keeping the registry's copy current (a standby)
        self.abdicated = False
        self.id_prefix = self.id  # `<master id>-<registry generation>` once recovered
        # Held messages as [handler, sender, message]; registrations by (sender, type).
        self._held_messages: collections.deque[list[Any]] = collections.deque()
        self._held_registrations: dict[tuple[PID, type], list[Any]] = {}
        self._parsed_resources_cache: dict[tuple[Resource, ...], Resources] = {}
        self._marking_unreachable: set[str] = set()  # agent ids, registry write in flight
        self._admitting: set[PID | str] = set()  # agent pids and ids, registry write in flight
        self.awaiting_reregistration: set[str] = set()  # registry agents not back yet
        self.cluster = Cluster(
            self.flags.max_completed_frameworks, self.flags.max_completed_tasks_per_framework
        )
        self.offers = OfferBook(self.id)  # re-made with the id prefix once recovered
        self.metrics: collections.Counter[str] = collections.Counter()
        self.start_time = 0.0
        self.info: MasterInfo = None  # type: ignore[assignment]  # set in initialize
        self._leader: MasterInfo | None = None  # the leading master's info, when known
        self.allocator: PID = None  # type: ignore[assignment]
        self._agent_numbers = itertools.count()
        self._framework_numbers = itertools.count()
        self._removed_agents: collections.OrderedDict[str, None] = collections.OrderedDict()
        # Authentication (master.authentication_handlers): None without --credentials.
        self.authenticator = (
            Authenticator(self.flags.credential_table) if self.flags.credential_table else None
        )
        self.authentication_limiter = FailureLimiter()
        self.authenticated: dict[PID, str] = {}  # process -> the principal it proved
        # Authorization (--acls): None lets everything through.
        self.authorizer = Authorizer(self.flags.acl_rules) if self.flags.acl_rules else None
        # Operator event streams (master.operator_v1).
        self.operator_streams: dict[Any, Callable[..., None]] = {}
        self._operator_heartbeat: Timer | None = None

    # -- leadership: published for the HTTP side (master.leadership) on every change ----

    @property
    def leading(self) -> bool:
        return self._leading

    @leading.setter
    def leading(self, leading: bool) -> None:
        self._leading = leading
        self._publish_leadership()

    @property
    def leader(self) -> MasterInfo | None:
        return self._leader

    @leader.setter
    def leader(self, leader: MasterInfo | None) -> None:
        self._leader = leader
        self._publish_leadership()

    def _publish_leadership(self) -> None:
        if self.pid is None or self.terminated:
            return  # not spawned yet (initialize publishes), or ended (finalize withdrew)
        leader = self._leader
        address = f"{leader.hostname}:{leader.port}" if leader is not None else None
        leadership.publish(self.pid, self, leadership.Leadership(self._leading, address))

    def _install_leading(self, message_type: type[M], handler: Callable[[PID, M], None]) -> None:
        """Install a handler that runs only on the recovered leader.

        While the registry is read, messages are held and then replayed in
        arrival order; a master that does not lead refuses them (see
        `_refuse_not_leading`).
        """

        def guarded(sender: PID, message: M) -> None:
            if not self.leading:
                self._refuse_not_leading(sender, message)
            elif not self.recovered:
                self._hold_until_recovered(handler, sender, message)
            else:
                handler(sender, message)

        self.install(message_type, guarded)

    def _hold_until_recovered(
        self, handler: Callable[[PID, Any], None], sender: PID, message: object
    ) -> None:
        """Keep a message for `_replay_held` (not Process._hold, the runtime's backpressure).

        A registration retried meanwhile replaces the one held (its place in line
        kept): a retry says the same, newer."""
        if isinstance(message, _REGISTRATIONS):
            held = self._held_registrations.get((sender, type(message)))
            if held is not None:
                held[2] = message
                return
        if len(self._held_messages) >= _MAX_HELD_MESSAGES:
            self._drop(message, sender, "the master is recovering and holds too many messages")
            return
        entry = [handler, sender, message]
        self._held_messages.append(entry)
        if isinstance(message, _REGISTRATIONS):
            self._held_registrations[(sender, type(message))] = entry

    def _replay_held(self) -> None:
        """Handle the messages held while the registry was read, a chunk per event (so
        timers and the ZooKeeper session are served meanwhile); recovered once done.
        Messages arriving meanwhile are held behind them: arrival order is kept."""
        held = self._held_messages
        for _ in range(min(len(held), _REPLAY_CHUNK)):
            handler, sender, message = held.popleft()
            if isinstance(message, _REGISTRATIONS):
                del self._held_registrations[(sender, type(message))]
            handler(sender, message)
        if held:
            self.later(self._replay_held)  # after this chunk's answers have left
        else:
            self.recovered = True
            self.log.info("held_messages_replayed")

    def _refuse_not_leading(self, sender: PID, message: object) -> None:
        """A message for the leader reached a master that does not lead: refused, with the
        leader named (empty while none is elected) so the sender can look again."""
        self._drop(message, sender, "this master is not the leader", "messages_not_leading")
        leader = self.leader.pid if self.leader is not None else ""
        self.send(sender, NotLeader(leader=leader))

    def _registry_apply(
        self, operation: Operation, continuation: Callable[[BaseException | None], None]
    ) -> None:
        """Apply a registry operation; `continuation(error)` runs in the master once it is
        durable (error None) or refused. A fenced write means another master leads:
        this one abdicates before the continuation runs."""

        def done(future: asyncio.Future[bool]) -> None:
            error = None if future.cancelled() else future.exception()
            if future.cancelled():
                error = RegistryError("registry operation cancelled")
            if error is not None:
                self.metrics["registrar/failed_operations"] += 1
                self.log.error(
                    "registry_operation_failed",
                    operation=type(operation).__name__,
                    error=str(error),
                )
                if isinstance(error, RegistryFenced):
                    self._abdicate(str(error))
            continuation(error)

        self.defer(self.registrar.apply(operation), done)

    def _abdicate(self, why: str) -> None:
        """Stop leading: the registry is no longer ours to write, or leadership was lost.

        As a Mesos master does, this one ends (its state is no longer the
        cluster's); the runner (master.runner) starts a fresh master on the same
        node, which reads the registry again if it is elected. Agents and
        schedulers see the link break and look for the leader.
        """
        if self.abdicated:
            return
        self.abdicated = True
        self.leading = False
        self.metrics["abdications"] += 1
        self.log.warning("master_abdicating", reason=why)
        self.terminate()

    def _drop(self, message: object, sender: PID, reason: str, metric: str = "") -> None:
        """Log and count a message the master refuses."""
        self.metrics["dropped_messages"] += 1
        if metric:
            self.metrics[metric] += 1
        self.log.warning(
            "dropping_message", message=type(message).__name__, sender=str(sender), reason=reason
        )

    def _allocator_call(self, method: Callable[..., Any], *args: Any) -> None:
        """Tell the allocator of a change; it applies changes in the order they were made."""
        future = self.node.dispatch(self.allocator, method, *args)
        future.add_done_callback(self._allocator_call_done)

    def _allocator_call_done(self, future: Any) -> None:
        if future.cancelled() or future.exception() is None:
            return
        if self.terminated and isinstance(future.exception(), ProcessTerminated):
            return  # the master stopped, and its allocator with it: nothing was lost
        self.metrics["allocator_call_failures"] += 1
        self.log.error("allocator_call_failed", error=repr(future.exception()))

    def _allocator_weight(self, role: str, weight: float) -> None:
        self._allocator_call(AllocatorProcess.set_weight, role, weight)

    def _allocator_quota(self, role: str, quota: QuotaRecord | None) -> None:
        if quota is None:
            self._allocator_call(AllocatorProcess.remove_quota, role)
        else:
            self._allocator_call(AllocatorProcess.set_quota, role, quota.guarantee, quota.limit)

    def _task_done(self, task: MasterTask) -> None:
        """A terminal task the scheduler has heard of: forget it (its resources are free)."""
        self._release_task(task)
        self.cluster.remove_task(task)

    def _release_task(self, task: MasterTask) -> None:
        """Give a task's resources back to the allocator, once (it is terminal or unreachable)."""
        if self.cluster.release_task(task):
            self._recover(task.framework_id, task.agent_id, self._releasable(task), role=task.role)

    def _recover(
        self,
        framework_id: str,
        agent_id: str,
        resources: Resources,
        refuse: float = 0.0,
        role: str | None = None,
    ) -> None:
        """Give resources back to the allocator; `refuse` seconds of filter; `role` if known."""
        if resources:
            self._allocator_call(
                AllocatorProcess.recover_resources, framework_id, agent_id, resources, refuse, role
            )

    def _shared_in_use(self, agent: MasterAgent, framework_id: str) -> Resources:
        """One copy of each shared volume the framework's tasks on the agent hold.

        A task holds its resources until it becomes terminal or unreachable (it
        may stay listed longer, until its terminal update is acknowledged).
        """
        used = {
            resource
            for task in agent.tasks.values()
            if task.framework_id == framework_id and not task.released
            for resource in task.resources.shared()
        }
        return Resources(used)

    def _releasable(self, task: MasterTask) -> Resources:
        """What of a released task's resources goes back to the allocator.

        The allocator holds one copy of a shared volume for all the framework's
        tasks using it on the agent; it comes back with the last of them.
        """
        shared = task.resources.shared()
        agent = self.cluster.agents.get(task.agent_id)
        if not shared or agent is None:
            return task.resources
        still_used = self._shared_in_use(agent, task.framework_id)
        return task.resources - shared.filter(lambda volume: still_used.contains(volume))

    def _authorized(
        self, action: str, principal: str | None, obj: str | None, **context: object
    ) -> bool:
        """Whether the ACLs let `principal` do `action` on `obj`; a denial is logged
        (`authorization_denied`) and counted (`master/authorization_denials[/<action>]`).
        Callers answer the refusal themselves (FrameworkError, TASK_ERROR, 403, ...)."""
        if self.authorizer is None or self.authorizer.allowed(action, principal, obj):
            return True
        self.metrics["authorization_denials"] += 1
        self.metrics[f"authorization_denials/{action}"] += 1
        self.log.warning(
            "authorization_denied", action=action, principal=principal, object=obj, **context
        )
        return False

    def _operation_refusal(
        self, principal: str | None, operation: OfferOperation, **context: object
    ) -> Refusal | None:
        """The refusal of an offer or operator operation the ACLs do not allow, if any."""
        for action, obj in operation_requests(operation):
            if not self._authorized(action, principal, obj, **context):
                return Refusal("unauthorized", refusal_message(action, obj))
        return None

    def _viewer(self, principal: str | None) -> Viewer:
        """What `principal` may see (/state, the operator API); `_viewed` logs what it hid."""
        if self.authorizer is None:
            return Viewer()
        authorizer = self.authorizer
        return Viewer(lambda action, obj: authorizer.allowed(action, principal, obj))

    def _viewed(self, viewer: Viewer, principal: str | None, what: str) -> None:
        """Count and log (once per request) what a view hid from `principal`."""
        if not viewer.hidden:
            return
        for action, hidden in viewer.hidden.items():
            self.metrics["authorization_denials"] += hidden
            self.metrics[f"authorization_denials/{action}"] += hidden
        self.log.info("view_filtered", principal=principal, view=what, hidden=dict(viewer.hidden))

    def _principal_of(self, pid: PID) -> str | None:
        """The principal `pid` authenticated as with this master, if it did."""
        return self.authenticated.get(pid)

    def _framework_for(
        self, sender: PID, framework_id: str, message: object
    ) -> MasterFramework | None:
        """The registered framework `framework_id` if `sender` is its scheduler, else drop."""
        framework = self.cluster.frameworks.get(framework_id)
        if framework is None:
            self._drop(message, sender, f"framework {framework_id!r} is not registered")
            return None
        if framework.pid != sender:
            self._drop(
                message,
                sender,
                f"framework {framework_id} is at {framework.pid}, not {sender}",
                "invalid_messages",
            )
            return None
        return framework

    def _send_status(self, framework: MasterFramework, status: TaskStatus) -> None:
        """A status update the master makes up: no uuid, never acknowledged."""
        if framework.pid is None or not framework.connected:
            return
        update = StatusUpdate(
            framework_id=framework.id,
            status=status,
            agent_id=status.agent_id,
            executor_id=status.executor_id,
            timestamp=status.timestamp,
        )
        self.send(framework.pid, StatusUpdateMessage(update=update))

    def _checkpoint_resources(self, agent: MasterAgent) -> None:
        """Send the agent its checkpointed resources (dynamic reservations, volumes) as now."""
        checkpointed = checkpointed_part(agent.total)
        self.send(agent.pid, CheckpointResources(resources=tuple(checkpointed.to_list())))
        self.log.info("checkpointing_resources", agent_id=agent.id, resources=str(checkpointed))

    def _master_status(
        self,
        task_id: str,
        state: TaskState,
        reason: Reason | None,
        message: str,
        agent_id: str = "",
        executor_id: str = "",
    ) -> TaskStatus:
        return TaskStatus(
            task_id=task_id,
            state=state,
            source=Source.MASTER,
            reason=reason,
            message=message,
            agent_id=agent_id,
            executor_id=executor_id,
            timestamp=clock.now(),
        )

    def _count_terminal(self, state: TaskState) -> None:
        self.metrics[f"tasks_{state.removeprefix('TASK_').lower()}"] += 1

    def _rescind(
        self, outstanding: OutstandingOffer, *, notify: bool = True, recover: bool = True
    ) -> None:
        """End an offer: tell its framework (if `notify`) and give its resources back."""
        self.offers.remove(outstanding.id)
        self.metrics["offers_rescinded"] += 1
        framework = self.cluster.frameworks.get(outstanding.framework_id)
        if notify and framework is not None and framework.connected and framework.pid:
            self.send(framework.pid, RescindResourceOffer(offer_id=outstanding.id))
        if recover:
            self._recover(
                outstanding.framework_id,
                outstanding.agent_id,
                outstanding.resources,
                role=outstanding.role,
            )

    def _set_task_status(self, task: MasterTask, status: TaskStatus) -> None:
        """Record a task's latest status; a first terminal one is counted.

        A terminal or unreachable state gives the task's resources back to the
        allocator at once, as Mesos's master does; the task stays listed until
        its terminal update is acknowledged (or the master forgets it otherwise).
        """
        if status.state.terminal and not task.state.terminal:
            self._count_terminal(status.state)
        task.state = status.state
        task.status = status
        task.statuses.append(status)
        if len(task.statuses) > _MAX_STATUSES_PER_TASK:
            del task.statuses[0]
        if status.state.terminal or status.state == TaskState.UNREACHABLE:
            self._release_task(task)
        self.cluster.notify("TASK_UPDATED", task)

    def _recover_framework(self, info: FrameworkInfo, pid_text: str | None) -> MasterFramework:
        """A framework named by a re-registering agent: kept inactive until it re-registers."""
        pid = None
        if pid_text:
            try:
                pid = PID.parse(pid_text)
            except ValueError:
                pid = None
        info = msgspec.structs.replace(info, roles=info.roles or ("*",))
        framework = MasterFramework(info.id, info, None, registered_time=clock.now())
        framework.active = False
        framework.connected = False
        self.cluster.add_framework(framework)
        if pid is not None:
            framework.pid = pid
        self._allocator_call(
            AllocatorProcess.add_framework, info.id, framework.roles, {}, False, info
        )
        # Its scheduler has as long as the agents to find this master, and at least its
        # failover timeout (rebuilt from what the agent reports, as Mesos does).
        timeout = max(info.failover_timeout, self.flags.agent_reregister_timeout)
        framework.failover_timer = self.delay(
            timeout, self._failover_timed_out, framework.id, framework.pid
        )
        self.log.info("framework_recovered", framework_id=info.id, failover_timeout=timeout)
        return framework

    def _agents_of(self, framework: MasterFramework) -> set[str]:
        agents = {task.agent_id for task in framework.tasks.values()}
        return agents | set(framework.executors)

    def _failover_timed_out(self, framework_id: str, pid: PID | None) -> None:
        framework = self.cluster.frameworks.get(framework_id)
        if framework is None or framework.connected or framework.pid != pid:
            return
        self._remove_framework(framework, "failover timeout")

    def _remove_framework(self, framework: MasterFramework, why: str) -> None:
        """Forget a framework: offers rescinded, tasks killed, agents told to shut it down."""
        self.log.info("framework_removed", framework_id=framework.id, reason=why)
        if framework.failover_timer is not None:
            framework.failover_timer.cancel()
        for outstanding in self.offers.of_framework(framework.id):
            self._rescind(outstanding, notify=False, recover=False)
        for agent_id in self._agents_of(framework):
            agent = self.cluster.agents.get(agent_id)
            if agent is not None:
                self.send(agent.pid, ShutdownFramework(framework_id=framework.id))
        for task in list(framework.tasks.values()):
            if not task.state.terminal:  # a terminal one only waited for its acknowledgement
                status = self._master_status(
                    task.id,
                    TaskState.KILLED,
                    Reason.FRAMEWORK_REMOVED,
                    f"Framework removed: {why}",
                    task.agent_id,
                    task.executor_id,
                )
                self._set_task_status(task, status)
            self.cluster.remove_task(task)
        for agent_id, executors in list(framework.executors.items()):
            for executor_id in list(executors):
                self.cluster.remove_executor(agent_id, framework.id, executor_id)
        framework.active = False
        framework.connected = False
        framework.unregistered_time = clock.now()
        self.cluster.remove_framework(framework)
        self._allocator_call(AllocatorProcess.remove_framework, framework.id)
        self.metrics["framework_removals"] += 1
