"""The scheduler API: subclass `Scheduler`, hand it to a `SchedulerDriver`, spawn the driver.

    class Hello(Scheduler):
        def resource_offers(self, driver, offers):
            for offer in offers:
                driver.launch_tasks([offer.id], [TaskInfo(...)])

    driver = SchedulerDriver(Hello(), FrameworkInfo(user="me", name="hello"), "127.0.0.1:5050")
    node.spawn(driver)
    status = await driver.join()

The driver is a process (named `scheduler(N)`) speaking Mesos's v0 scheduler
protocol to the master, which it finds from the address it is given
(zmesos.detector: the master's HTTP `host:port`, or its actor's PID) before
each registration attempt. It registers, retrying with backoff on the runtime
clock until the master answers; it links to the master and, when that link
breaks, calls `disconnected` and registers again (re-registering with its
FrameworkID, so the master keeps its tasks within the failover timeout).

Callbacks run inside the driver's process, one at a time, in the order the
master's messages arrived. The driver's methods (`launch_tasks`, `decline`,
...) may be called from callbacks or from any code on the driver's event
loop. With implicit acknowledgements (the default) the driver acknowledges
each status update that carries a uuid after `status_update` returns; if the
callback raises, the update is not acknowledged, so the agent sends it again.
It also remembers the uuids it acknowledged (the last `ACKNOWLEDGED_MEMORY`): an
update the agent sends again because the acknowledgement was lost (say, the
agent restarted just then) is acknowledged again without reaching the
scheduler a second time. With explicit acknowledgements every copy is passed on,
as in Mesos: the scheduler acknowledges each.

With a `credential` (zmesos.authentication.Credential, e.g. from
`load_credential(path)`, Mesos's JSON `{"principal": .., "secret": ..}`) the
driver authenticates with each master before it registers there, and again
after every disconnection. A master that refuses the credential ends the
driver as Mesos's does: `error` is called and the driver aborts. A
FrameworkInfo without a principal takes the credential's.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
from collections.abc import Iterable, Sequence

import msgspec

from libprocess import PID, Message, Node, Process, Timer
from zmesos.authentication import DEFAULT_AUTHENTICATION_TIMEOUT, Credential, authenticate
from zmesos.backoff import Backoff
from zmesos.detector import master_detector
from zmesos.errors import AuthenticationRefused
from zmesos.protocol import (
    AcceptOffers,
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
    NotLeader,
    Offer,
    Operation,
    OperationType,
    Reason,
    ReconcileTasks,
    RegisterFramework,
    ReregisterFramework,
    RescindResourceOffer,
    ResourceOffers,
    ReviveOffers,
    Source,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    SuppressOffers,
    TaskGroupInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
    UnregisterFramework,
)

__all__ = ["DriverStatus", "Scheduler", "SchedulerDriver"]

ACKNOWLEDGED_MEMORY = 100_000  # uuids; ~5 MB at most
_names = itertools.count(1)


class DriverStatus(enum.StrEnum):
    NOT_STARTED = "DRIVER_NOT_STARTED"
    RUNNING = "DRIVER_RUNNING"
    STOPPED = "DRIVER_STOPPED"
    ABORTED = "DRIVER_ABORTED"


class Scheduler:
    """Mesos's scheduler callbacks; each is a no-op until overridden."""

    def registered(self, driver: SchedulerDriver, framework_id: str, master: MasterInfo) -> None:
        """The master registered the framework (or accepted a failed-over scheduler)."""

    def reregistered(self, driver: SchedulerDriver, master: MasterInfo) -> None:
        """The driver re-registered after a disconnection; tasks were kept."""

    def disconnected(self, driver: SchedulerDriver) -> None:
        """The link to the master broke; the driver is re-registering."""

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        """New offers. Accept, launch on, or decline each; unanswered ones stay held."""

    def offer_rescinded(self, driver: SchedulerDriver, offer_id: str) -> None:
        """An offer is no longer valid (timed out, agent lost, ...)."""

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        """A task changed state."""

    def framework_message(
        self, driver: SchedulerDriver, executor_id: str, agent_id: str, data: bytes
    ) -> None:
        """An executor sent the framework a message."""

    def agent_lost(self, driver: SchedulerDriver, agent_id: str) -> None:
        """An agent was removed; its tasks were reported lost."""

    def executor_lost(
        self, driver: SchedulerDriver, executor_id: str, agent_id: str, status: int
    ) -> None:
        """An executor ended with `status`."""

    def error(self, driver: SchedulerDriver, message: str) -> None:
        """The master refused the framework; the driver aborts after this returns."""


class SchedulerDriver(Process):
    """Connects a `Scheduler` to a master. See the module docstring for the contract.

    `registration_backoff`: first retry delay and its cap, in seconds; each
    retry waits a random 50-100% of the current delay, which doubles.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        framework: FrameworkInfo,
        master: str | PID,
        *,
        implicit_acknowledgements: bool = True,
        registration_backoff: tuple[float, float] = (2.0, 60.0),
        credential: Credential | None = None,
        authentication_timeout: float = DEFAULT_AUTHENTICATION_TIMEOUT,
        name: str | None = None,
    ) -> None:
        super().__init__(name or f"scheduler({next(_names)})")
        self.scheduler = scheduler
        if credential is not None and not framework.principal:
            framework = msgspec.structs.replace(framework, principal=credential.principal)
        self.framework = framework
        self.credential = credential
        self.authentication_timeout = authentication_timeout
        self._authenticated_with: PID | None = None
        self._authenticating: asyncio.Future[str] | None = None
        self.detector = master_detector(master)
        self.master: PID | None = self.detector.fixed  # else known once detected
        self.implicit_acknowledgements = implicit_acknowledgements
        self.framework_id: str = framework.id
        self.master_info: MasterInfo | None = None
        self.connected = False
        self.status = DriverStatus.NOT_STARTED
        self._failover = bool(framework.id)  # a scheduler started with an id fails over
        initial, cap = registration_backoff
        self._backoff = Backoff(initial, cap, jitter=(0.5, 1.0))
        self._retry: Timer | None = None
        self._acknowledged: collections.OrderedDict[bytes, None] = collections.OrderedDict()

    # -- life cycle --------------------------------------------------------------

    def initialize(self) -> None:
        self.install(FrameworkRegistered, self._registered)
        self.install(FrameworkReregistered, self._reregistered)
        self.install(ResourceOffers, self._resource_offers)
        self.install(RescindResourceOffer, self._offer_rescinded)
        self.install(StatusUpdateMessage, self._status_update)
        self.install(LostAgent, self._agent_lost)
        self.install(ExitedExecutor, self._executor_lost)
        self.install(ExecutorToFramework, self._framework_message)
        self.install(FrameworkError, self._error)
        self.install(NotLeader, self._not_leader)
        self.status = DriverStatus.RUNNING
        self._register()

    def finalize(self) -> None:
        self.detector.close()
        if self._retry is not None:
            self._retry.cancel()
        if self.status == DriverStatus.RUNNING:
            self.status = DriverStatus.STOPPED

    def exited(self, pid: PID) -> None:
        if pid != self.master or not self.connected:
            return
        self.connected = False
        self._authenticated_with = None  # the master forgot it with the link
        self.log.warning("master_disconnected", master=str(self.master))
        self._callback("disconnected")
        self._backoff.reset()
        self._register()

    async def join(self) -> DriverStatus:
        """Wait until the driver stops (stop, abort, or an error from the master)."""
        if self.node is None:
            raise RuntimeError("the driver was never spawned")
        await self.node.wait(self.pid)
        return self.status

    async def run(self, node: Node) -> DriverStatus:
        """Spawn the driver on `node` (unless it runs already) and wait until it stops."""
        if self.pid is None:
            node.spawn(self)
        return await self.join()

    # -- registration ------------------------------------------------------------

    def _register(self) -> None:
        """Send (re-)registration; retry with backoff until the master answers."""
        self._retry = None
        if self.connected or self.terminated:
            return
        fixed = self.detector.fixed
        if fixed is not None:
            self._send_registration(fixed)
        else:
            self.defer(self.detector.detect(), self._master_detected)
        delay = self._backoff.next()
        self._retry = self.delay(delay, self._register)

    def _master_detected(self, done: asyncio.Future[PID]) -> None:
        if done.cancelled() or self.connected or self.terminated:
            return
        error = done.exception()
        if error is not None:
            self.log.warning("master_not_found", master=str(self.detector), error=str(error))
            return  # the retry timer tries again
        self._send_registration(done.result())

    def _send_registration(self, master: PID) -> None:
        self.master = master
        if self.credential is not None and self._authenticated_with != master:
            self._authenticate(master)
            return
        if self.framework_id:
            info = msgspec.structs.replace(self.framework, id=self.framework_id)
            self.send(master, ReregisterFramework(framework=info, failover=self._failover))
        else:
            self.send(master, RegisterFramework(framework=self.framework))

    def _authenticate(self, master: PID) -> None:
        """Prove our principal to `master`; registration follows once it is done."""
        if self._authenticating is not None or self.credential is None:
            return
        self._authenticating = self.defer(
            authenticate(self.node, master, self.pid, self.credential, self.authentication_timeout),
            lambda done: self._authentication_done(master, done),
        )

    def _authentication_done(self, master: PID, done: asyncio.Future[str]) -> None:
        self._authenticating = None
        if done.cancelled() or self.connected or self.status != DriverStatus.RUNNING:
            return
        error = done.exception()
        if isinstance(error, AuthenticationRefused):
            # A warning: the scheduler's error callback is told, and reports it its way.
            self.log.warning("authentication_refused", master=str(master), error=str(error))
            self._abort_with_error(f"Master refused authentication: {error}")
            return
        if error is not None:
            self.log.warning("authentication_failed", master=str(master), error=str(error))
            return  # the retry timer tries again
        self._authenticated_with = master
        self.log.info("authenticated", master=str(master), principal=done.result())
        if master == self.master:
            self._send_registration(master)

    def _from_master(self, sender: PID, message: object) -> bool:
        if sender == self.master:
            return True
        self.node.count_drop("not_from_master")
        self.log.warning(
            "dropping_message",
            message=type(message).__name__,
            sender=str(sender),
            reason="not from the master",
        )
        return False

    def _registered(self, sender: PID, message: FrameworkRegistered) -> None:
        if not self._from_master(sender, message) or self.connected:
            return
        self._connected(message.framework_id, message.master)
        self.log.info("framework_registered", framework_id=message.framework_id)
        self._callback("registered", message.framework_id, message.master)

    def _reregistered(self, sender: PID, message: FrameworkReregistered) -> None:
        if not self._from_master(sender, message) or self.connected:
            return
        if message.framework_id != self.framework_id:
            self.log.warning("dropping_message", message="FrameworkReregistered", reason="wrong id")
            return
        self._connected(message.framework_id, message.master)
        self.log.info("framework_reregistered", framework_id=message.framework_id)
        self._callback("reregistered", message.master)

    def _connected(self, framework_id: str, master: MasterInfo) -> None:
        self.framework_id = framework_id
        self.master_info = master
        self.connected = True
        self._failover = False
        self._backoff.reset()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        assert self.master is not None  # the answer came from it
        self.link(self.master)

    # -- events from the master --------------------------------------------------

    def _resource_offers(self, sender: PID, message: ResourceOffers) -> None:
        if self._from_master(sender, message) and self.connected:
            self._callback("resource_offers", list(message.offers))

    def _offer_rescinded(self, sender: PID, message: RescindResourceOffer) -> None:
        if self._from_master(sender, message) and self.connected:
            self._callback("offer_rescinded", message.offer_id)

    def _status_update(self, sender: PID, message: StatusUpdateMessage) -> None:
        if not self._from_master(sender, message) or not self.connected:
            return
        update = message.update
        status = update.status
        if (not status.agent_id and update.agent_id) or (status.uuid is None and update.uuid):
            status = msgspec.structs.replace(
                status, agent_id=status.agent_id or update.agent_id, uuid=update.uuid
            )
        implicit = self.implicit_acknowledgements and update.uuid is not None
        if implicit and update.uuid in self._acknowledged:
            self.log.info("duplicate_status_update", task_id=status.task_id, action="acknowledged")
            self.acknowledge(status)
            return
        if not self._callback("status_update", status):
            return
        if implicit and (self.status != DriverStatus.RUNNING or self.terminated):
            # Stopped from the callback (done with its last task): nothing to acknowledge to.
            self.log.debug("status_update_not_acknowledged", reason="driver stopped")
            return
        if implicit:
            assert update.uuid is not None
            self._acknowledged[update.uuid] = None
            if len(self._acknowledged) > ACKNOWLEDGED_MEMORY:
                self._acknowledged.popitem(last=False)
            self.acknowledge(status)

    def _agent_lost(self, sender: PID, message: LostAgent) -> None:
        if self._from_master(sender, message) and self.connected:
            self._callback("agent_lost", message.agent_id)

    def _executor_lost(self, sender: PID, message: ExitedExecutor) -> None:
        if self._from_master(sender, message) and self.connected:
            self._callback("executor_lost", message.executor_id, message.agent_id, message.status)

    def _framework_message(self, sender: PID, message: ExecutorToFramework) -> None:
        if self._from_master(sender, message) and self.connected:
            self._callback("framework_message", message.executor_id, message.agent_id, message.data)

    def _not_leader(self, sender: PID, message: NotLeader) -> None:
        """A master that does not lead refused us; the next attempt looks for the leader."""
        self.log.info("master_not_leading", master=str(sender), leader=message.leader or None)

    def _error(self, sender: PID, message: FrameworkError) -> None:
        if not self._from_master(sender, message):
            return
        # A warning: the scheduler's error callback is told, and reports it its way.
        self.log.warning("framework_error", message=message.message)
        self._abort_with_error(message.message)

    def _abort_with_error(self, message: str) -> None:
        self._callback("error", message)
        self.status = DriverStatus.ABORTED
        self.terminate()

    def _callback(self, name: str, *args: object) -> bool:
        """Run a scheduler callback; log what it raises. True if it returned normally."""
        try:
            getattr(self.scheduler, name)(self, *args)
        except Exception:
            self.log.exception("scheduler_callback_failed", callback=name)
            return False
        return True

    # -- calls to the master -----------------------------------------------------

    def _send_master(self, message: Message) -> None:
        """To the master; callers check `connected`, so one is known."""
        assert self.master is not None
        self.send(self.master, message)

    def _can_send(self, what: str) -> bool:
        if self.status != DriverStatus.RUNNING or self.terminated:
            self.log.warning("ignoring_call", call=what, reason="driver is not running")
            return False
        if not self.connected:
            self.log.warning("ignoring_call", call=what, reason="not connected to a master")
            return False
        return True

    def accept(
        self,
        offer_ids: Sequence[str],
        operations: Sequence[Operation],
        filters: Filters | None = None,
    ) -> None:
        """Use offers (all of one agent) for `operations`; what is left is declined."""
        if not self._can_send("accept"):
            self._tasks_lost([task for op in operations for task in op.launched_tasks])
            return
        self._send_master(
            AcceptOffers(
                framework_id=self.framework_id,
                offer_ids=tuple(offer_ids),
                operations=tuple(operations),
                filters=filters or Filters(),
            ),
        )

    def launch_tasks(
        self, offer_ids: Sequence[str], tasks: Sequence[TaskInfo], filters: Filters | None = None
    ) -> None:
        """Launch `tasks` on offers (all of one agent); no tasks declines the offers."""
        operations = [Operation(type=OperationType.LAUNCH, tasks=tuple(tasks))] if tasks else []
        self.accept(offer_ids, operations, filters)

    def launch_group(
        self,
        offer_ids: Sequence[str],
        executor: ExecutorInfo,
        tasks: Sequence[TaskInfo],
        filters: Filters | None = None,
    ) -> None:
        """Launch `tasks` as one task group on `executor` (Mesos's LAUNCH_GROUP): all of
        them or none. `executor` is of type DEFAULT (the agent's default executor, with
        resources of its own and no command) or CUSTOM."""
        group = TaskGroupInfo(tasks=tuple(tasks))
        operation = Operation(type=OperationType.LAUNCH_GROUP, executor=executor, task_group=group)
        self.accept(offer_ids, [operation], filters)

    def decline(self, offer_id: str, filters: Filters | None = None) -> None:
        """Decline an offer; its resources are not offered again for `refuse_seconds`."""
        if self._can_send("decline"):
            self._send_master(
                DeclineOffers(
                    framework_id=self.framework_id,
                    offer_ids=(offer_id,),
                    filters=filters or Filters(),
                )
            )

    def revive(self, roles: Iterable[str] = ()) -> None:
        """Offers again (in `roles`, or all the framework's roles), filters cleared."""
        if self._can_send("revive"):
            self._send_master(ReviveOffers(framework_id=self.framework_id, roles=tuple(roles)))

    def suppress(self, roles: Iterable[str] = ()) -> None:
        """No more offers (in `roles`, or all) until `revive`."""
        if self._can_send("suppress"):
            self._send_master(SuppressOffers(framework_id=self.framework_id, roles=tuple(roles)))

    def kill_task(
        self, task_id: str, agent_id: str = "", *, grace_period_seconds: float | None = None
    ) -> None:
        """Kill a task; `grace_period_seconds` overrides its kill policy (SIGTERM to SIGKILL)."""
        if self._can_send("kill_task"):
            self._send_master(
                KillTask(
                    framework_id=self.framework_id,
                    task_id=task_id,
                    agent_id=agent_id,
                    grace_period_seconds=grace_period_seconds,
                )
            )

    def reconcile_tasks(self, statuses: Iterable[TaskStatus] = ()) -> None:
        """Ask for the latest state of these tasks, or of all the framework's tasks."""
        if self._can_send("reconcile_tasks"):
            self._send_master(
                ReconcileTasks(framework_id=self.framework_id, statuses=tuple(statuses))
            )

    def acknowledge(self, status: TaskStatus) -> None:
        """Acknowledge a status update (explicit mode; implicit mode does this itself)."""
        if status.uuid is None:
            return
        if self._can_send("acknowledge"):
            self._send_master(
                StatusUpdateAcknowledgement(
                    agent_id=status.agent_id,
                    framework_id=self.framework_id,
                    task_id=status.task_id,
                    uuid=status.uuid,
                ),
            )

    def send_framework_message(self, executor_id: str, agent_id: str, data: bytes) -> None:
        if self._can_send("send_framework_message"):
            self._send_master(
                FrameworkToExecutor(
                    agent_id=agent_id,
                    framework_id=self.framework_id,
                    executor_id=executor_id,
                    data=data,
                )
            )

    def stop(self, failover: bool = False) -> None:
        """Stop the driver. Unless `failover`, the framework unregisters and its tasks end;
        with `failover` the master keeps them for the framework's failover timeout."""
        if self.terminated:
            return
        if not failover and self.connected and self.framework_id:
            self._send_master(UnregisterFramework(framework_id=self.framework_id))
        self.status = DriverStatus.STOPPED
        self.terminate()

    def abort(self) -> None:
        """Stop without unregistering; the master deactivates the framework."""
        if self.terminated:
            return
        if self.connected and self.framework_id:
            self._send_master(DeactivateFramework(framework_id=self.framework_id))
        self.status = DriverStatus.ABORTED
        self.terminate()

    def _tasks_lost(self, tasks: list[TaskInfo]) -> None:
        """Tasks launched while disconnected never reach the master: report them lost."""
        for task in tasks:
            status = TaskStatus(
                task_id=task.task_id,
                state=TaskState.LOST,
                source=Source.MASTER,
                reason=Reason.RECONCILIATION,
                message="Master disconnected",
                agent_id=task.agent_id,
            )
            if not self.terminated:
                self.node.dispatch(self.pid, SchedulerDriver._callback, "status_update", status)
