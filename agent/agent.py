"""The Agent actor: registers with the master, runs executors, relays tasks and updates.

Every message it takes is installed in `initialize`, one line each, grouped by
the module that holds its handler: agent.registration_handlers (the master
connection), agent.task_handlers (tasks, updates, framework messages),
agent.executor_handlers (executor registration), agent.volume_handlers
(checkpointed resources, persistent volumes), agent.recovery_handlers (coming
back from the checkpoint on start) and this module (shutdown). Shared state and
helpers are in agent.base; the executor's life (launch, exit, timeouts,
shutdown), which the task and executor groups both drive, is their common base
agent.executor_lifecycle. Updates reach the master through the status update
manager (agent.status_updates), one at a time per task, until acknowledged; what
frameworks that checkpoint need after a restart is written under
`<work_dir>/meta/` first (agent.checkpoints).

Choices where Mesos leaves room, stated once:
- ExitedExecutor goes to the master for command executors too (Mesos skips it):
  the scheduler hears `executor_lost` for every executor. Its `status` is the
  exit code (>= 0) or minus the signal that ended it; 127 if it never started.
- An executor whose runtime disconnects is given the shutdown grace period to
  exit by itself before its container is killed.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import msgspec

from agent.flags import detect_resources
from agent.recovery_handlers import RecoveryHandlers
from agent.state import ExecutorState
from agent.status_updates import StatusUpdateManager
from agent.task_handlers import AgentTaskHandlers
from agent.volume_handlers import VolumeHandlers
from libprocess import PID
from zmesos.authorization import Authorizer
from zmesos.protocol import (
    AgentInfo,
    AgentRegistered,
    AgentRegistrationRefused,
    AgentReregistered,
    CheckpointResources,
    ExecutorToFramework,
    FrameworkToExecutor,
    KillTask,
    NotLeader,
    Ping,
    ReconcileTasks,
    ReconnectExecutor,
    RegisterExecutor,
    ReregisterExecutor,
    RunTask,
    RunTaskGroup,
    ShutdownAgent,
    ShutdownFramework,
    ShutdownFrameworkExecutor,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    UpdateFramework,
)

__all__ = ["Agent"]


class Agent(RecoveryHandlers, AgentTaskHandlers, VolumeHandlers):
    """One agent. `name` defaults to "agent"; give each its own when several share a node.

    Construct with `Agent(flags, name, containerizer=..., rng=...)`: `containerizer`
    and `rng` (the registration jitter) are seams for tests. `state()` (via
    dispatch) returns a plain snapshot for tests and endpoints.
    """

    def initialize(self) -> None:
        Path(self.flags.work_dir).mkdir(parents=True, exist_ok=True)
        resources = self._recover_checkpointed_resources(detect_resources(self.flags))
        self.info = AgentInfo(
            hostname=self.flags.hostname or socket.gethostname(),
            resources=tuple(resources.to_list()),
            attributes=self.flags.attribute_map,
            port=self.flags.port,  # its HTTP address, where users reach it
        )
        self.status_updates = StatusUpdateManager(self._forward_update, self.delay)
        self.status_updates.pause()  # until registered

        # agent/registration_handlers.py
        self.install(AgentRegistered, self.registered)
        self.install(AgentReregistered, self.reregistered)
        self.install(Ping, self.ping)
        self.install(NotLeader, self.not_leader)
        self.install(AgentRegistrationRefused, self.registration_refused)
        # agent/task_handlers.py
        self.install(RunTask, self.run_task)
        self.install(RunTaskGroup, self.run_task_group)
        self.install(KillTask, self.kill_task)
        self.install(ShutdownFramework, self.shutdown_framework)
        self.install(UpdateFramework, self.update_framework)
        self.install(ReconcileTasks, self.reconcile_tasks)
        self.install(StatusUpdateMessage, self.status_update)
        self.install(StatusUpdateAcknowledgement, self.status_update_acknowledgement)
        self.install(FrameworkToExecutor, self.framework_to_executor)
        self.install(ExecutorToFramework, self.executor_to_framework)
        # agent/executor_handlers.py
        self.install(RegisterExecutor, self.register_executor)
        self.install(ReregisterExecutor, self.reregister_executor)
        self.install(ShutdownFrameworkExecutor, self.shutdown_framework_executor)
        # agent/volume_handlers.py
        self.install(CheckpointResources, self.checkpoint_resources)
        # agent/agent.py
        self.install(ShutdownAgent, self.shutdown_agent)

        self.log.info(
            "agent_started",
            master=str(self.detector),
            resources=str(resources),
            work_dir=self.flags.work_dir,
            isolation=self.containerizer.isolation.describe(),
        )
        self.fetcher.reset_cache()  # Mesos's fetcher cache does not outlive the agent either
        self._start_gc()
        self._recover()
        self._collect_leftovers()
        self._start_disk_watch()

    def shutdown_agent(self, sender: PID, message: ShutdownAgent) -> None:
        self.metrics["messages_shutdown_agent"] += 1
        if not self._from_master(sender, message):
            return
        # The master removed this agent: the next start must register as a new one.
        self.checkpointer.forget_agent()
        self.shutdown(message.message or "the master asked")

    def shutdown(self, reason: str = "asked to shut down") -> None:
        """Shut every framework's executors down, then terminate (dispatch it to stop gently).

        Executors get ShutdownExecutor and are killed after the shutdown grace
        period; the agent terminates once they have all exited, or one second
        after that grace at the latest (finalize kills what is left).
        """
        if self.shutting_down:
            return
        self.shutting_down = True
        self.log.warning("agent_shutting_down", reason=reason)
        self._stop_registration()
        for framework in list(self.frameworks.values()):
            self._shutdown_framework(framework)
        if not self.frameworks:
            self.terminate()
            return
        self.delay(self.flags.executor_shutdown_grace_period + 1.0, self.terminate)

    def finalize(self) -> None:
        """Executors of frameworks that do not checkpoint die with the agent (Mesos too)."""
        self.detector.close()
        for framework in self.frameworks.values():
            if framework.info.checkpoint:
                continue
            for executor in framework.executors.values():
                if executor.container is not None:
                    self.containerizer.destroy(executor.container)
        self.containerizer.close()
        self.status_updates.close_all()

    def exited(self, pid: PID) -> None:
        if pid == self.master:
            if self.connected:
                self.log.warning("master_exited", master=str(pid))
                self._master_lost()
            return
        executor = self._executor_by_pid(pid)
        if executor is not None and executor.state in (
            ExecutorState.RUNNING,
            ExecutorState.REGISTERING,
        ):
            # Its runtime is gone; the process should follow. Give it the shutdown grace
            # to exit by itself before killing what is left of the container.
            self.log.info("executor_disconnected", executor_id=executor.id, executor_pid=str(pid))
            self._arm_shutdown_timer(executor)
            framework = self.frameworks.get(executor.framework_id)
            if executor.state is ExecutorState.RUNNING and framework and framework.info.checkpoint:
                # A connection can break under load while both ends live: ask it back (a
                # re-registration cancels the timer). A dead one is reaped as usual.
                self.send(pid, ReconnectExecutor(agent_id=self.agent_id))

    def http_executor_expected(self, framework_id: str, executor_id: str) -> dict[str, Any] | None:
        """For a v1 executor's SUBSCRIBE (agent.v1): None when this agent does not run that
        executor; else its container id and whether it re-registers (it runs already, or
        was recovered after a restart) rather than registers."""
        framework = self.frameworks.get(framework_id)
        executor = framework.executors.get(executor_id) if framework else None
        if executor is None or executor.state in (
            ExecutorState.TERMINATING,
            ExecutorState.TERMINATED,
        ):
            return None
        return {
            "container_id": executor.container_id,
            "reregister": executor.state is ExecutorState.RUNNING or executor.recovered,
        }

    def may_access_sandbox(self, principal: str | None, path: Path) -> bool:
        """Whether the ACLs (access_sandboxes) let `principal` read `path`, a real path
        under the work directory (agent.files resolved it). The object is the user the
        sandbox's executor runs as (its command's, else its framework's); unknown (a
        volume, a sandbox this agent no longer tracks) is asked as any. A denial is
        logged and counted (`authorization_denials/access_sandboxes`)."""
        if self.flags.acl_rules is None:
            return True
        return self._authorized(
            "access_sandboxes", principal, self._sandbox_user(path), path=str(path)
        )

    def may_view_flags(self, principal: str | None) -> bool:
        """view_flags: whether `principal` may see the flags (a denial is logged, counted)."""
        return self._authorized("view_flags", principal, None)

    def may_get_endpoint(self, principal: str | None, path: str) -> bool:
        """get_endpoints: whether `principal` may GET `path` (a denial is logged, counted)."""
        return self._authorized("get_endpoints", principal, path)

    def _authorized(
        self, action: str, principal: str | None, obj: str | None, **context: object
    ) -> bool:
        """Whether the ACLs (none: anyone) let `principal` do `action` on `obj`; a denial is
        logged (`authorization_denied`) and counted (`authorization_denials[/<action>]`)."""
        if self.flags.acl_rules is None:
            return True
        if Authorizer(self.flags.acl_rules).allowed(action, principal, obj):
            return True
        self.metrics["authorization_denials"] += 1
        self.metrics[f"authorization_denials/{action}"] += 1
        self.log.warning(
            "authorization_denied", action=action, principal=principal, object=obj, **context
        )
        return False

    def _sandbox_user(self, path: Path) -> str | None:
        """The user of the executor whose sandbox holds `path`, if this agent knows it."""
        try:
            parts = path.relative_to(Path(self.flags.work_dir).resolve()).parts
        except ValueError:
            return None
        # agents/<agent id>/frameworks/<framework id>/executors/<executor id>/...
        if (
            len(parts) < 6
            or parts[0] != "agents"
            or (parts[2], parts[4])
            != (
                "frameworks",
                "executors",
            )
        ):
            return None
        framework = self.frameworks.get(parts[3]) or next(
            (done for done in self.completed_frameworks if done.id == parts[3]), None
        )
        if framework is None:
            return None
        executor = framework.executors.get(parts[5]) or next(
            (done for done in framework.completed_executors if done.id == parts[5]), None
        )
        if executor is not None and executor.info.command.user:
            return executor.info.command.user
        return framework.info.user

    def containers(self) -> list[dict[str, Any]]:
        """GET_CONTAINERS (agent.v1): one entry per executor's container, Mesos's shape."""
        return [
            {
                "framework_id": {"value": framework.id},
                "executor_id": {"value": executor.id},
                "executor_name": executor.info.name,
                "container_id": {"value": executor.container_id},
                **(
                    {"container_status": {"executor_pid": executor.container.pid}}
                    if executor.container is not None
                    else {}
                ),
            }
            for framework in self.frameworks.values()
            for executor in framework.executors.values()
            if executor.state is not ExecutorState.TERMINATED
        ]

    def state(self) -> dict[str, Any]:
        """A plain snapshot: the agent's id and connection, frameworks, executors, tasks."""
        return {
            "id": self.agent_id,
            "pid": str(self.pid),
            "connected": self.connected,
            "hostname": self.info.hostname,
            "resources": [msgspec.to_builtins(r) for r in self.info.resources],
            "attributes": dict(self.info.attributes),
            "frameworks": {
                framework_id: {
                    "state": framework.state.value,
                    "pid": framework.pid,
                    "executors": {
                        executor.id: {
                            "state": executor.state.value,
                            "container_id": executor.container_id,
                            "sandbox": str(executor.sandbox),
                            "os_pid": executor.container.pid if executor.container else None,
                            "pid": str(executor.pid) if executor.pid else None,
                            "tasks": {
                                task.id: task.state.value for task in executor.tasks.values()
                            },
                        }
                        for executor in framework.executors.values()
                    },
                }
                for framework_id, framework in self.frameworks.items()
            },
            "status_update_streams": len(self.status_updates),
            "checkpointed_resources": str(self.checkpointed),
        }
