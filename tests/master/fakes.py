"""Test doubles for the master's tests: a fake agent and a recording scheduler.

`FakeAgent` speaks the agent side of the protocol without running anything:
it registers, answers pings (unless told not to), records RunTask, KillTask,
acknowledgements and framework messages, and sends status updates on demand
(or at once on launch when `auto_run`).
"""

from __future__ import annotations

from frameworks import Scheduler, SchedulerDriver
from libprocess import PID, Process, clock
from zmesos.protocol import (
    AgentInfo,
    AgentRegistered,
    AgentReregistered,
    CheckpointResources,
    CheckStatusInfo,
    CommandInfo,
    ExecutorToFramework,
    ExitedExecutor,
    FrameworkInfo,
    FrameworkToExecutor,
    KillTask,
    MasterInfo,
    Offer,
    Ping,
    Pong,
    Reason,
    RegisterAgent,
    ReportedTask,
    ReregisterAgent,
    RunTask,
    RunTaskGroup,
    ShutdownAgent,
    ShutdownFramework,
    Source,
    StatusUpdate,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    TaskInfo,
    TaskState,
    TaskStatus,
    new_status_update,
)
from zmesos.resources import Resources


class FakeAgent(Process):
    def __init__(
        self,
        master: PID,
        resources: str = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
        *,
        hostname: str = "host1",
        auto_run: bool = True,
        register: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.master = master
        self.resources = Resources.parse(resources)
        self.hostname = hostname
        self.auto_run = auto_run
        self.register = register
        self.agent_id = ""
        self.answer_pings = True
        self.pings = 0
        self.launched: list[RunTask] = []
        self.launched_groups: list[RunTaskGroup] = []
        self.kills: list[KillTask] = []
        self.acks: list[StatusUpdateAcknowledgement] = []
        self.framework_messages: list[FrameworkToExecutor] = []
        self.shutdown_frameworks: list[str] = []
        self.shutdowns: list[str] = []
        self.pending_acks: dict[bytes, StatusUpdate] = {}
        self.checkpoints: list[Resources] = []
        self.reregistered = 0  # AgentReregistered heard

    def initialize(self) -> None:
        self.install(AgentRegistered, self._registered)
        self.install(AgentReregistered, self._reregistered)
        self.install(Ping, self._ping)
        self.install(RunTask, self._run_task)
        self.install(RunTaskGroup, self._run_task_group)
        self.install(KillTask, self._kill_task)
        self.install(StatusUpdateAcknowledgement, self._ack)
        self.install(FrameworkToExecutor, self._framework_message)
        self.install(ShutdownFramework, self._shutdown_framework)
        self.install(ShutdownAgent, self._shutdown)
        self.install(CheckpointResources, self._checkpoint)
        if self.register:
            self.send(self.master, RegisterAgent(agent=self.info()))

    def info(self) -> AgentInfo:
        return AgentInfo(
            hostname=self.hostname, resources=tuple(self.resources.to_list()), id=self.agent_id
        )

    def registration(self) -> RegisterAgent:
        return RegisterAgent(agent=self.info())

    def reregister(self, tasks: tuple[ReportedTask, ...] = (), **fields: object) -> None:
        self.send(self.master, ReregisterAgent(agent=self.info(), tasks=tasks, **fields))  # type: ignore[arg-type]

    def _registered(self, sender: PID, message: AgentRegistered | AgentReregistered) -> None:
        self.agent_id = message.agent_id

    def _reregistered(self, sender: PID, message: AgentReregistered) -> None:
        self.reregistered += 1
        self._registered(sender, message)

    def _ping(self, sender: PID, message: Ping) -> None:
        self.pings += 1
        if self.answer_pings:
            self.send(sender, Pong())

    def _run_task(self, sender: PID, message: RunTask) -> None:
        self.launched.append(message)
        if self.auto_run:
            self.update(message.framework.id, message.task.task_id, TaskState.RUNNING)

    def _run_task_group(self, sender: PID, message: RunTaskGroup) -> None:
        self.launched_groups.append(message)
        if self.auto_run:
            for task in message.task_group.tasks:
                self.update(message.framework.id, task.task_id, TaskState.RUNNING)

    def _kill_task(self, sender: PID, message: KillTask) -> None:
        self.kills.append(message)
        self.update(message.framework_id, message.task_id, TaskState.KILLED)

    def _ack(self, sender: PID, message: StatusUpdateAcknowledgement) -> None:
        self.acks.append(message)
        self.pending_acks.pop(message.uuid, None)

    def _shutdown_framework(self, sender: PID, message: ShutdownFramework) -> None:
        self.shutdown_frameworks.append(message.framework_id)

    def _shutdown(self, sender: PID, message: ShutdownAgent) -> None:
        self.shutdowns.append(message.message)

    def _checkpoint(self, sender: PID, message: CheckpointResources) -> None:
        self.checkpoints.append(Resources.from_list(message.resources))

    def _framework_message(self, sender: PID, message: FrameworkToExecutor) -> None:
        self.framework_messages.append(message)

    # Called by tests (through dispatch or directly between settles).

    def update(
        self,
        framework_id: str,
        task_id: str,
        state: TaskState,
        message: str = "",
        *,
        reason: Reason | None = None,
        check_status: CheckStatusInfo | None = None,
    ) -> bytes:
        status = TaskStatus(
            task_id=task_id, state=state, message=message, reason=reason, check_status=check_status
        )
        update = new_status_update(
            framework_id,
            status,
            source=Source.EXECUTOR,
            agent_id=self.agent_id,
            executor_id=task_id,
            timestamp=clock.now(),
        )
        uuid = update.uuid
        assert uuid is not None
        self.pending_acks[uuid] = update
        self.send(self.master, StatusUpdateMessage(update=update, pid=str(self.pid)))
        return uuid

    def executor_message(self, framework_id: str, executor_id: str, data: bytes) -> None:
        self.send(
            self.master,
            ExecutorToFramework(
                agent_id=self.agent_id,
                framework_id=framework_id,
                executor_id=executor_id,
                data=data,
            ),
        )

    def executor_exited(self, framework_id: str, executor_id: str, status: int = 0) -> None:
        self.send(
            self.master,
            ExitedExecutor(
                agent_id=self.agent_id,
                framework_id=framework_id,
                executor_id=executor_id,
                status=status,
            ),
        )


class Recorder(Scheduler):
    """Records every callback; optionally launches one task per offer or declines."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.framework_id = ""
        self.offers: dict[str, Offer] = {}
        self.statuses: list[TaskStatus] = []
        self.rescinded: list[str] = []
        self.errors: list[str] = []
        self.lost_agents: list[str] = []
        self.executors_lost: list[tuple[str, str, int]] = []
        self.messages: list[tuple[str, str, bytes]] = []
        self.master: MasterInfo | None = None

    def registered(self, driver: SchedulerDriver, framework_id: str, master: MasterInfo) -> None:
        self.framework_id = framework_id
        self.master = master
        self.events.append(("registered", framework_id))

    def reregistered(self, driver: SchedulerDriver, master: MasterInfo) -> None:
        self.events.append(("reregistered", master.id))

    def disconnected(self, driver: SchedulerDriver) -> None:
        self.events.append(("disconnected", None))

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            self.offers[offer.id] = offer
        self.events.append(("offers", [offer.id for offer in offers]))

    def offer_rescinded(self, driver: SchedulerDriver, offer_id: str) -> None:
        self.offers.pop(offer_id, None)
        self.rescinded.append(offer_id)

    def status_update(self, driver: SchedulerDriver, status: TaskStatus) -> None:
        self.statuses.append(status)

    def framework_message(
        self, driver: SchedulerDriver, executor_id: str, agent_id: str, data: bytes
    ) -> None:
        self.messages.append((executor_id, agent_id, data))

    def agent_lost(self, driver: SchedulerDriver, agent_id: str) -> None:
        self.lost_agents.append(agent_id)

    def executor_lost(
        self, driver: SchedulerDriver, executor_id: str, agent_id: str, status: int
    ) -> None:
        self.executors_lost.append((executor_id, agent_id, status))

    def error(self, driver: SchedulerDriver, message: str) -> None:
        self.errors.append(message)

    def take_offers(self) -> list[Offer]:
        offers = list(self.offers.values())
        self.offers.clear()
        return offers

    def states(self, task_id: str) -> list[TaskState]:
        return [s.state for s in self.statuses if s.task_id == task_id]


def framework_info(name: str = "test", **fields: object) -> FrameworkInfo:
    return FrameworkInfo(user="tester", name=name, **fields)  # type: ignore[arg-type]


def command_task(
    offer: Offer, task_id: str, resources: str = "cpus:1;mem:128", command: str = "true"
) -> TaskInfo:
    return TaskInfo(
        name=task_id,
        task_id=task_id,
        agent_id=offer.agent_id,
        resources=tuple(Resources.parse(resources).to_list()),
        command=CommandInfo(value=command),
    )


class Cluster:
    """A master, one fake agent and one scheduler driver on one node."""

    def __init__(self, node, master, master_pid, agent, scheduler, driver) -> None:
        self.node = node
        self.master = master
        self.master_pid = master_pid
        self.agent = agent
        self.scheduler = scheduler
        self.driver = driver

    async def next_allocation(self) -> None:
        """Let the next periodic allocation run (the paused clock moves one interval): what
        came back (declined, unused, freed) is offered then, not at once, as in Mesos."""
        from libprocess.testing import settle

        clock.advance(self.master.flags.allocation_interval)
        await settle()


async def start_cluster(
    node,
    flags=None,
    *,
    framework: FrameworkInfo | None = None,
    resources: str = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
    implicit_acknowledgements: bool = True,
) -> Cluster:
    """Spawn master, agent and driver; return once everything is registered and offered."""
    from libprocess.testing import settle
    from master import Master, MasterFlags

    master = Master(flags or MasterFlags(master_id="M"))
    master_pid = node.spawn(master)
    agent = FakeAgent(master_pid, resources)
    node.spawn(agent)
    await settle()
    scheduler = Recorder()
    driver = SchedulerDriver(
        scheduler,
        framework or framework_info(),
        master_pid,
        implicit_acknowledgements=implicit_acknowledgements,
    )
    node.spawn(driver)
    await settle()
    return Cluster(node, master, master_pid, agent, scheduler, driver)
