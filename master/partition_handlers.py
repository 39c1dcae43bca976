"""Agents the master cannot reach, agents that come back, and agents an operator says are gone.

Mesos's partition awareness (high-availability-framework-guide.md):
- An agent that misses `max_agent_ping_timeouts` pings is marked unreachable
  in the registry. Once that is durable its offers are rescinded, its
  resources leave the allocator, its tasks become TASK_UNREACHABLE for
  PARTITION_AWARE frameworks and TASK_LOST for the others, and every framework
  hears `agent_lost`. The agent is not told to shut down: it may come back.
- An unreachable agent that re-registers is admitted again (registry first).
  Partition-aware frameworks hear that their tasks there run again: the
  master sends the state the agent reports (Mesos leaves this to the next
  reconciliation; we send it so a scheduler need not poll). The tasks of
  other frameworks, already reported LOST, are killed: the agent is told to
  shut those frameworks down.
- An operator may mark an agent gone (`mark_agent_gone`): its tasks become
  TASK_GONE_BY_OPERATOR (TASK_LOST for frameworks that are not partition-aware)
  and it may never re-register.
- Unreachable and gone agents are forgotten after `registry_max_agent_age`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from libprocess import clock
from master.allocator_process import AllocatorProcess
from master.authorization import Forbidden, refusal_message
from master.base import MasterBase
from master.registry import MarkAgentGone, MarkAgentUnreachable, PruneUnreachable
from master.state import MasterAgent, MasterFramework
from zmesos.protocol import (
    LostAgent,
    Reason,
    ShutdownAgent,
    ShutdownFramework,
    TaskInfo,
    TaskState,
)

__all__ = ["PartitionHandlers"]


class PartitionHandlers(MasterBase):
    """Unreachable, returning and gone agents (see the module docstring)."""

    # -- unreachable -----------------------------------------------------------------

    def _mark_unreachable(self, agent: MasterAgent, why: str) -> None:
        """Record the agent unreachable; the rest follows once the registry has it."""
        if agent.id in self._marking_unreachable:
            return
        self._marking_unreachable.add(agent.id)
        if agent.ping_timer is not None:
            agent.ping_timer.cancel()
            agent.ping_timer = None
        self.log.warning("agent_marking_unreachable", agent_id=agent.id, reason=why)
        operation = MarkAgentUnreachable(agent_id=agent.id, time=clock.now())
        self._registry_apply(
            operation, lambda error: self._agent_marked_unreachable(agent, why, error)
        )

    def _agent_marked_unreachable(
        self, agent: MasterAgent, why: str, error: BaseException | None
    ) -> None:
        self._marking_unreachable.discard(agent.id)
        if self.abdicated or self.cluster.agents.get(agent.id) is not agent:
            return
        if error is not None:
            # Not recorded: try again after another ping timeout.
            self.delay(self.flags.agent_ping_timeout, self._mark_unreachable, agent, why)
            return
        self._take_agent_out(
            agent,
            lambda framework: (
                TaskState.UNREACHABLE
                if framework is not None and framework.partition_aware
                else TaskState.LOST
            ),
            Reason.AGENT_REMOVED,
            f"Agent {agent.id} is unreachable: {why}",
            unreachable=True,
        )
        self.metrics["agents_marked_unreachable"] += 1
        self.log.warning("agent_unreachable", agent_id=agent.id, reason=why)

    def _take_agent_out(
        self,
        agent: MasterAgent,
        state_for: Callable[[MasterFramework | None], TaskState],
        reason: Reason,
        message: str,
        *,
        unreachable: bool,
    ) -> None:
        """Remove an agent from the master and the allocator, telling frameworks of its tasks.

        `state_for(framework)`: the state its tasks there get. With
        `unreachable` the tasks are kept as the framework's unreachable tasks.
        """
        if agent.ping_timer is not None:
            agent.ping_timer.cancel()
            agent.ping_timer = None
        for outstanding in self.offers.of_agent(agent.id):
            self._rescind(outstanding, recover=False)
        for task in list(agent.tasks.values()):
            if task.state.terminal:  # it only waited for an acknowledgement
                self.cluster.remove_task(task)
                continue
            framework = self.cluster.frameworks.get(task.framework_id)
            status = self._master_status(
                task.id, state_for(framework), reason, message, agent.id, task.executor_id
            )
            self._set_task_status(task, status)
            self.cluster.remove_task(task, unreachable=unreachable)
            if framework is not None:
                self._send_status(framework, status)
        for framework_id, executors in list(agent.executors.items()):
            for executor_id in list(executors):
                self.cluster.remove_executor(agent.id, framework_id, executor_id)
        self.cluster.remove_agent(agent)
        self._allocator_call(AllocatorProcess.remove_agent, agent.id)
        for framework in self.cluster.frameworks.values():
            if framework.connected and framework.pid is not None:
                self.send(framework.pid, LostAgent(agent_id=agent.id))

    def _reregistration_timed_out(self) -> None:
        """agent_reregister_timeout after recovery: agents of the registry that did not
        re-register are marked unreachable (they have no tasks here to report)."""
        missing = sorted(self.awaiting_reregistration)
        self.awaiting_reregistration.clear()
        for agent_id in missing:
            self.log.warning("agent_did_not_reregister", agent_id=agent_id)
            operation = MarkAgentUnreachable(agent_id=agent_id, time=clock.now())
            self._registry_apply(operation, _ignore)
        if missing:
            self.metrics["agents_marked_unreachable"] += len(missing)

    # -- coming back -----------------------------------------------------------------

    def _returning_tasks(
        self, agent_id: str, tasks: list[tuple[str, TaskInfo, TaskState]]
    ) -> tuple[list[tuple[str, TaskInfo, TaskState]], set[str]]:
        """Of the tasks a formerly unreachable agent reports (framework id, info, state),
        those the master takes back, and the frameworks to shut down there.

        A partition-aware framework's task comes back, and the framework is
        told its state; another framework's task (reported LOST already) is
        killed by shutting that framework down on the agent.
        """
        kept: list[tuple[str, TaskInfo, TaskState]] = []
        shutdown: set[str] = set()
        for framework_id, info, state in tasks:
            framework = self.cluster.frameworks.get(framework_id)
            unreachable = framework.unreachable_tasks.pop(info.task_id, None) if framework else None
            if framework is None or unreachable is None:
                kept.append((framework_id, info, state))
            elif framework.partition_aware:
                kept.append((framework_id, info, state))
                self._send_status(
                    framework,
                    self._master_status(
                        info.task_id,
                        state,
                        None,
                        f"Agent {agent_id} re-registered",
                        agent_id,
                        unreachable.executor_id,
                    ),
                )
            else:
                shutdown.add(framework_id)
        for framework in self.cluster.frameworks.values():
            for task in [t for t in framework.unreachable_tasks.values() if t.agent_id == agent_id]:
                # Unreachable there, and not reported by the agent: nothing runs it.
                del framework.unreachable_tasks[task.id]
        return kept, shutdown

    # -- gone ------------------------------------------------------------------------

    def mark_agent_gone(
        self, agent_id: str, principal: str | None = None
    ) -> asyncio.Future[str | None]:
        """Operator call MARK_AGENT_GONE. Resolves to None once durable, else to why not.

        Dispatch it (HTTP handlers do); idempotent for an agent already gone.
        `principal`: who asks (the ACLs' mark_agents_gone, on the agent id).
        """
        result: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        registry = self.registrar.registry
        if not self.leading or not self.recovered:
            result.set_result("this master is not the recovered leader")
        elif not self._authorized("mark_agents_gone", principal, agent_id):
            result.set_result(Forbidden(refusal_message("mark_agents_gone", agent_id)))
        elif agent_id in registry.gone:
            result.set_result(None)
        elif agent_id not in registry.agents and agent_id not in registry.unreachable:
            result.set_result(f"agent {agent_id!r} is not known")
        else:
            self._registry_apply(
                MarkAgentGone(agent_id=agent_id, time=clock.now()),
                lambda error: self._agent_marked_gone(agent_id, error, result),
            )
        return result

    def _agent_marked_gone(
        self, agent_id: str, error: BaseException | None, result: asyncio.Future[str | None]
    ) -> None:
        if error is not None:
            result.set_result(f"the registry refused it: {error}")
            return
        message = f"Agent {agent_id} was marked gone by an operator"
        agent = self.cluster.agents.get(agent_id)
        if agent is not None:
            pid = agent.pid
            self._take_agent_out(
                agent, _gone_state, Reason.AGENT_REMOVED_BY_OPERATOR, message, unreachable=False
            )
            self.send(pid, ShutdownAgent(message=message))
        for framework in self.cluster.frameworks.values():
            for task in [t for t in framework.unreachable_tasks.values() if t.agent_id == agent_id]:
                del framework.unreachable_tasks[task.id]
                status = self._master_status(
                    task.id,
                    _gone_state(framework),
                    Reason.AGENT_REMOVED_BY_OPERATOR,
                    message,
                    agent_id,
                    task.executor_id,
                )
                self._set_task_status(task, status)
                framework.completed_tasks.append(task)
                self._send_status(framework, status)
        self.metrics["agents_marked_gone"] += 1
        self.log.warning("agent_marked_gone", agent_id=agent_id)
        result.set_result(None)

    # -- forgetting ------------------------------------------------------------------

    def _prune_registry(self) -> None:
        """Every registry_gc_interval: forget unreachable and gone agents past their age."""
        self.delay(self.flags.registry_gc_interval, self._prune_registry)
        before = clock.now() - self.flags.registry_max_agent_age
        registry = self.registrar.registry
        if any(t < before for t in (*registry.unreachable.values(), *registry.gone.values())):
            self._registry_apply(PruneUnreachable(before=before), _ignore)

    def _shutdown_frameworks_on(self, agent: MasterAgent, framework_ids: set[str]) -> None:
        for framework_id in sorted(framework_ids):
            self.log.info(
                "killing_tasks_of_returning_agent", agent_id=agent.id, framework_id=framework_id
            )
            self.send(agent.pid, ShutdownFramework(framework_id=framework_id))


def _gone_state(framework: MasterFramework | None) -> TaskState:
    if framework is not None and framework.partition_aware:
        return TaskState.GONE_BY_OPERATOR
    return TaskState.LOST


def _ignore(error: BaseException | None) -> None:
    """Continuation of a registry operation whose outcome needs no action (it is logged)."""
