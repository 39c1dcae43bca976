"""One v1 HTTP scheduler's subscription, as an actor: the adapter in front of the master.

An `HttpScheduler` lives on the master's node for as long as its SUBSCRIBE
stream is open. To the master it is a scheduler like any actor scheduler
(authenticated as the principal the SUBSCRIBE request proved over HTTP, if any): it
registers (or re-registers, failing over, with a FrameworkID), the master
links to it, and the master's messages to it become the stream's events:

    FrameworkRegistered, FrameworkReregistered   SUBSCRIBED (then a HEARTBEAT)
    ResourceOffers                               OFFERS
    RescindResourceOffer                         RESCIND
    StatusUpdateMessage                          UPDATE
    ExecutorToFramework                          MESSAGE
    LostAgent, ExitedExecutor                    FAILURE
    FrameworkError                               ERROR, then the stream ends

The scheduler's other calls reach the master as this process's messages
(`forward`), so offers, DRF, filters and acknowledgements behave exactly as
for actor schedulers. When the stream ends the process terminates; the
master sees its link break and disconnects the framework, which then fails
over or times out like any scheduler whose node died. HEARTBEAT goes out
every `heartbeat_interval` seconds on the runtime clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from libprocess import PID, Message, Process, Timer
from zmesos.protocol import (
    ExecutorToFramework,
    ExitedExecutor,
    FrameworkError,
    FrameworkInfo,
    FrameworkRegistered,
    FrameworkReregistered,
    LostAgent,
    RegisterFramework,
    ReregisterFramework,
    RescindResourceOffer,
    ResourceOffers,
    StatusUpdateMessage,
    SuppressOffers,
)
from zmesos.v1.http import EventStream
from zmesos.v1.objects import (
    b64_text,
    ident,
    master_info_to_v1,
    offer_to_v1,
    task_status_to_v1,
)

__all__ = ["HEARTBEAT_INTERVAL", "HttpScheduler"]

HEARTBEAT_INTERVAL = 15.0  # Mesos's DEFAULT_HEARTBEAT_INTERVAL
_names = itertools.count(1)


class HttpScheduler(Process):
    """See the module docstring. `on_subscribed(self)` runs when the master answers."""

    def __init__(
        self,
        master: PID,
        stream: EventStream,
        framework: FrameworkInfo,
        *,
        stream_id: str,
        suppressed_roles: tuple[str, ...] = (),
        master_ip: str = "",
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        on_subscribed: Callable[[HttpScheduler], None] | None = None,
        principal: str | None = None,
    ) -> None:
        super().__init__(f"http-scheduler({next(_names)})")
        self.master = master
        self.stream = stream
        self.framework = framework
        self.stream_id = stream_id
        self.suppressed_roles = suppressed_roles
        self.master_ip = master_ip
        self.heartbeat_interval = heartbeat_interval
        self.on_subscribed = on_subscribed
        self.principal = principal
        self.framework_id = framework.id
        self.subscribed = False
        self._heartbeat: Timer | None = None

    def initialize(self) -> None:
        self.install(FrameworkRegistered, self._registered)
        self.install(FrameworkReregistered, self._registered)
        self.install(ResourceOffers, self._offers)
        self.install(RescindResourceOffer, self._rescind)
        self.install(StatusUpdateMessage, self._update)
        self.install(ExecutorToFramework, self._message)
        self.install(LostAgent, self._agent_lost)
        self.install(ExitedExecutor, self._executor_lost)
        self.install(FrameworkError, self._error)
        self.stream.on_close(self._stream_closed)
        self.link(self.master)
        if self.principal is not None:
            # The request proved its principal over HTTP: the master counts this actor as
            # authenticated; the dispatch reaches it before the registration below.
            vouched = self.node.dispatch(
                self.master, "authenticated_over_http", self.pid, self.principal
            )
            vouched.add_done_callback(lambda done: done.cancelled() or done.exception())
        if self.framework.id:
            self.send(self.master, ReregisterFramework(framework=self.framework, failover=True))
        else:
            self.send(self.master, RegisterFramework(framework=self.framework))

    def finalize(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self.stream.close("the subscription ended")

    def exited(self, pid: PID) -> None:
        if pid == self.master:
            self.stream.close("the master is gone")

    def forward(self, message: Message) -> None:
        """A call of the scheduler's, sent to the master as this process's message."""
        if not self.terminated:
            self.node.send(self.pid, self.master, message)

    def _stream_closed(self, stream: EventStream) -> None:
        self.log.info(
            "http_scheduler_stream_closed",
            framework_id=self.framework_id,
            reason=stream.close_reason,
        )
        if not self.terminated:
            self.node.terminate(self.pid)

    def _from_master(self, sender: PID, message: object) -> bool:
        if sender == self.master:
            return True
        self.log.warning(
            "dropping_message",
            message=type(message).__name__,
            sender=str(sender),
            reason="not from the master",
        )
        return False

    # -- master -> scheduler -----------------------------------------------------------

    def _registered(
        self, sender: PID, message: FrameworkRegistered | FrameworkReregistered
    ) -> None:
        if not self._from_master(sender, message) or self.subscribed:
            return
        self.subscribed = True
        self.framework_id = message.framework_id
        if self.suppressed_roles:
            self.send(
                self.master,
                SuppressOffers(framework_id=self.framework_id, roles=self.suppressed_roles),
            )
        self.stream.send(
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "framework_id": ident(message.framework_id),
                    "heartbeat_interval_seconds": self.heartbeat_interval,
                    "master_info": master_info_to_v1(message.master, self.master_ip),
                },
            }
        )
        if self.on_subscribed is not None:
            self.on_subscribed(self)
        self._send_heartbeat()

    def _send_heartbeat(self) -> None:
        self.stream.send({"type": "HEARTBEAT"})
        self._heartbeat = self.delay(self.heartbeat_interval, self._send_heartbeat)

    def _offers(self, sender: PID, message: ResourceOffers) -> None:
        if self._from_master(sender, message):
            self.stream.send(
                {"type": "OFFERS", "offers": {"offers": [offer_to_v1(o) for o in message.offers]}}
            )

    def _rescind(self, sender: PID, message: RescindResourceOffer) -> None:
        if self._from_master(sender, message):
            self.stream.send({"type": "RESCIND", "rescind": {"offer_id": ident(message.offer_id)}})

    def _update(self, sender: PID, message: StatusUpdateMessage) -> None:
        if self._from_master(sender, message):
            self.stream.send(
                {"type": "UPDATE", "update": {"status": task_status_to_v1(message.update.status)}}
            )

    def _message(self, sender: PID, message: ExecutorToFramework) -> None:
        if not self._from_master(sender, message):
            return
        self.stream.send(
            {
                "type": "MESSAGE",
                "message": {
                    "agent_id": ident(message.agent_id),
                    "executor_id": ident(message.executor_id),
                    "data": b64_text(message.data),
                },
            }
        )

    def _agent_lost(self, sender: PID, message: LostAgent) -> None:
        if self._from_master(sender, message):
            self.stream.send({"type": "FAILURE", "failure": {"agent_id": ident(message.agent_id)}})

    def _executor_lost(self, sender: PID, message: ExitedExecutor) -> None:
        if not self._from_master(sender, message):
            return
        self.stream.send(
            {
                "type": "FAILURE",
                "failure": {
                    "agent_id": ident(message.agent_id),
                    "executor_id": ident(message.executor_id),
                    "status": message.status,
                },
            }
        )

    def _error(self, sender: PID, message: FrameworkError) -> None:
        if not self._from_master(sender, message):
            return
        self.stream.send({"type": "ERROR", "error": {"message": message.message}})
        self.stream.close(f"error: {message.message}")
