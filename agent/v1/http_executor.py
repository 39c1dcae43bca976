"""One v1 HTTP executor's subscription, as an actor: the adapter in front of the agent.

An `HttpExecutor` lives on the agent's node while its SUBSCRIBE stream is
open. To the agent it is an executor like any actor executor: it registers
(or re-registers, with its unacknowledged tasks and updates, when the agent
expects that), the agent links to it, and the agent's messages become the
stream's events:

    ExecutorRegistered, ExecutorReregistered   SUBSCRIBED (then a HEARTBEAT)
    RunTask                                    LAUNCH
    RunTaskGroup                               LAUNCH_GROUP
    KillTask                                   KILL
    StatusUpdateAcknowledgement                ACKNOWLEDGED
    FrameworkToExecutor                        MESSAGE
    ShutdownExecutor                           SHUTDOWN

UPDATE and MESSAGE calls reach the agent as this process's messages
(`forward`), so updates go through the agent's status update manager and
are as reliable as any. When the stream ends the process terminates and the
agent sees its executor disconnect, as when an actor executor's node dies.
"""

from __future__ import annotations

import itertools

from libprocess import PID, Message, Process, Timer
from zmesos.protocol import (
    AgentInfo,
    ExecutorRegistered,
    ExecutorReregistered,
    FrameworkToExecutor,
    KillTask,
    ReconnectExecutor,
    RegisterExecutor,
    ReregisterExecutor,
    RunTask,
    RunTaskGroup,
    ShutdownExecutor,
    StatusUpdate,
    StatusUpdateAcknowledgement,
    TaskInfo,
)
from zmesos.v1.http import EventStream
from zmesos.v1.objects import (
    agent_info_to_v1,
    b64_text,
    executor_to_v1,
    framework_info_to_v1,
    ident,
    task_group_to_v1,
    task_info_to_v1,
)

__all__ = ["EXECUTOR_HEARTBEAT_INTERVAL", "HttpExecutor"]

EXECUTOR_HEARTBEAT_INTERVAL = 30.0
_names = itertools.count(1)


class HttpExecutor(Process):
    """See the module docstring. `reregister`: the agent expects this executor back."""

    def __init__(
        self,
        agent: PID,
        stream: EventStream,
        *,
        framework_id: str,
        executor_id: str,
        container_id: str,
        reregister: bool,
        tasks: tuple[TaskInfo, ...] = (),
        updates: tuple[StatusUpdate, ...] = (),
        heartbeat_interval: float = EXECUTOR_HEARTBEAT_INTERVAL,
    ) -> None:
        super().__init__(f"http-executor({next(_names)})")
        self.agent = agent
        self.stream = stream
        self.framework_id = framework_id
        self.executor_id = executor_id
        self.container_id = container_id
        self.reregister = reregister
        self.tasks = tasks
        self.updates = updates
        self.heartbeat_interval = heartbeat_interval
        self.subscribed = False
        self._heartbeat: Timer | None = None

    def initialize(self) -> None:
        self.install(ExecutorRegistered, self._registered)
        self.install(ExecutorReregistered, self._reregistered)
        self.install(RunTask, self._launch)
        self.install(RunTaskGroup, self._launch_group)
        self.install(KillTask, self._kill)
        self.install(StatusUpdateAcknowledgement, self._acknowledged)
        self.install(FrameworkToExecutor, self._message)
        self.install(ShutdownExecutor, self._shutdown)
        self.install(ReconnectExecutor, self._reconnect)
        self.stream.on_close(self._stream_closed)
        self.link(self.agent)
        if self.reregister:
            message: Message = ReregisterExecutor(
                framework_id=self.framework_id,
                executor_id=self.executor_id,
                tasks=self.tasks,
                updates=self.updates,
            )
        else:
            message = RegisterExecutor(framework_id=self.framework_id, executor_id=self.executor_id)
        self.send(self.agent, message)

    def finalize(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self.stream.close("the subscription ended")

    def exited(self, pid: PID) -> None:
        if pid == self.agent:
            self.stream.close("the agent is gone")

    def forward(self, message: Message) -> None:
        """A call of the executor's, sent to the agent as this process's message."""
        if not self.terminated:
            self.node.send(self.pid, self.agent, message)

    def _stream_closed(self, stream: EventStream) -> None:
        self.log.info(
            "http_executor_stream_closed", executor_id=self.executor_id, reason=stream.close_reason
        )
        if not self.terminated:
            self.node.terminate(self.pid)

    def _from_agent(self, sender: PID, message: object) -> bool:
        if sender == self.agent:
            return True
        self.log.warning(
            "dropping_message",
            message=type(message).__name__,
            sender=str(sender),
            reason="not from the agent",
        )
        return False

    # -- agent -> executor ----------------------------------------------------------------

    def _registered(self, sender: PID, message: ExecutorRegistered) -> None:
        if not self._from_agent(sender, message) or self.subscribed:
            return
        self._subscribed(
            {
                "executor_info": executor_to_v1(message.executor),
                "framework_info": framework_info_to_v1(message.framework),
                **self._agent_fields(message.agent),
            }
        )

    def _reregistered(self, sender: PID, message: ExecutorReregistered) -> None:
        if not self._from_agent(sender, message) or self.subscribed:
            return
        self._subscribed(self._agent_fields(message.agent))

    def _agent_fields(self, agent: AgentInfo) -> dict[str, object]:
        return {
            "agent_id": ident(agent.id),
            "agent_info": agent_info_to_v1(agent),
            "container_id": ident(self.container_id),
        }

    def _subscribed(self, fields: dict[str, object]) -> None:
        self.subscribed = True
        self.stream.send({"type": "SUBSCRIBED", "subscribed": fields})
        self._send_heartbeat()

    def _send_heartbeat(self) -> None:
        self.stream.send({"type": "HEARTBEAT"})
        self._heartbeat = self.delay(self.heartbeat_interval, self._send_heartbeat)

    def _launch(self, sender: PID, message: RunTask) -> None:
        if self._from_agent(sender, message):
            self.stream.send({"type": "LAUNCH", "launch": {"task": task_info_to_v1(message.task)}})

    def _launch_group(self, sender: PID, message: RunTaskGroup) -> None:
        if self._from_agent(sender, message):
            self.stream.send(
                {
                    "type": "LAUNCH_GROUP",
                    "launch_group": {"task_group": task_group_to_v1(message.task_group)},
                }
            )

    def _kill(self, sender: PID, message: KillTask) -> None:
        if not self._from_agent(sender, message):
            return
        kill: dict[str, object] = {"task_id": ident(message.task_id)}
        if message.grace_period_seconds is not None:
            nanoseconds = int(message.grace_period_seconds * 1e9)
            kill["kill_policy"] = {"grace_period": {"nanoseconds": nanoseconds}}
        self.stream.send({"type": "KILL", "kill": kill})

    def _acknowledged(self, sender: PID, message: StatusUpdateAcknowledgement) -> None:
        if self._from_agent(sender, message):
            self.stream.send(
                {
                    "type": "ACKNOWLEDGED",
                    "acknowledged": {
                        "task_id": ident(message.task_id),
                        "uuid": b64_text(message.uuid),
                    },
                }
            )

    def _message(self, sender: PID, message: FrameworkToExecutor) -> None:
        if self._from_agent(sender, message):
            self.stream.send({"type": "MESSAGE", "message": {"data": b64_text(message.data)}})

    def _shutdown(self, sender: PID, message: ShutdownExecutor) -> None:
        if not self._from_agent(sender, message):
            return
        if not self.subscribed:  # refused: say why, and end the subscription
            self.stream.send({"type": "ERROR", "error": {"message": message.message}})
            self.stream.close(f"refused: {message.message}")
            return
        self.stream.send({"type": "SHUTDOWN"})

    def _reconnect(self, sender: PID, message: ReconnectExecutor) -> None:
        # An HTTP executor reconnects by subscribing again; this subscription is stale.
        if self._from_agent(sender, message):
            self.stream.close("the agent restarted; subscribe again")
