"""Recovery on start: the checkpointed agent comes back with its id, executors and updates.

`_recover` runs in `initialize`, before the agent talks to anyone:
1. Read the checkpoint (agent.checkpoints). None: a first start, register anew.
   A checkpoint whose agent info does not match the flags (resources,
   attributes, hostname) refuses the start with RecoveryError -- unless
   `--recover=cleanup`: then what the old agent ran is killed and the agent
   registers as a new one.
2. Keep the agent id; rebuild frameworks, executors, tasks (each task's state
   is its latest checkpointed update) and their status update streams.
3. Reattach to each executor's container if its leader still runs (and the
   machine did not reboot). One that died meanwhile is terminated at once: its
   live tasks become TASK_FAILED, reason EXECUTOR_TERMINATED (any executor, as
   Mesos), and the master hears ExitedExecutor once connected.
4. `--recover=reconnect`: send ReconnectExecutor to each live executor that had
   registered; it answers ReregisterExecutor (agent.executor_handlers). Those silent after
   `--executor-reregistration-timeout` are killed: their tasks become TASK_GONE for a
   partition-aware framework, TASK_LOST for others (Mesos), reason
   EXECUTOR_REREGISTRATION_TIMEOUT. `--recover=cleanup`: kill them all at
   once; their tasks become TASK_KILLED, reason AGENT_RESTARTED.
5. Then, and only then, re-register with the master (ReregisterAgent carries
   every task, with its latest state) and resend the unacknowledged updates.
"""

from __future__ import annotations

import functools
import signal
from pathlib import Path

import msgspec

from agent import paths
from agent.checkpoints import (
    AgentCheckpoint,
    ExecutorCheckpoint,
    FrameworkCheckpoint,
    current_boot_id,
    read_checkpoint,
)
from agent.containerizer import kill_session
from agent.errors import RecoveryError
from agent.executor_handlers import ExecutorHandlers
from agent.registration_handlers import RegistrationHandlers
from agent.state import AgentExecutor, AgentFramework, AgentTask, ExecutorState, Termination
from libprocess import PID
from zmesos.protocol import AgentInfo, Reason, ReconnectExecutor, TaskState
from zmesos.resources import Resources

__all__ = ["RecoveryHandlers"]


class RecoveryHandlers(RegistrationHandlers, ExecutorHandlers):
    """Recovery from the checkpoint (see the module docstring); it ends by registering
    and terminates executors as the executor handlers do, so it builds on both."""

    def _recover(self) -> None:
        """Recover what the checkpoint holds, then start (re-)registering; RecoveryError
        when the checkpoint cannot be this agent's."""
        try:
            checkpoint = read_checkpoint(self.flags.work_dir, self.log)
        except RecoveryError as error:
            if self.flags.recover != "cleanup":
                message = f"{error}; restart with --recover=cleanup to register anew"
                raise RecoveryError(message) from None
            self.log.warning("checkpoint_discarded", why=str(error))
            self.checkpointer.forget_agent()
            checkpoint = None
        if checkpoint is not None:
            given = (
                Resources.parse(self.flags.resources).names()
                if self.flags.resources
                else frozenset()
            )
            mismatch = _mismatch(checkpoint.info, self._info_to_checkpoint(), given)
            if mismatch and self.flags.recover != "cleanup":
                raise RecoveryError(
                    f"the checkpointed agent {checkpoint.info.id} does not match: {mismatch}; "
                    "restart with --recover=cleanup to kill what it ran and register anew"
                )
            if mismatch:
                self.log.warning("checkpoint_discarded", agent_id=checkpoint.info.id, why=mismatch)
                self._kill_leftovers(checkpoint)
                self.checkpointer.forget_agent()
                checkpoint = None
        self.checkpointer.boot_id()
        if checkpoint is None:
            self._destroy_orphans()
            self._start_registration()
            return
        self.agent_id = checkpoint.info.id
        self.info = msgspec.structs.replace(self.info, id=self.agent_id)
        self.checkpointer.agent(self._info_to_checkpoint())
        rebooted = bool(checkpoint.boot_id) and checkpoint.boot_id != current_boot_id()
        live: list[AgentExecutor] = []
        for framework_checkpoint in checkpoint.frameworks.values():
            live += self._recover_framework(framework_checkpoint, rebooted)
        self.log.info(
            "agent_recovered",
            agent_id=self.agent_id,
            frameworks=len(self.frameworks),
            executors_alive=len(live),
            dropped_files=checkpoint.dropped,
            rebooted=rebooted,
            mode=self.flags.recover,
        )
        self._destroy_orphans()
        for executor in live:
            self._reconnect_or_kill(executor)
        if self.flags.recover == "reconnect" and live:
            self.recovering = True
            self._recovery_timer = self.delay(
                self.flags.executor_reregistration_timeout, self._reregistration_timed_out
            )
            self._recovered_executor_back()  # none may be awaited (no pid to reconnect to)
            return
        self._start_registration()

    def _recover_framework(
        self, checkpoint: FrameworkCheckpoint, rebooted: bool
    ) -> list[AgentExecutor]:
        """Rebuild one framework; returns its executors whose process still runs."""
        framework = AgentFramework(info=checkpoint.info, pid=checkpoint.pid)
        self.frameworks[framework.id] = framework
        live: list[AgentExecutor] = []
        for executor_checkpoint in checkpoint.executors.values():
            executor = self._recover_executor(framework, executor_checkpoint, rebooted)
            if executor is not None and executor.container is not None:
                live.append(executor)
        for executor in list(framework.executors.values()):
            if executor.container is None:
                executor.termination = Termination(
                    reason=Reason.EXECUTOR_TERMINATED,
                    message="Executor terminated while the agent was down",
                )
                self._executor_terminated(executor, None)
        self._remove_framework_if_idle(framework)
        return live

    def _recover_executor(
        self, framework: AgentFramework, checkpoint: ExecutorCheckpoint, rebooted: bool
    ) -> AgentExecutor | None:
        run = checkpoint.run
        if run is None:
            self.checkpointer.remove_executor(
                self.agent_id, framework.id, checkpoint.info.executor_id
            )
            return None
        sandbox = paths.sandbox_dir(
            self.flags.work_dir,
            self.agent_id,
            framework.id,
            checkpoint.info.executor_id,
            run.container_id,
        )
        executor = AgentExecutor(
            info=checkpoint.info,
            framework_id=framework.id,
            container_id=run.container_id,
            sandbox=sandbox,
            command_executor=checkpoint.command_executor,
            recovered=True,
        )
        if run.libprocess_pid:
            try:
                executor.pid = PID.parse(run.libprocess_pid)
            except ValueError:
                self.log.warning(
                    "checkpoint_dropped", what="executor pid", value=run.libprocess_pid
                )
        framework.executors[executor.id] = executor
        for task_checkpoint in run.tasks.values():
            task_id = task_checkpoint.info.task_id
            log = self.checkpointer.update_log(
                self.agent_id,
                framework.id,
                executor.id,
                run.container_id,
                task_id,
                task_checkpoint.updates_data,
            )
            updates = [r.update for r in task_checkpoint.records if r.update is not None]
            state = updates[-1].status.state if updates else TaskState.STAGING
            pending = self.status_updates.recover(
                framework.id, task_id, task_checkpoint.records, log
            )
            if state.terminal and not pending:
                # Acknowledged, but the agent died before it forgot the task.
                self.checkpointer.remove_task(
                    self.agent_id, framework.id, executor.id, run.container_id, task_id
                )
                continue
            executor.tasks[task_id] = AgentTask(
                info=task_checkpoint.info, state=state, delivered=executor.pid is not None
            )
        if run.forked_pid is not None and not rebooted:
            executor.container = self.containerizer.recover(
                run.container_id, sandbox, run.forked_pid
            )
            if executor.container is None:
                # Its leader is dead; what it started (its tasks) may live on in its
                # session, whose id no other process can have while the pid is not a leader.
                kill_session(run.forked_pid, signal.SIGKILL)
        if executor.container is not None:
            executor.container.limits = self._limits_of(executor)
            self._watch_container(executor, executor.container)
            self.defer(
                self.containerizer.wait(executor.container),
                functools.partial(
                    self._executor_exited, framework.id, executor.id, run.container_id
                ),
            )
        self.log.info(
            "executor_recovered",
            executor_id=executor.id,
            framework_id=framework.id,
            tasks=len(executor.tasks),
            os_pid=run.forked_pid,
            alive=executor.container is not None,
        )
        return executor

    def _destroy_orphans(self) -> None:
        """Kill what runs in cgroups of this agent that no recovered container owns (a
        run that died with the agent, a framework that did not checkpoint)."""
        live = {
            executor.container_id
            for framework in self.frameworks.values()
            for executor in framework.executors.values()
            if executor.container is not None
        }
        orphans = self.containerizer.destroy_orphans(live)
        if orphans:
            self.log.info("orphan_containers_destroyed", count=len(orphans))

    def _reconnect_or_kill(self, executor: AgentExecutor) -> None:
        if self.flags.recover == "cleanup":
            executor.termination = Termination(
                reason=Reason.AGENT_RESTARTED,
                message="Killed as the agent restarted with --recover=cleanup",
                state=TaskState.KILLED,
            )
            self._destroy_executor(executor)
            return
        if executor.pid is not None:
            self.send(executor.pid, ReconnectExecutor(agent_id=self.agent_id))

    def _reregistration_timed_out(self) -> None:
        self._recovery_timer = None
        if not self.recovering:
            return
        timeout = self.flags.executor_reregistration_timeout
        for framework in self.frameworks.values():
            for executor in list(framework.executors.values()):
                if executor.recovered and executor.state is ExecutorState.REGISTERING:
                    self.log.warning(
                        "executor_reregistration_timeout", executor_id=executor.id, seconds=timeout
                    )
                    executor.termination = Termination(
                        reason=Reason.EXECUTOR_REREGISTRATION_TIMEOUT,
                        message=f"Executor did not re-register within {timeout}s",
                        state=TaskState.GONE if framework.info.partition_aware else TaskState.LOST,
                    )
                    self._destroy_executor(executor)
        self._end_recovery()

    def _end_recovery(self) -> None:
        """Every recovered executor is back (or given up on): now register with the master."""
        if not self.recovering:
            return
        self.recovering = False
        if self._recovery_timer is not None:
            self._recovery_timer.cancel()
            self._recovery_timer = None
        self.log.info("recovery_finished", agent_id=self.agent_id)
        self._start_registration()

    def _kill_leftovers(self, checkpoint: AgentCheckpoint) -> None:
        """Kill every executor of a discarded checkpoint that still runs."""
        for framework in checkpoint.frameworks.values():
            for executor in framework.executors.values():
                run = executor.run
                if run is None or run.forked_pid is None:
                    continue
                container = self.containerizer.recover(run.container_id, Path("/"), run.forked_pid)
                if container is not None:
                    self.log.info(
                        "killing_leftover_executor",
                        executor_id=executor.info.executor_id,
                        os_pid=run.forked_pid,
                    )
                    self.containerizer.destroy(container)


def _mismatch(checkpointed: AgentInfo, current: AgentInfo, given: frozenset[str]) -> str:
    """Why the checkpointed agent cannot be this one ('' when it can).

    Resources are compared for the names `--resources` gives; those the agent
    detects (free disk, say) may drift between runs without making it another agent.
    """
    differences: list[str] = []
    before = Resources.from_list(checkpointed.resources).filter(lambda r: r.name in given)
    now = Resources.from_list(current.resources).filter(lambda r: r.name in given)
    if before != now:
        differences.append(f"resources: {str(before)!r} then, {str(now)!r} now")
    for name in ("attributes", "hostname"):
        then_value, now_value = getattr(checkpointed, name), getattr(current, name)
        if then_value != now_value:
            differences.append(f"{name}: {then_value!r} then, {now_value!r} now")
    return "; ".join(differences)
