"""The Master actor: admits agents and frameworks, turns allocations into offers,
launches tasks, relays status updates and keeps agents' liveness.

Every message the master takes is installed in `initialize`, one line each.
Handlers follow one shape: count the message, guard clauses that log
`dropping_message` with a reason (and count it) and return, then the change.
State lives in `self.cluster` (registries), `self.offers` (outstanding offers)
and the allocator actor, which the master drives by `dispatch` and which
dispatches allocations back (`receive_allocations`).

Choices where Mesos leaves room, stated once:
- A terminal task's resources go back to the allocator when the master sees
  the terminal update (Mesos waits for the acknowledgement); the task leaves
  the framework's live tasks then, and its id may be reused.
- RESERVE, UNRESERVE, CREATE and DESTROY are not supported yet: such an
  operation is dropped with a warning and counted
  (`master/operations_unsupported`); its resources stay unused and are
  recovered with the Accept's filter.
- Tasks launched on invalid offers get TASK_DROPPED, reason REASON_INVALID_OFFERS.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from libprocess import PID, Process, clock
from master.allocation import AllocatorProcess
from master.flags import MasterFlags
from master.offers import OfferBook, OutstandingOffer
from master.state import Agent, Cluster, Framework, Task
from master.validation import validate_offers, validate_task
from master.views import metrics_view, state_view
from zmesos.errors import ResourcesError
from zmesos.protocol import (
    AcceptOffers,
    AgentInfo,
    AgentRegistered,
    AgentReregistered,
    DeactivateFramework,
    DeclineOffers,
    ExecutorInfo,
    ExecutorToFramework,
    ExitedExecutor,
    Filters,
    FrameworkError,
    FrameworkInfo,
    FrameworkRegistered,
    FrameworkReregistered,
    FrameworkToExecutor,
    KillTask,
    LostAgent,
    MasterInfo,
    Offer,
    OperationType,
    Ping,
    Pong,
    Reason,
    ReconcileTasks,
    RegisterAgent,
    RegisterFramework,
    ReregisterAgent,
    ReregisterFramework,
    RescindResourceOffer,
    ResourceOffers,
    ReviveOffers,
    RunTask,
    ShutdownAgent,
    ShutdownFramework,
    Source,
    StatusUpdate,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    SuppressOffers,
    TaskInfo,
    TaskState,
    TaskStatus,
    UnregisterAgent,
    UnregisterFramework,
    UpdateFramework,
)
from zmesos.resources import Resources, validate_role

__all__ = ["Master"]

# Filters longer than a year are clamped to one (Mesos does the same).
_MAX_REFUSE_SECONDS = 365 * 24 * 3600.0
_MAX_STATUSES_PER_TASK = 20


class Master(Process):
    """The master. Spawn it on a node (its name is "master"); it spawns its allocator."""

    def __init__(self, flags: MasterFlags | None = None, *, name: str = "master") -> None:
        super().__init__(name)
        self.flags = flags or MasterFlags()
        self.id = self.flags.new_master_id()
        self.cluster = Cluster(
            self.flags.max_completed_frameworks, self.flags.max_completed_tasks_per_framework
        )
        self.offers = OfferBook(self.id)
        self.metrics: collections.Counter[str] = collections.Counter()
        self.start_time = 0.0
        self.info: MasterInfo = None  # type: ignore[assignment]  # set in initialize
        self.allocator: PID = None  # type: ignore[assignment]
        self._agent_numbers = itertools.count()
        self._framework_numbers = itertools.count()
        self._removed_agents: collections.OrderedDict[str, None] = collections.OrderedDict()

    # -- life cycle --------------------------------------------------------------

    def initialize(self) -> None:
        self.start_time = clock.now()
        self.info = MasterInfo(
            id=self.id,
            pid=str(self.pid),
            hostname=self.flags.hostname or self.pid.host,
            port=self.pid.port,
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

    # -- helpers -----------------------------------------------------------------

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
        if not future.cancelled() and future.exception() is not None:
            self.log.error("allocator_call_failed", error=repr(future.exception()))

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

    def _framework_for(self, sender: PID, framework_id: str, message: object) -> Framework | None:
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

    def _send_status(self, framework: Framework, status: TaskStatus) -> None:
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

    # -- agents ------------------------------------------------------------------

    def register_agent(self, sender: PID, message: RegisterAgent) -> None:
        self.metrics["messages_register_agent"] += 1
        existing = self.cluster.agents_by_pid.get(sender)
        if existing is not None:
            # A retry whose answer was lost: answer again, same id.
            self.send(sender, AgentRegistered(existing.id, self.flags.agent_ping_timeout))
            return
        total = self._agent_resources(sender, message.agent, message)
        if total is None:
            return
        agent_id = f"{self.id}-S{next(self._agent_numbers)}"
        info = msgspec.structs.replace(message.agent, id=agent_id)
        agent = Agent(agent_id, info, sender, total, registered_time=clock.now())
        self.cluster.add_agent(agent)
        self.link(sender)
        self.send(sender, AgentRegistered(agent_id, self.flags.agent_ping_timeout))
        self._allocator_call(AllocatorProcess.add_agent, agent_id, total, {})
        self._start_pinging(agent)
        self.metrics["agent_registrations"] += 1
        self.log.info(
            "agent_registered", agent_id=agent_id, agent=str(sender), resources=str(total)
        )

    def _agent_resources(self, sender: PID, info: AgentInfo, message: object) -> Resources | None:
        try:
            return Resources.from_list(info.resources)
        except ResourcesError as error:
            self._drop(message, sender, f"invalid resources: {error}", "invalid_messages")
            self.send(sender, ShutdownAgent(message=f"Invalid agent resources: {error}"))
            return None

    def reregister_agent(self, sender: PID, message: ReregisterAgent) -> None:
        self.metrics["messages_reregister_agent"] += 1
        agent_id = message.agent.id
        if not agent_id:
            self._drop(message, sender, "re-registration without an agent id", "invalid_messages")
            return
        if agent_id in self._removed_agents:
            self._drop(message, sender, f"agent {agent_id} was removed")
            self.send(sender, ShutdownAgent(message="Agent was removed by the master"))
            return
        agent = self.cluster.agents.get(agent_id)
        if agent is not None:
            self._agent_reconnected(agent, sender)
            return
        total = self._agent_resources(sender, message.agent, message)
        if total is None:
            return
        self._recover_agent(sender, message, total)

    def _agent_reconnected(self, agent: Agent, sender: PID) -> None:
        """A known agent re-registered (it restarted, or its link broke and healed)."""
        if agent.pid != sender:
            self.cluster.set_agent_pid(agent, sender)
        self.link(sender)
        agent.reregistered_time = clock.now()
        agent.pings_missed = 0
        agent.pong_received = True
        if not agent.connected:
            agent.connected = True
            agent.active = True
            self._allocator_call(AllocatorProcess.activate_agent, agent.id)
        self.send(sender, AgentReregistered(agent.id, self.flags.agent_ping_timeout))
        self.metrics["agent_reregistrations"] += 1
        self.log.info("agent_reregistered", agent_id=agent.id, agent=str(sender))

    def _recover_agent(self, sender: PID, message: ReregisterAgent, total: Resources) -> None:
        """An agent this master never saw (it restarted): admit it with its tasks."""
        info = message.agent
        agent = Agent(info.id, info, sender, total, registered_time=clock.now())
        agent.reregistered_time = clock.now()
        self.cluster.add_agent(agent)
        infos = {framework.id: framework for framework in message.frameworks if framework.id}
        for framework_id, framework_info in infos.items():
            if framework_id not in self.cluster.frameworks:
                self._recover_framework(framework_info, message.framework_pids.get(framework_id))
        executors_by_id = {executor.executor_id: executor for executor in message.executors}
        for executor in message.executors:
            if executor.framework_id in self.cluster.frameworks:
                self.cluster.add_executor(agent.id, executor.framework_id, executor)
        for index, task_info in enumerate(message.tasks):
            framework_id = _task_framework(index, task_info, executors_by_id, message)
            if framework_id not in self.cluster.frameworks:
                self.log.warning("dropping_recovered_task", task_id=task_info.task_id)
                continue
            try:
                resources = Resources.from_list(task_info.resources)
            except ResourcesError:
                resources = Resources()
            state = TaskState(message.task_states.get(task_info.task_id, TaskState.STAGING))
            executor_id = (
                task_info.executor.executor_id if task_info.executor else task_info.task_id
            )
            task = Task(task_info, framework_id, agent.id, executor_id, resources, state=state)
            if not state.terminal:
                self.cluster.add_task(task)
        self.link(sender)
        self.send(sender, AgentReregistered(agent.id, self.flags.agent_ping_timeout))
        self._allocator_call(
            AllocatorProcess.add_agent, agent.id, total, dict(agent.used_by_framework)
        )
        self._start_pinging(agent)
        self.metrics["agent_reregistrations"] += 1
        self.log.info("agent_recovered", agent_id=agent.id, tasks=len(agent.tasks))

    def unregister_agent(self, sender: PID, message: UnregisterAgent) -> None:
        self.metrics["messages_unregister_agent"] += 1
        agent = self.cluster.agents.get(message.agent_id)
        if agent is None or agent.pid != sender:
            self._drop(message, sender, f"agent {message.agent_id!r} is not registered there")
            return
        self._remove_agent(agent, "agent unregistered")

    def _agent_disconnected(self, agent: Agent) -> None:
        """The agent's link broke: no more offers on it; removal waits for the pings."""
        if not agent.connected:
            return
        agent.connected = False
        agent.active = False
        self.log.info("agent_disconnected", agent_id=agent.id)
        self._allocator_call(AllocatorProcess.deactivate_agent, agent.id)
        for outstanding in self.offers.of_agent(agent.id):
            self._rescind(outstanding)

    def _start_pinging(self, agent: Agent) -> None:
        agent.pings_missed = 0
        agent.pong_received = True
        self._ping(agent.id)

    def _ping(self, agent_id: str) -> None:
        """Every agent_ping_timeout: count a miss if the last ping went unanswered, ping again."""
        agent = self.cluster.agents.get(agent_id)
        if agent is None:
            return
        if agent.pong_received:
            agent.pings_missed = 0
        else:
            agent.pings_missed += 1
            self.log.info("agent_ping_missed", agent_id=agent_id, missed=agent.pings_missed)
            if agent.pings_missed >= self.flags.max_agent_ping_timeouts:
                self._remove_agent(agent, "health check timed out")
                return
        agent.pong_received = False
        self.send(agent.pid, Ping(connected=agent.connected))
        agent.ping_timer = self.delay(self.flags.agent_ping_timeout, self._ping, agent_id)

    def pong(self, sender: PID, message: Pong) -> None:
        agent = self.cluster.agents_by_pid.get(sender)
        if agent is None:
            self._drop(message, sender, "not a registered agent")
            return
        agent.pong_received = True

    def _remove_agent(self, agent: Agent, why: str) -> None:
        """Forget an agent: its tasks are lost, its offers rescinded, frameworks told."""
        self.log.warning("agent_removed", agent_id=agent.id, reason=why)
        if agent.ping_timer is not None:
            agent.ping_timer.cancel()
        for outstanding in self.offers.of_agent(agent.id):
            self._rescind(outstanding, recover=False)
        for task in list(agent.tasks.values()):
            framework = self.cluster.frameworks.get(task.framework_id)
            status = self._master_status(
                task.id,
                TaskState.LOST,
                Reason.AGENT_REMOVED,
                f"Agent {agent.id} removed: {why}",
                agent.id,
                task.executor_id,
            )
            self._set_task_status(task, status)
            self.cluster.remove_task(task)
            if framework is not None:
                self._send_status(framework, status)
        for framework_id, executors in list(agent.executors.items()):
            for executor_id in list(executors):
                self.cluster.remove_executor(agent.id, framework_id, executor_id)
        self.cluster.remove_agent(agent)
        self._removed_agents[agent.id] = None
        while len(self._removed_agents) > 10_000:
            self._removed_agents.popitem(last=False)
        self._allocator_call(AllocatorProcess.remove_agent, agent.id)
        self.send(agent.pid, ShutdownAgent(message=f"Agent removed: {why}"))
        for framework in self.cluster.frameworks.values():
            if framework.connected and framework.pid is not None:
                self.send(framework.pid, LostAgent(agent.id))
        self.metrics["agent_removals"] += 1

    # -- frameworks --------------------------------------------------------------

    def _check_framework_info(self, info: FrameworkInfo) -> str | None:
        if not info.user and not info.name:
            return "FrameworkInfo needs a user or a name"
        for role in info.roles or ("*",):
            try:
                validate_role(role)
            except ResourcesError as error:
                return f"Invalid role {role!r}: {error}"
        if len(set(info.roles)) != len(info.roles):
            return "FrameworkInfo.roles has duplicates"
        if not math.isfinite(info.failover_timeout) or info.failover_timeout < 0:
            return f"Invalid failover_timeout {info.failover_timeout!r}"
        return None

    def register_framework(self, sender: PID, message: RegisterFramework) -> None:
        self.metrics["messages_register_framework"] += 1
        existing = self.cluster.frameworks_by_pid.get(sender)
        if existing is not None:
            # A retry whose answer was lost: answer again, same id.
            self.send(sender, FrameworkRegistered(existing.id, self.info))
            return
        info = message.framework
        problem = self._check_framework_info(info)
        if problem is None and info.id:
            problem = "Registering with an 'id' already set; re-register instead"
        if problem is not None:
            self._drop(message, sender, problem, "invalid_messages")
            self.send(sender, FrameworkError(message=problem))
            return
        framework_id = f"{self.id}-{next(self._framework_numbers):04d}"
        info = msgspec.structs.replace(info, id=framework_id, roles=info.roles or ("*",))
        framework = Framework(framework_id, info, sender, registered_time=clock.now())
        self.cluster.add_framework(framework)
        self.link(sender)
        self.send(sender, FrameworkRegistered(framework_id, self.info))
        self._allocator_call(
            AllocatorProcess.add_framework, framework_id, framework.roles, {}, True
        )
        self.metrics["framework_registrations"] += 1
        self.log.info(
            "framework_registered", framework_id=framework_id, name=info.name, scheduler=str(sender)
        )

    def reregister_framework(self, sender: PID, message: ReregisterFramework) -> None:
        self.metrics["messages_reregister_framework"] += 1
        info = message.framework
        problem = self._check_framework_info(info)
        if problem is None and not info.id:
            problem = "Re-registering without an 'id'"
        if problem is None and any(f.id == info.id for f in self.cluster.completed_frameworks):
            problem = f"Framework {info.id} has been removed"
        if problem is not None:
            self._drop(message, sender, problem, "invalid_messages")
            self.send(sender, FrameworkError(message=problem))
            return
        info = msgspec.structs.replace(info, roles=info.roles or ("*",))
        framework = self.cluster.frameworks.get(info.id)
        if framework is None:
            # This master never saw it (a master restart): admit it under its id.
            framework = Framework(info.id, info, sender, registered_time=clock.now())
            framework.reregistered_time = clock.now()
            self.cluster.add_framework(framework)
            self.link(sender)
            self._answer_reregistration(sender, info.id, message.failover)
            self._allocator_call(AllocatorProcess.add_framework, info.id, framework.roles, {}, True)
            self.log.info("framework_reregistered", framework_id=info.id, scheduler=str(sender))
            return
        self._framework_reconnected(framework, info, sender, message.failover)

    def _answer_reregistration(self, pid: PID, framework_id: str, failover: bool) -> None:
        """A failed-over scheduler hears `registered`, a reconnected one `reregistered`."""
        if failover:
            self.send(pid, FrameworkRegistered(framework_id, self.info))
        else:
            self.send(pid, FrameworkReregistered(framework_id, self.info))

    def _framework_reconnected(
        self, framework: Framework, info: FrameworkInfo, pid: PID, failover: bool
    ) -> None:
        """A known framework is back (a failed-over scheduler, or the old one reconnecting)."""
        if framework.failover_timer is not None:
            framework.failover_timer.cancel()
            framework.failover_timer = None
        if framework.pid is not None and framework.pid != pid and framework.connected:
            # The old scheduler is superseded: tell it, and take back what it was offered.
            self.send(framework.pid, FrameworkError(message="Framework failed over"))
        for outstanding in self.offers.of_framework(framework.id):
            self._rescind(outstanding, notify=False)
        old_roles = framework.roles
        self.cluster.set_framework_pid(framework, pid)
        framework.info = info
        framework.connected = True
        framework.reregistered_time = clock.now()
        self.link(pid)
        if framework.roles != old_roles:
            self._allocator_call(AllocatorProcess.update_framework, framework.id, framework.roles)
        if not framework.active:
            framework.active = True
            self._allocator_call(AllocatorProcess.activate_framework, framework.id)
        self._answer_reregistration(pid, framework.id, failover)
        for agent_id in self._agents_of(framework):
            agent = self.cluster.agents.get(agent_id)
            if agent is not None:
                self.send(agent.pid, UpdateFramework(framework.id, str(pid)))
        self.log.info("framework_reregistered", framework_id=framework.id, scheduler=str(pid))

    def _recover_framework(self, info: FrameworkInfo, pid_text: str | None) -> Framework:
        """A framework named by a re-registering agent: kept inactive until it re-registers."""
        pid = None
        if pid_text:
            try:
                pid = PID.parse(pid_text)
            except ValueError:
                pid = None
        info = msgspec.structs.replace(info, roles=info.roles or ("*",))
        framework = Framework(info.id, info, None, registered_time=clock.now())
        framework.active = False
        framework.connected = False
        self.cluster.add_framework(framework)
        if pid is not None:
            framework.pid = pid
        self._allocator_call(AllocatorProcess.add_framework, info.id, framework.roles, {}, False)
        self.log.info("framework_recovered", framework_id=info.id)
        return framework

    def _agents_of(self, framework: Framework) -> set[str]:
        agents = {task.agent_id for task in framework.tasks.values()}
        return agents | set(framework.executors)

    def unregister_framework(self, sender: PID, message: UnregisterFramework) -> None:
        self.metrics["messages_unregister_framework"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is not None:
            self._remove_framework(framework, "framework unregistered")

    def deactivate_framework(self, sender: PID, message: DeactivateFramework) -> None:
        self.metrics["messages_deactivate_framework"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is not None:
            self._deactivate(framework)

    def _deactivate(self, framework: Framework) -> None:
        if framework.active:
            framework.active = False
            self._allocator_call(AllocatorProcess.deactivate_framework, framework.id)
        for outstanding in self.offers.of_framework(framework.id):
            self._rescind(outstanding, notify=False)

    def _framework_disconnected(self, framework: Framework) -> None:
        """The scheduler's link broke: inactive now, removed after its failover timeout."""
        if not framework.connected:
            return
        framework.connected = False
        self._deactivate(framework)
        timeout = framework.info.failover_timeout
        self.log.info("framework_disconnected", framework_id=framework.id, failover_timeout=timeout)
        framework.failover_timer = self.delay(
            timeout, self._failover_timed_out, framework.id, framework.pid
        )

    def _failover_timed_out(self, framework_id: str, pid: PID | None) -> None:
        framework = self.cluster.frameworks.get(framework_id)
        if framework is None or framework.connected or framework.pid != pid:
            return
        self._remove_framework(framework, "failover timeout")

    def _remove_framework(self, framework: Framework, why: str) -> None:
        """Forget a framework: offers rescinded, tasks killed, agents told to shut it down."""
        self.log.info("framework_removed", framework_id=framework.id, reason=why)
        if framework.failover_timer is not None:
            framework.failover_timer.cancel()
        for outstanding in self.offers.of_framework(framework.id):
            self._rescind(outstanding, notify=False, recover=False)
        for agent_id in self._agents_of(framework):
            agent = self.cluster.agents.get(agent_id)
            if agent is not None:
                self.send(agent.pid, ShutdownFramework(framework.id))
        for task in list(framework.tasks.values()):
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

    # -- offers ------------------------------------------------------------------

    def receive_allocations(self, allocations: list[Any]) -> None:
        """From the allocator: make offers and send each framework its batch."""
        batches: dict[str, list[Offer]] = {}
        for allocation in allocations:
            framework = self.cluster.frameworks.get(allocation.framework_id)
            agent = self.cluster.agents.get(allocation.agent_id)
            if (
                framework is None
                or agent is None
                or not framework.active
                or not agent.connected
                or framework.pid is None
            ):
                # The world moved since the allocator decided: give it back.
                if framework is not None and agent is not None:
                    self._recover(
                        allocation.framework_id,
                        allocation.agent_id,
                        allocation.resources,
                        role=allocation.role,
                    )
                continue
            offer = Offer(
                id=self.offers.new_id(),
                framework_id=framework.id,
                agent_id=agent.id,
                hostname=agent.hostname,
                resources=tuple(allocation.resources.to_list()),
                role=allocation.role,
                attributes=agent.info.attributes,
                executor_ids=tuple(sorted(framework.executors.get(agent.id, {}))),
                agent_pid=str(agent.pid),
            )
            outstanding = self.offers.add(offer, allocation.resources, clock.now())
            if self.flags.offer_timeout is not None:
                outstanding.timer = self.delay(
                    self.flags.offer_timeout, self._offer_timed_out, offer.id
                )
            batches.setdefault(framework.id, []).append(offer)
        for framework_id, offers in batches.items():
            framework = self.cluster.frameworks[framework_id]
            assert framework.pid is not None
            self.metrics["offers_sent"] += len(offers)
            self.send(framework.pid, ResourceOffers(tuple(offers)))

    def _offer_timed_out(self, offer_id: str) -> None:
        outstanding = self.offers.get(offer_id)
        if outstanding is not None:
            self.log.info("offer_timed_out", offer_id=offer_id)
            self.metrics["offers_timed_out"] += 1
            self._rescind(outstanding)

    def _rescind(
        self, outstanding: OutstandingOffer, *, notify: bool = True, recover: bool = True
    ) -> None:
        """End an offer: tell its framework (if `notify`) and give its resources back."""
        self.offers.remove(outstanding.id)
        self.metrics["offers_rescinded"] += 1
        framework = self.cluster.frameworks.get(outstanding.framework_id)
        if notify and framework is not None and framework.connected and framework.pid:
            self.send(framework.pid, RescindResourceOffer(outstanding.id))
        if recover:
            self._recover(
                outstanding.framework_id,
                outstanding.agent_id,
                outstanding.resources,
                role=outstanding.role,
            )

    def decline_offers(self, sender: PID, message: DeclineOffers) -> None:
        self.metrics["messages_decline_offers"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        refuse = _refuse_seconds(message.filters)
        for offer_id in message.offer_ids:
            outstanding = self.offers.get(offer_id)
            if outstanding is None or outstanding.framework_id != framework.id:
                self.log.info("ignoring_decline", offer_id=offer_id, reason="not an offer of it")
                continue
            self.offers.remove(offer_id)
            self.metrics["offers_declined"] += 1
            self._recover(
                framework.id, outstanding.agent_id, outstanding.resources, refuse, outstanding.role
            )

    def revive_offers(self, sender: PID, message: ReviveOffers) -> None:
        self.metrics["messages_revive_offers"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        roles = message.roles or framework.roles
        framework.suppressed_roles.difference_update(roles)
        self._allocator_call(AllocatorProcess.revive, framework.id, tuple(roles))

    def suppress_offers(self, sender: PID, message: SuppressOffers) -> None:
        self.metrics["messages_suppress_offers"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        roles = message.roles or framework.roles
        framework.suppressed_roles.update(roles)
        self._allocator_call(AllocatorProcess.suppress, framework.id, tuple(roles))

    # -- accept ------------------------------------------------------------------

    def accept_offers(self, sender: PID, message: AcceptOffers) -> None:
        self.metrics["messages_accept_offers"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        launches = [
            task
            for operation in message.operations
            if operation.type == OperationType.LAUNCH
            for task in operation.tasks
        ]
        problem = validate_offers(message.offer_ids, self._offer_of, framework.id)
        agent = None
        if problem is None:
            agent = self.cluster.agents.get(self.offers.get(message.offer_ids[0]).agent_id)  # type: ignore[union-attr]
            if agent is None or not agent.connected:
                problem = "Offers are of an agent that is gone or disconnected"
        if problem is not None:
            self._refuse_accept(framework, message, launches, problem)
            return
        assert agent is not None
        offered = [self.offers.remove(offer_id) for offer_id in message.offer_ids]
        available = sum((o.resources for o in offered if o is not None), Resources())
        roles = {o.role for o in offered if o is not None}
        role = roles.pop() if len(roles) == 1 else None
        self.metrics["offers_accepted"] += len(offered)
        launched: set[str] = set()
        executors = dict(framework.executors.get(agent.id, {}))
        for operation in message.operations:
            if operation.type != OperationType.LAUNCH:
                self.metrics["operations_unsupported"] += 1
                self.log.warning(
                    "dropping_operation",
                    framework_id=framework.id,
                    operation=str(operation.type),
                    reason="not supported yet",
                )
                continue
            for task in operation.tasks:
                verdict = validate_task(
                    task,
                    framework_id=framework.id,
                    agent_id=agent.id,
                    live_task_ids=framework.tasks.keys() | launched,
                    executors=executors,
                    available=available,
                )
                if verdict.error is not None:
                    self._task_invalid(framework, task, agent.id, verdict.error)
                    continue
                available = available - verdict.consumed
                launched.add(task.task_id)
                if verdict.new_executor is not None:
                    executors[verdict.new_executor.executor_id] = verdict.new_executor
                    self.cluster.add_executor(agent.id, framework.id, verdict.new_executor)
                self._launch(framework, agent, task, verdict.task_resources, role)
        self._recover(framework.id, agent.id, available, _refuse_seconds(message.filters), role)

    def _offer_of(self, offer_id: str) -> Offer | None:
        outstanding = self.offers.get(offer_id)
        return None if outstanding is None else outstanding.offer

    def _refuse_accept(
        self, framework: Framework, message: AcceptOffers, tasks: list[TaskInfo], problem: str
    ) -> None:
        """Invalid offers: every task is dropped; the framework's valid offers come back."""
        self.log.warning("accept_refused", framework_id=framework.id, reason=problem)
        self.metrics["invalid_accepts"] += 1
        for offer_id in set(message.offer_ids):
            outstanding = self.offers.get(offer_id)
            if outstanding is not None and outstanding.framework_id == framework.id:
                self.offers.remove(offer_id)
                self._recover(
                    framework.id,
                    outstanding.agent_id,
                    outstanding.resources,
                    role=outstanding.role,
                )
        for task in tasks:
            status = self._master_status(
                task.task_id,
                TaskState.DROPPED,
                Reason.INVALID_OFFERS,
                f"Task launched with invalid offers: {problem}",
                task.agent_id,
            )
            self._count_terminal(TaskState.DROPPED)
            self._send_status(framework, status)

    def _task_invalid(
        self, framework: Framework, task: TaskInfo, agent_id: str, error: str
    ) -> None:
        self.log.warning(
            "task_invalid", framework_id=framework.id, task_id=task.task_id, reason=error
        )
        status = self._master_status(
            task.task_id, TaskState.ERROR, Reason.TASK_INVALID, error, agent_id
        )
        self._count_terminal(TaskState.ERROR)
        self._send_status(framework, status)

    def _launch(
        self,
        framework: Framework,
        agent: Agent,
        task: TaskInfo,
        resources: Resources,
        role: str | None,
    ) -> None:
        if task.executor is not None and task.executor.framework_id != framework.id:
            task = msgspec.structs.replace(
                task,
                executor=msgspec.structs.replace(task.executor, framework_id=framework.id),
            )
        executor_id = task.executor.executor_id if task.executor is not None else task.task_id
        record = Task(task, framework.id, agent.id, executor_id, resources, role=role)
        record.status = self._master_status(
            task.task_id, TaskState.STAGING, None, "", agent.id, executor_id
        )
        self.cluster.add_task(record)
        self.metrics["tasks_launched"] += 1
        self.send(
            agent.pid,
            RunTask(framework=framework.info, framework_pid=str(framework.pid), task=task),
        )
        self.log.info(
            "task_launched", framework_id=framework.id, task_id=task.task_id, agent_id=agent.id
        )

    # -- tasks -------------------------------------------------------------------

    def kill_task(self, sender: PID, message: KillTask) -> None:
        self.metrics["messages_kill_task"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        task = framework.tasks.get(message.task_id)
        if task is None:
            # Mesos answers a kill of an unknown task as a reconciliation would.
            self._send_status(
                framework,
                self._master_status(
                    message.task_id,
                    TaskState.LOST,
                    Reason.RECONCILIATION,
                    "Reconciliation: Task is unknown",
                    message.agent_id,
                ),
            )
            return
        agent = self.cluster.agents.get(task.agent_id)
        if agent is None:
            return
        self.send(
            agent.pid,
            KillTask(
                framework_id=framework.id,
                task_id=task.id,
                agent_id=agent.id,
                grace_period_seconds=message.grace_period_seconds,
            ),
        )
        self.log.info("task_kill_requested", framework_id=framework.id, task_id=task.id)

    def reconcile_tasks(self, sender: PID, message: ReconcileTasks) -> None:
        self.metrics["messages_reconcile_tasks"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        if not message.statuses:
            tasks: Iterable[Task | str] = list(framework.tasks.values())
        else:
            tasks = [framework.tasks.get(s.task_id) or s.task_id for s in message.statuses]
        for task in tasks:
            if isinstance(task, str):
                status = self._master_status(
                    task, TaskState.LOST, Reason.RECONCILIATION, "Reconciliation: Task is unknown"
                )
            else:
                latest = task.status
                status = self._master_status(
                    task.id,
                    task.state,
                    Reason.RECONCILIATION,
                    "Reconciliation: Latest task state",
                    task.agent_id,
                    task.executor_id,
                )
                if latest is not None:
                    status = msgspec.structs.replace(status, data=latest.data)
            self._send_status(framework, status)

    def _set_task_status(self, task: Task, status: TaskStatus) -> None:
        """Record a task's latest status; a first terminal one is counted."""
        if status.state.terminal and not task.state.terminal:
            self._count_terminal(status.state)
        task.state = status.state
        task.status = status
        task.statuses.append(status)
        if len(task.statuses) > _MAX_STATUSES_PER_TASK:
            del task.statuses[0]

    def status_update(self, sender: PID, message: StatusUpdateMessage) -> None:
        self.metrics["messages_status_update"] += 1
        update = message.update
        agent = self.cluster.agents_by_pid.get(sender)
        if agent is None or (update.agent_id and update.agent_id != agent.id):
            self._drop(message, sender, "not from a registered agent", "invalid_status_updates")
            return
        framework = self.cluster.frameworks.get(update.framework_id)
        if framework is None:
            self._drop(
                message,
                sender,
                f"framework {update.framework_id!r} is not registered",
                "invalid_status_updates",
            )
            return
        status = update.status
        if status.agent_id != agent.id:
            status = msgspec.structs.replace(status, agent_id=agent.id)
            update = msgspec.structs.replace(update, status=status, agent_id=agent.id)
            message = StatusUpdateMessage(update=update, pid=message.pid)
        self.metrics["valid_status_updates"] += 1
        task = agent.tasks.get((framework.id, status.task_id))
        if task is not None:
            was_terminal = task.state.terminal
            self._set_task_status(task, status)
            if status.state.terminal and not was_terminal:
                self.cluster.remove_task(task)
                self._recover(framework.id, agent.id, task.resources, role=task.role)
        self.log.info(
            "status_update",
            framework_id=framework.id,
            task_id=status.task_id,
            state=str(status.state),
            agent_id=agent.id,
        )
        if framework.connected and framework.pid is not None:
            self.send(framework.pid, message)

    def status_update_acknowledgement(
        self, sender: PID, message: StatusUpdateAcknowledgement
    ) -> None:
        self.metrics["messages_status_update_acknowledgement"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        agent = self.cluster.agents.get(message.agent_id)
        if agent is None or not agent.connected:
            self._drop(
                message,
                sender,
                f"agent {message.agent_id!r} is not connected",
                "invalid_status_update_acknowledgements",
            )
            return
        self.send(agent.pid, message)

    def exited_executor(self, sender: PID, message: ExitedExecutor) -> None:
        self.metrics["messages_exited_executor"] += 1
        agent = self.cluster.agents_by_pid.get(sender)
        if agent is None or agent.id != message.agent_id:
            self._drop(message, sender, "not from that registered agent", "invalid_messages")
            return
        executor = self.cluster.remove_executor(agent.id, message.framework_id, message.executor_id)
        if executor is not None:
            self._recover(message.framework_id, agent.id, Resources(executor.resources))
        framework = self.cluster.frameworks.get(message.framework_id)
        if framework is not None and framework.connected and framework.pid is not None:
            self.send(framework.pid, message)

    # -- framework messages --------------------------------------------------------

    def framework_to_executor(self, sender: PID, message: FrameworkToExecutor) -> None:
        self.metrics["messages_framework_to_executor"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is None:
            return
        agent = self.cluster.agents.get(message.agent_id)
        if agent is None or not agent.connected:
            self._drop(
                message,
                sender,
                f"agent {message.agent_id!r} is not connected",
                "invalid_framework_to_executor_messages",
            )
            return
        self.send(agent.pid, message)
        self.metrics["valid_framework_to_executor_messages"] += 1

    def executor_to_framework(self, sender: PID, message: ExecutorToFramework) -> None:
        self.metrics["messages_executor_to_framework"] += 1
        agent = self.cluster.agents_by_pid.get(sender)
        framework = self.cluster.frameworks.get(message.framework_id)
        if agent is None or framework is None or not framework.connected or framework.pid is None:
            self._drop(
                message,
                sender,
                "unknown agent or framework not connected",
                "invalid_executor_to_framework_messages",
            )
            return
        self.send(framework.pid, message)
        self.metrics["valid_executor_to_framework_messages"] += 1

    # -- reads for the operator HTTP (dispatched) ------------------------------------

    def state(self) -> dict[str, Any]:
        return state_view(self)

    def metrics_snapshot(self) -> dict[str, float]:
        return metrics_view(self)

    def allocator_pid(self) -> PID:
        return self.allocator


def _refuse_seconds(filters: Filters) -> float:
    """A framework's refuse_seconds, made safe: negative or NaN means the default."""
    value = filters.refuse_seconds
    if not math.isfinite(value) or value < 0:
        return Filters().refuse_seconds if not math.isinf(value) else _MAX_REFUSE_SECONDS
    return min(value, _MAX_REFUSE_SECONDS)


def _task_framework(
    index: int, task: TaskInfo, executors: dict[str, ExecutorInfo], message: ReregisterAgent
) -> str:
    """The framework of a task reported by a re-registering agent."""
    if index < len(message.task_framework_ids) and message.task_framework_ids[index]:
        return message.task_framework_ids[index]
    if task.executor is not None and task.executor.framework_id:
        return task.executor.framework_id
    executor = executors.get(task.executor.executor_id if task.executor else task.task_id)
    if executor is not None and executor.framework_id:
        return executor.framework_id
    if len(message.frameworks) == 1:
        return message.frameworks[0].id
    return ""
