"""Registration with the master: retries with backoff, re-registration, pings.

RegisterAgent (ReregisterAgent once the agent has an id) is sent at once and then
retried after a random delay in [0, b], b starting at
`registration_backoff_factor` and doubling up to a minute, until the master
answers. The agent links to the master; when the master exits, or stops pinging
for five ping intervals, or pings saying it does not know the agent, the agent
re-registers the same way. While disconnected, status updates wait.

Each attempt first finds the master's actor (zmesos.detector): at once when
--master names it, else by asking the master's HTTP address; a failed lookup
is logged and the next attempt tries again.

With --master zk://, the agent follows the election as Mesos's agents do: a
ZooKeeper watch tells it of each new leader (once the dead leader's session
has expired), and it then registers with that one after a random delay within
`registration_backoff_factor`, retrying within 2, 4, ... times that (Mesos's
schedule: 10,000 agents do not reach a new leader in one burst). Its attempts
go to the leader the watch named, with no lookup of their own. Without a
leader it waits for one.

With --credential the agent authenticates (zmesos.authentication) with each
master before it registers there, and again after every disconnection (the
master forgets an authentication when the link breaks). A refused
authentication or registration (AgentRegistrationRefused) is logged as an
error and counted; the agent keeps trying on its backoff, authenticating anew.
"""

from __future__ import annotations

import asyncio

import msgspec

from agent.base import AgentBase
from agent.state import ExecutorState, FrameworkState
from libprocess import PID
from zmesos.authentication import authenticate
from zmesos.errors import AuthenticationRefused
from zmesos.protocol import (
    AgentRegistered,
    AgentRegistrationRefused,
    AgentReregistered,
    ExecutorInfo,
    NotLeader,
    Ping,
    Pong,
    RegisterAgent,
    ReportedTask,
    ReregisterAgent,
)

__all__ = ["RegistrationHandlers"]

MAX_MISSED_PINGS = 5  # Mesos's default --max_agent_ping_timeouts
LEADER_WATCH_RETRY = 1.0  # seconds before watching again when ZooKeeper cannot be reached


class RegistrationHandlers(AgentBase):
    """Registration, re-registration and pings (see the module docstring)."""

    def _start_registration(self) -> None:
        self._stop_registration()
        self._registration_backoff.reset()
        if self.detector.watches and self._leader_watch is None:
            self._follow_leader()
        self._attempt_registration()

    def _follow_leader(self) -> None:
        """Wait (off the mailbox) for ZooKeeper to name another leader than the last one."""
        self._leader_watch = self.defer(
            self.detector.changed(self._leader_watched), self._leader_changed
        )

    def _leader_changed(self, done: asyncio.Future[PID | None]) -> None:
        if done.cancelled() or self.shutting_down:
            return
        error = done.exception()
        if error is not None:
            self.metrics["master_detection_failures"] += 1
            self.log.warning("leader_watch_failed", master=str(self.detector), error=str(error))
            self.delay(LEADER_WATCH_RETRY, self._follow_leader)
            return
        leader = self._leader_watched = done.result()
        self._leader_watch_answered = True
        self._follow_leader()
        if leader is None:
            self.log.warning("no_leading_master", master=str(self.detector), action="waiting")
            return
        if leader == self.master:
            return  # the master this agent is registered with, or registering with
        self.log.info("leader_elected", master=str(leader), address=str(self.detector))
        self.metrics["leader_changes"] += 1
        self._stop_registration()
        self._registration_backoff.reset()
        # Mesos: a random delay within the backoff factor before the first attempt.
        self._registration_timer = self.delay(
            self._registration_backoff.next(), self._attempt_registration
        )

    def _stop_registration(self) -> None:
        """Disconnected: no pings expected, no retries pending, updates held."""
        self.connected = False
        self._authenticated_with = None
        self.status_updates.pause()
        self._cancel_ping_timer()
        if self._registration_timer is not None:
            self._registration_timer.cancel()
            self._registration_timer = None

    def _attempt_registration(self) -> None:
        self._registration_timer = None
        if self.connected or self.shutting_down:
            return
        fixed = self.detector.fixed
        if fixed is not None:
            self._send_registration(fixed)
        elif self._leader_watch_answered:
            if self._leader_watched is not None:  # else: wait for ZooKeeper to name one
                self._send_registration(self._leader_watched)
        else:
            self.defer(self.detector.detect(), self._master_detected)
        delay = self._registration_backoff.next()
        self._registration_timer = self.delay(delay, self._attempt_registration)

    def _master_detected(self, done: asyncio.Future[PID]) -> None:
        if done.cancelled() or self.connected or self.shutting_down:
            return
        error = done.exception()
        if error is not None:
            self.metrics["master_detection_failures"] += 1
            self.log.warning("master_not_found", master=str(self.detector), error=str(error))
            return  # the registration timer tries again
        self._send_registration(done.result())

    def _send_registration(self, master: PID) -> None:
        if master != self.master:
            self.log.info("master_detected", master=str(master), address=str(self.detector))
            self.master = master
        if self.flags.credential_value is not None and self._authenticated_with != master:
            self._authenticate(master)
            return
        if self.agent_id:
            self.send(master, self._reregistration_message())
            self.metrics["reregistration_attempts"] += 1
        else:
            self.send(master, RegisterAgent(agent=self.info))
            self.metrics["registration_attempts"] += 1

    def _authenticate(self, master: PID) -> None:
        """Prove our principal to `master`; registration follows once it is done."""
        credential = self.flags.credential_value
        if self._authenticating is not None or credential is None:
            return
        self.metrics["authentication_attempts"] += 1
        timeout = self.flags.authentication_timeout
        self._authenticating = self.defer(
            authenticate(self.node, master, self.pid, credential, timeout),
            lambda done: self._authentication_done(master, done),
        )

    def _authentication_done(self, master: PID, done: asyncio.Future[str]) -> None:
        self._authenticating = None
        if done.cancelled() or self.connected or self.shutting_down:
            return
        error = done.exception()
        if error is not None:
            self.metrics["authentication_failures"] += 1
            refused = isinstance(error, AuthenticationRefused)
            (self.log.error if refused else self.log.warning)(
                "authentication_failed", master=str(master), error=str(error), action="retrying"
            )
            return  # the registration timer tries again
        self._authenticated_with = master
        self.log.info("authenticated", master=str(master), principal=done.result())
        if master == self.master:
            self._send_registration(master)

    def registration_refused(self, sender: PID, message: AgentRegistrationRefused) -> None:
        """The master refused us for who we are: say so loudly; the next attempt authenticates."""
        self.metrics["registrations_refused"] += 1
        if not self._from_master(sender, message):
            return
        self._authenticated_with = None
        self.log.error("registration_refused", master=str(sender), reason=message.message)

    def not_leader(self, sender: PID, message: NotLeader) -> None:
        """A master that does not lead refused us; the next attempt looks for the leader."""
        self.metrics["messages/NotLeader"] += 1
        self.log.info("master_not_leading", master=str(sender), leader=message.leader or None)

    def _reregistration_message(self) -> ReregisterAgent:
        tasks: list[ReportedTask] = []
        executors: list[ExecutorInfo] = []
        frameworks = []
        framework_pids: dict[str, str] = {}
        for framework in self.frameworks.values():
            if framework.state is FrameworkState.TERMINATING:
                continue
            frameworks.append(framework.info)
            framework_pids[framework.id] = framework.pid
            for executor in framework.executors.values():
                # Command executors are the agent's own making; the master does not keep them.
                if not executor.command_executor and executor.state is not ExecutorState.TERMINATED:
                    executors.append(executor.info)
                for task in executor.tasks.values():
                    tasks.append(
                        ReportedTask(framework_id=framework.id, task=task.info, state=task.state)
                    )
        return ReregisterAgent(
            agent=self.info,
            tasks=tuple(tasks),
            frameworks=tuple(frameworks),
            framework_pids=framework_pids,
            executors=tuple(executors),
            checkpointed_resources=tuple(self.checkpointed.to_list()),
        )

    def registered(self, sender: PID, message: AgentRegistered) -> None:
        self.metrics["messages_agent_registered"] += 1
        if not self._from_master(sender, message):
            return
        if self.connected and message.agent_id == self.agent_id:
            self.log.info(
                "dropping_message", message="AgentRegistered", reason="already registered"
            )
            return
        if self.agent_id and message.agent_id != self.agent_id:
            # The master does not know us any more: what we run is not accounted anywhere.
            self.log.error(
                "agent_id_changed",
                old_agent_id=self.agent_id,
                new_agent_id=message.agent_id,
                action="killing every executor and starting afresh",
            )
            self._forget_everything()
        self._connected(message.agent_id, message.ping_interval, "agent_registered")

    def reregistered(self, sender: PID, message: AgentReregistered) -> None:
        self.metrics["messages_agent_reregistered"] += 1
        if not self._from_master(sender, message):
            return
        if message.agent_id != self.agent_id:
            self.log.warning(
                "dropping_message",
                message="AgentReregistered",
                reason="it names another agent id",
                agent_id=message.agent_id,
            )
            return
        if self.connected:
            self.log.info("dropping_message", message="AgentReregistered", reason="already so")
            return
        self._connected(message.agent_id, message.ping_interval, "agent_reregistered")

    def _connected(self, agent_id: str, ping_interval: float, event: str) -> None:
        if agent_id != self.info.id:
            self.agent_id = agent_id
            self.info = msgspec.structs.replace(self.info, id=agent_id)
            self.checkpointer.agent(self._info_to_checkpoint())
        self.connected = True
        if self._registration_timer is not None:
            self._registration_timer.cancel()
            self._registration_timer = None
        assert self.master is not None  # _from_master let the answer through
        self.link(self.master)
        self._ping_timeout = ping_interval * MAX_MISSED_PINGS
        self._arm_ping_timer()
        self.log.info(event, agent_id=agent_id, master=str(self.master))
        notices, self._unsent_notices = self._unsent_notices, []
        for notice in notices:
            self._send_master(notice)
        self.status_updates.resume()

    def _master_lost(self) -> None:
        self.metrics["master_disconnections"] += 1
        if self.shutting_down:
            self.connected = False
            return
        self._start_registration()

    def ping(self, sender: PID, message: Ping) -> None:
        self.metrics["messages_ping"] += 1
        self.send(sender, Pong())
        if sender != self.master or not self.connected:
            return
        if not message.connected:
            self.log.warning("master_thinks_agent_disconnected", action="re-registering")
            self._master_lost()
            return
        self._arm_ping_timer()

    def _arm_ping_timer(self) -> None:
        self._cancel_ping_timer()
        if self._ping_timeout > 0:
            self._ping_timer = self.delay(self._ping_timeout, self._ping_timed_out)

    def _cancel_ping_timer(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None

    def _ping_timed_out(self) -> None:
        self._ping_timer = None
        if self.connected:
            self.log.warning("master_ping_timeout", seconds=self._ping_timeout)
            self._master_lost()
