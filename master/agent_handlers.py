"""The master's agent handlers: registration, re-registration, liveness (pings), removal.

Admission goes through the registry: an agent hears AgentRegistered only once
the registry durably holds it (a failed write refuses it; the agent retries).
An agent whose link breaks is only disconnected (no offers of it); it is
marked unreachable after `max_agent_ping_timeouts` consecutive pings went
unanswered for `agent_ping_timeout` each, as in Mesos (master.partition_handlers).
An agent that unregisters is removed: its tasks are lost (TASK_LOST,
REASON_SLAVE_REMOVED), its offers rescinded, every framework told.

Principals: with --authenticate-agents an agent that did not authenticate
(master.authentication_handlers) is refused (AgentRegistrationRefused). An
agent that authenticated is remembered with its principal, and re-registering
with its AgentID is refused to any other principal (or to none): its tasks,
resources and connection stay as they were.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from libprocess import PID, clock
from master.allocator_process import AllocatorProcess
from master.partition_handlers import PartitionHandlers
from master.registry import AdmitAgent, MarkAgentReachable, RemoveAgent
from master.state import MasterAgent, MasterTask
from zmesos.errors import ResourcesError
from zmesos.protocol import (
    AgentInfo,
    AgentRegistered,
    AgentRegistrationRefused,
    AgentReregistered,
    Ping,
    Pong,
    Reason,
    ReconcileTasks,
    RegisterAgent,
    ReregisterAgent,
    ShutdownAgent,
    ShutdownFramework,
    TaskInfo,
    TaskState,
    TaskStatus,
    UnregisterAgent,
    UpdateFramework,
)
from zmesos.resources import (
    Resource,
    Resources,
    apply_checkpoint,
    checkpointed_part,
    is_valid_role,
    without_checkpoint,
)

__all__ = ["AgentHandlers"]

_PARSED_RESOURCES_CACHE = 4096  # distinct resource lists of agents and tasks kept parsed


class AgentHandlers(PartitionHandlers):
    """Handlers of the master <-> agent conversation (registration and liveness)."""

    def register_agent(self, sender: PID, message: RegisterAgent) -> None:
        self.metrics["messages_register_agent"] += 1
        existing = self.cluster.agents_by_pid.get(sender)
        if existing is not None:
            # A retry whose answer was lost: answer again, same id.
            self.send(
                sender,
                AgentRegistered(agent_id=existing.id, ping_interval=self.flags.agent_ping_timeout),
            )
            return
        if sender in self._admitting:
            self._drop(message, sender, "its admission is being written to the registry")
            return
        admitted, principal = self._agent_may_register(sender, message)
        if not admitted:
            return
        total = self._agent_resources(sender, message.agent, message)
        if total is None:
            return
        agent_id = f"{self.id_prefix}-S{next(self._agent_numbers)}"
        info = msgspec.structs.replace(message.agent, id=agent_id)
        self._admitting.add(sender)
        self._registry_apply(
            AdmitAgent(info=info, principal=principal or ""),
            lambda error: self._agent_admitted(sender, info, total, error),
        )

    def _agent_may_register(
        self, sender: PID, message: RegisterAgent | ReregisterAgent
    ) -> tuple[bool, str | None]:
        """(whether `sender` may (re-)register, the principal it proved); a refusal is sent."""
        principal = self._principal_of(sender)
        if principal is None and self.flags.authenticate_agents:
            self._refuse_agent(sender, message, f"Agent at {sender} is not authenticated")
            return False, principal
        if not self._authorized("register_agents", principal, message.agent.hostname):
            why = f"Not authorized to register an agent (principal {principal!r})"
            self._refuse_agent(sender, message, why, "agent_registrations_unauthorized")
            return False, principal
        return True, principal

    def _refuse_agent(
        self, sender: PID, message: RegisterAgent | ReregisterAgent, why: str, metric: str = ""
    ) -> None:
        """A registration refused for who sent it: told, logged and counted."""
        self._drop(message, sender, why, metric or "agent_authentication_refusals")
        self.send(sender, AgentRegistrationRefused(message=why))

    def _agent_admitted(
        self, sender: PID, info: AgentInfo, total: Resources, error: BaseException | None
    ) -> None:
        self._admitting.discard(sender)
        if error is not None or self.abdicated:
            return  # not admitted: the agent's retry tries again
        agent = MasterAgent(info.id, info, sender, total, registered_time=clock.now())
        agent.principal = self._principal_of(sender)
        self.cluster.add_agent(agent)
        self.link(sender)
        self.send(
            sender, AgentRegistered(agent_id=agent.id, ping_interval=self.flags.agent_ping_timeout)
        )
        self._allocator_call(AllocatorProcess.add_agent, agent.id, total, {})
        self._start_pinging(agent)
        self.metrics["agent_registrations"] += 1
        self.log.info(
            "agent_registered", agent_id=agent.id, agent=str(sender), resources=str(total)
        )

    def _agent_resources(self, sender: PID, info: AgentInfo, message: object) -> Resources | None:
        try:
            return self._parsed_resources(info.resources)
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
        registry = self.registrar.registry
        if agent_id in self._removed_agents or agent_id in registry.gone:
            self._drop(message, sender, f"agent {agent_id} was removed")
            self.send(sender, ShutdownAgent(message="Agent was removed by the master"))
            return
        if agent_id in self._admitting or agent_id in self._marking_unreachable:
            self._drop(message, sender, f"agent {agent_id} is being written to the registry")
            return
        if sender in self._admitting:
            # Admitted at once, the pid would be two agents' (a forged or confused sender).
            self._drop(message, sender, "its pid's admission is being written to the registry")
            return
        admitted, principal = self._agent_may_register(sender, message)
        if not admitted:
            return
        known = self.cluster.agents.get(agent_id)
        if known is not None and _repeated(known, sender, message):
            self._answer_repeated_reregistration(known)
            return
        # The principal it proved: this master saw it, or the registry kept it (a master
        # failover, or an agent back from unreachable).
        owner = known.principal if known is not None else registry.principals.get(agent_id)
        if owner is not None and principal != owner:
            self._refuse_agent(
                sender,
                message,
                f"Agent {agent_id} belongs to principal {owner!r}, not {principal!r}",
                "agent_takeovers_refused",
            )
            return
        problem = _reregistration_problem(message, self._parsed_resources)
        other = self.cluster.agents_by_pid.get(sender)
        if problem is None and other is not None and other.id != agent_id:
            problem = f"{sender} is agent {other.id}, not {agent_id}"
        if problem is not None:
            self._drop(message, sender, problem, "invalid_messages")
            return
        total = self._agent_resources(sender, message.agent, message)
        if total is None:
            return
        agent = self.cluster.agents.get(agent_id)
        if agent is not None:
            total, differ = self._reconcile_checkpointed(agent, message, total)
            self._agent_reconnected(agent, sender, message.agent, total)
            if differ:
                self._checkpoint_resources(agent)
            self._reconcile_reported(agent, message)
            agent.reregistration = message
            return
        if agent_id in registry.agents:
            # Admitted before this master recovered the registry: nothing to write.
            self.awaiting_reregistration.discard(agent_id)
            self._recover_agent(sender, message, total)
            return
        # Unreachable (or forgotten by the registry): admitted again before anything else.
        self._admitting.update((agent_id, sender))
        self._registry_apply(
            MarkAgentReachable(info=message.agent, principal=principal or ""),
            lambda error: self._agent_readmitted(sender, message, total, error),
        )

    def _answer_repeated_reregistration(self, agent: MasterAgent) -> None:
        """The agent sent again the re-registration this master took last, on the same
        link: its retry crossed our answer (agents retry within 2, 4, ... s, and a new
        leader may take longer than that to reach thousands of them). It says nothing
        new, so it is answered again and not taken twice (reconciling it again could
        even lose a task launched since). After a failover of 10,000 agents each sent
        one to two such repeats (benchmarks.failover)."""
        agent.reregistered_time = clock.now()
        agent.pings_missed = 0
        agent.pong_received = True
        self.metrics["agent_reregistrations_repeated"] += 1
        self._answer_agent_reregistration(agent)

    def _answer_agent_reregistration(self, agent: MasterAgent) -> None:
        """AgentReregistered, and where each of its frameworks' schedulers is now."""
        self.send(
            agent.pid,
            AgentReregistered(agent_id=agent.id, ping_interval=self.flags.agent_ping_timeout),
        )
        for framework_id in agent.framework_ids():
            framework = self.cluster.frameworks.get(framework_id)
            if framework is not None and framework.connected and framework.pid is not None:
                self.send(
                    agent.pid,
                    UpdateFramework(framework_id=framework_id, framework_pid=str(framework.pid)),
                )

    def _agent_readmitted(
        self,
        sender: PID,
        message: ReregisterAgent,
        total: Resources,
        error: BaseException | None,
    ) -> None:
        self._admitting.difference_update((message.agent.id, sender))
        if error is not None or self.abdicated or message.agent.id in self.cluster.agents:
            return
        self.log.info("agent_reachable", agent_id=message.agent.id)
        self._recover_agent(sender, message, total)

    def _reconcile_checkpointed(
        self, agent: MasterAgent, message: ReregisterAgent, total: Resources
    ) -> tuple[Resources, bool]:
        """The master's view of a known agent's reservations and volumes wins (Mesos too).

        Returns the agent's total as the master sees it, and whether the agent's
        checkpointed resources differ (then the master sends its own).
        """
        mine = checkpointed_part(agent.total)
        try:
            theirs = Resources.from_list(message.checkpointed_resources)
        except ResourcesError:
            theirs = checkpointed_part(total)
        if mine == theirs:
            return total, False
        try:
            total = apply_checkpoint(without_checkpoint(total, theirs), mine)
        except ResourcesError as error:
            self.log.error(
                "checkpointed_resources_unreconcilable", agent_id=agent.id, error=str(error)
            )
            return total, False
        self.metrics["checkpointed_resources_reconciled"] += 1
        self.log.warning(
            "checkpointed_resources_differ",
            agent_id=agent.id,
            master_view=str(mine),
            agent_view=str(theirs),
        )
        return total, True

    def _reconcile_reported(self, agent: MasterAgent, message: ReregisterAgent) -> None:
        """Align with what a known agent reports (Mesos's reconciliation of a known agent).

        A task the master has there that the agent does not report is lost
        (REASON_TASK_UNKNOWN) -- unless it is still staging: its RunTask may be on
        its way, so the agent is asked (ReconcileTasks, after any RunTask on the same
        channel) and answers TASK_LOST for a task it never received. Frameworks the
        master removed are shut down there.
        """
        reported = {record.task.task_id for record in message.tasks}
        staging: dict[str, list[TaskStatus]] = {}
        for task in list(agent.tasks.values()):
            if task.id in reported:
                continue
            if task.state.terminal:  # the agent forgot it; its acknowledgement is moot
                self._task_done(task)
                continue
            if task.state == TaskState.STAGING:
                staging.setdefault(task.framework_id, []).append(
                    TaskStatus(task_id=task.id, state=task.state, agent_id=agent.id)
                )
                continue
            status = self._master_status(
                task.id,
                TaskState.LOST,
                Reason.TASK_UNKNOWN,
                "Task is unknown to the agent",
                agent.id,
                task.executor_id,
            )
            self._set_task_status(task, status)  # its resources go back
            self.cluster.remove_task(task)
            framework = self.cluster.frameworks.get(task.framework_id)
            if framework is not None:
                self._send_status(framework, status)
        for framework_id, statuses in staging.items():
            self.send(
                agent.pid, ReconcileTasks(framework_id=framework_id, statuses=tuple(statuses))
            )
        removed = {framework.id for framework in self.cluster.completed_frameworks}
        for info in message.frameworks:
            if info.id in removed and info.id not in self.cluster.frameworks:
                self.send(agent.pid, ShutdownFramework(framework_id=info.id))

    def _agent_reconnected(
        self, agent: MasterAgent, sender: PID, info: AgentInfo, total: Resources
    ) -> None:
        """A known agent re-registered (it restarted, or its link broke and healed)."""
        if agent.pid != sender:
            self.cluster.set_agent_pid(agent, sender)
        agent.principal = agent.principal or self._principal_of(sender)
        agent.info = info
        if total != agent.total:
            self.log.info("agent_resources_changed", agent_id=agent.id, resources=str(total))
            agent.total = total
            for outstanding in self.offers.of_agent(agent.id):
                self._rescind(outstanding)
            self._allocator_call(AllocatorProcess.update_agent_total, agent.id, total)
        self.link(sender)
        agent.reregistered_time = clock.now()
        agent.pings_missed = 0
        agent.pong_received = True
        if not agent.connected:
            agent.connected = True
            agent.active = True
            self._allocator_call(AllocatorProcess.activate_agent, agent.id)
        self._answer_agent_reregistration(agent)
        self.metrics["agent_reregistrations"] += 1
        self.log.info("agent_reregistered", agent_id=agent.id, agent=str(sender))

    def _recover_agent(self, sender: PID, message: ReregisterAgent, total: Resources) -> None:
        """An agent this master does not have (it failed over, or the agent was unreachable):
        admit it with its frameworks, executors and tasks."""
        info = message.agent
        agent = MasterAgent(info.id, info, sender, total, registered_time=clock.now())
        agent.principal = self._principal_of(sender)
        agent.reregistered_time = clock.now()
        self.cluster.add_agent(agent)
        infos = {framework.id: framework for framework in message.frameworks if framework.id}
        for framework_id, framework_info in infos.items():
            if framework_id not in self.cluster.frameworks:
                self._recover_framework(framework_info, message.framework_pids.get(framework_id))
        reported: list[tuple[str, TaskInfo, TaskState]] = []
        for record in message.tasks:
            if record.framework_id not in self.cluster.frameworks:
                self.log.warning("dropping_recovered_task", task_id=record.task.task_id)
                continue
            reported.append((record.framework_id, record.task, record.state))
        kept, shutdown = self._returning_tasks(agent.id, reported)
        for executor in message.executors:
            if executor.framework_id in self.cluster.frameworks and (
                executor.framework_id not in shutdown
            ):
                self.cluster.add_executor(agent.id, executor.framework_id, executor)
        # What each framework's tasks hold, summed from their parsed (shared) resources,
        # and charged once a framework, not once a task: 100,000 tasks re-register
        # after a failover.
        charges: dict[str, list[Resources]] = {}
        for framework_id, task_info, state in kept:
            resources = self._task_resources(task_info)
            executor_id = (
                task_info.executor.executor_id if task_info.executor else task_info.task_id
            )
            task = MasterTask(
                task_info, framework_id, agent.id, executor_id, resources, state=state
            )
            if not state.terminal:
                self.cluster.add_task(task, charge=False)
                if resources:
                    charges.setdefault(framework_id, []).append(resources)
        for framework_id, held in charges.items():
            agent.charge(framework_id, Resources.summed(held))
        self.link(sender)
        agent.reregistration = message
        self.send(
            sender,
            AgentReregistered(agent_id=agent.id, ping_interval=self.flags.agent_ping_timeout),
        )
        self._shutdown_frameworks_on(agent, shutdown)
        self._allocator_call(
            AllocatorProcess.add_agent, agent.id, total, dict(agent.used_by_framework)
        )
        self._start_pinging(agent)
        self.metrics["agent_reregistrations"] += 1
        self.log.info("agent_recovered", agent_id=agent.id, tasks=len(agent.tasks))

    def _task_resources(self, task: TaskInfo) -> Resources:
        """A reported task's resources, validated (none when they are invalid)."""
        try:
            return self._parsed_resources(task.resources)
        except ResourcesError:
            return Resources()

    def _parsed_resources(self, resources: tuple[Resource, ...]) -> Resources:
        """`Resources.from_list`, remembered: agents and tasks alike share one parse (a
        failover re-registers thousands of them). Bounded; raises ResourcesError."""
        cache = self._parsed_resources_cache
        parsed = cache.get(resources)
        if parsed is None:
            parsed = Resources.from_list(resources)
            if len(cache) >= _PARSED_RESOURCES_CACHE:
                cache.clear()
            cache[resources] = parsed
        return parsed

    def unregister_agent(self, sender: PID, message: UnregisterAgent) -> None:
        self.metrics["messages_unregister_agent"] += 1
        agent = self.cluster.agents.get(message.agent_id)
        if agent is None or agent.pid != sender:
            self._drop(message, sender, f"agent {message.agent_id!r} is not registered there")
            return
        self._registry_apply(RemoveAgent(agent_id=agent.id), lambda error: None)
        self._remove_agent(agent, "agent unregistered")

    def _agent_disconnected(self, agent: MasterAgent) -> None:
        """The agent's link broke: no more offers on it; removal waits for the pings."""
        if not agent.connected:
            return
        agent.connected = False
        agent.active = False
        self.log.info("agent_disconnected", agent_id=agent.id)
        self._allocator_call(AllocatorProcess.deactivate_agent, agent.id)
        for outstanding in self.offers.of_agent(agent.id):
            self._rescind(outstanding)

    def _start_pinging(self, agent: MasterAgent) -> None:
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
                self._mark_unreachable(agent, "health check timed out")
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

    def _remove_agent(self, agent: MasterAgent, why: str) -> None:
        """Forget an agent that left: its tasks are lost, its offers rescinded, frameworks told."""
        self.log.warning("agent_removed", agent_id=agent.id, reason=why)
        pid = agent.pid
        self._take_agent_out(
            agent,
            lambda framework: TaskState.LOST,
            Reason.AGENT_REMOVED,
            f"Agent {agent.id} removed: {why}",
            unreachable=False,
        )
        self._removed_agents[agent.id] = None
        while len(self._removed_agents) > 10_000:
            self._removed_agents.popitem(last=False)
        self.send(pid, ShutdownAgent(message=f"Agent removed: {why}"))
        self.metrics["agent_removals"] += 1


def _repeated(agent: MasterAgent, sender: PID, message: ReregisterAgent) -> bool:
    """Whether `message` is, on the same live link, the re-registration last taken from
    `agent` (the same content: an equal struct, compared field by field in C)."""
    last = agent.reregistration
    return (
        last is not None
        and agent.connected
        and agent.pid == sender
        and (last is message or last == message)
    )


def _reregistration_problem(
    message: ReregisterAgent, parse: Callable[[tuple[Resource, ...]], Resources]
) -> str | None:
    """Why a re-registration cannot be taken as a whole, checked before anything changes.

    Decoding has checked types, states and PIDs; these are the rules across fields.
    """
    frameworks: set[str] = set()
    for info in message.frameworks:
        if not info.id:
            return f"framework {info.name!r} has no id"
        bad_roles = [role for role in info.roles if not is_valid_role(role)]
        if bad_roles:
            return f"framework {info.id} has invalid roles {bad_roles}"
        frameworks.add(info.id)
    seen: set[tuple[str, str]] = set()
    for record in message.tasks:
        key = (record.framework_id, record.task.task_id)
        if not record.framework_id or not record.task.task_id:
            return f"task {record.task.task_id!r} of framework {record.framework_id!r} lacks an id"
        if key in seen:
            return (
                f"task {record.task.task_id} of framework {record.framework_id} is reported twice"
            )
        seen.add(key)
        try:
            parse(record.task.resources)
        except ResourcesError as error:
            return f"task {record.task.task_id} has invalid resources: {error}"
    for executor in message.executors:
        if not executor.executor_id or not executor.framework_id:
            return f"executor {executor.executor_id!r} lacks an id or its framework's id"
    return None
