"""The scheduler driver against a scripted fake master (paused clock)."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from frameworks import DriverStatus, Scheduler, SchedulerDriver
from libprocess import PID, Node, Process, clock
from libprocess.testing import settle
from zmesos.protocol import (
    DeactivateFramework,
    ExecutorToFramework,
    ExitedExecutor,
    FrameworkError,
    FrameworkInfo,
    FrameworkRegistered,
    FrameworkReregistered,
    LostAgent,
    MasterInfo,
    Offer,
    RegisterFramework,
    ReregisterFramework,
    RescindResourceOffer,
    ResourceOffers,
    StatusUpdate,
    StatusUpdateAcknowledgement,
    StatusUpdateMessage,
    TaskState,
    TaskStatus,
    UnregisterFramework,
)


class FakeMaster(Process):
    """Records what schedulers send; answers registrations unless `silent`."""

    def __init__(self, silent: bool = False) -> None:
        super().__init__("master")
        self.silent = silent
        self.received: list[tuple[PID, object]] = []

    def initialize(self) -> None:
        for kind in (
            RegisterFramework,
            ReregisterFramework,
            UnregisterFramework,
            DeactivateFramework,
            StatusUpdateAcknowledgement,
        ):
            self.install(kind, self._record)

    def info(self) -> MasterInfo:
        return MasterInfo(id="FM", pid=str(self.pid), hostname="h", port=self.pid.port)

    def _record(self, sender: PID, message: object) -> None:
        self.received.append((sender, message))
        if self.silent:
            return
        if isinstance(message, RegisterFramework):
            self.send(sender, FrameworkRegistered(framework_id="F1", master=self.info()))
        elif isinstance(message, ReregisterFramework):
            self.send(
                sender, FrameworkReregistered(framework_id=message.framework.id, master=self.info())
            )

    def of(self, kind: type) -> list:
        return [m for _, m in self.received if isinstance(m, kind)]


class Calls(Scheduler):
    def __init__(self, fail_updates: bool = False) -> None:
        self.calls: list[tuple] = []
        self.fail_updates = fail_updates

    def registered(self, driver, framework_id, master):
        self.calls.append(("registered", framework_id))

    def reregistered(self, driver, master):
        self.calls.append(("reregistered",))

    def disconnected(self, driver):
        self.calls.append(("disconnected",))

    def resource_offers(self, driver, offers):
        self.calls.append(("offers", [o.id for o in offers]))

    def offer_rescinded(self, driver, offer_id):
        self.calls.append(("rescinded", offer_id))

    def status_update(self, driver, status):
        self.calls.append(("status", status.task_id, status.state))
        if self.fail_updates:
            raise RuntimeError("scheduler bug")

    def framework_message(self, driver, executor_id, agent_id, data):
        self.calls.append(("message", executor_id, agent_id, data))

    def agent_lost(self, driver, agent_id):
        self.calls.append(("agent_lost", agent_id))

    def executor_lost(self, driver, executor_id, agent_id, status):
        self.calls.append(("executor_lost", executor_id, agent_id, status))

    def error(self, driver, message):
        self.calls.append(("error", message))


INFO = FrameworkInfo(user="u", name="n")


def _update(task_id: str, state: TaskState, uuid: bytes | None = b"u" * 16) -> StatusUpdateMessage:
    status = TaskStatus(task_id=task_id, state=state, uuid=uuid)
    return StatusUpdateMessage(
        update=StatusUpdate(framework_id="F1", status=status, agent_id="A1", uuid=uuid),
        pid="agent@h:1",
    )


async def _registered(node: Node, scheduler: Scheduler | None = None, **options):
    master = FakeMaster()
    node.spawn(master)
    calls = scheduler or Calls()
    driver = SchedulerDriver(calls, INFO, master.pid, **options)
    node.spawn(driver)
    await settle()
    return master, calls, driver


def test_scheduler_master_address_is_an_http_address_or_an_actor_pid():
    assert SchedulerDriver(Calls(), INFO, "127.0.0.1:5050").master is None  # learnt over HTTP
    assert str(SchedulerDriver(Calls(), INFO, "m2@10.0.0.1:7000").master) == "m2@10.0.0.1:7000"
    with pytest.raises(ValueError):
        SchedulerDriver(Calls(), INFO, "nonsense")


async def test_scheduler_registers_and_names_itself_scheduler_n():
    clock.pause()
    async with Node() as node:
        _master, calls, driver = await _registered(node)
        assert driver.pid.name.startswith("scheduler(")
        assert calls.calls == [("registered", "F1")]
        assert driver.connected and driver.framework_id == "F1"
        assert driver.status == DriverStatus.RUNNING


async def test_scheduler_registration_retries_with_backoff_until_answered():
    clock.pause()
    async with Node() as node:
        master = FakeMaster(silent=True)
        node.spawn(master)
        driver = SchedulerDriver(Calls(), INFO, master.pid, registration_backoff=(2.0, 8.0))
        node.spawn(driver)
        await settle()
        assert len(master.of(RegisterFramework)) == 1
        sent_at = []
        for second in range(1, 40):
            clock.advance(1)
            await settle()
            if len(master.of(RegisterFramework)) > len(sent_at) + 1:
                sent_at.append(second)
        gaps = [b - a for a, b in zip([0, *sent_at], sent_at, strict=False)]
        assert len(sent_at) >= 5
        assert all(1 <= gap <= 8 for gap in gaps)  # jittered 50-100% of 2, 4, 8, 8 ...
        assert gaps[-1] >= 4  # capped at 8, never below half of it
        master.silent = False
        clock.advance(8)
        await settle()
        assert driver.connected
        count = len(master.of(RegisterFramework))
        clock.advance(60)
        await settle()
        assert len(master.of(RegisterFramework)) == count  # no retries once registered


async def test_scheduler_callbacks_for_every_master_message():
    clock.pause()
    async with Node() as node:
        master, calls, driver = await _registered(node)
        offer = Offer(id="O1", framework_id="F1", agent_id="A1", hostname="h", resources=())
        for message in (
            ResourceOffers(offers=(offer,)),
            RescindResourceOffer(offer_id="O1"),
            ExecutorToFramework(agent_id="A1", framework_id="F1", executor_id="E1", data=b"hi"),
            LostAgent(agent_id="A1"),
            ExitedExecutor(agent_id="A1", framework_id="F1", executor_id="E1", status=7),
        ):
            master.send(driver.pid, message)
        await settle()
        assert calls.calls[1:] == [
            ("offers", ["O1"]),
            ("rescinded", "O1"),
            ("message", "E1", "A1", b"hi"),
            ("agent_lost", "A1"),
            ("executor_lost", "E1", "A1", 7),
        ]


async def test_scheduler_implicit_acks_only_for_updates_with_uuid():
    clock.pause()
    async with Node() as node:
        master, calls, driver = await _registered(node)
        master.send(driver.pid, _update("t1", TaskState.RUNNING))
        master.send(driver.pid, _update("t1", TaskState.LOST, uuid=None))
        await settle()
        [ack] = master.of(StatusUpdateAcknowledgement)
        assert (ack.agent_id, ack.framework_id, ack.task_id, ack.uuid) == (
            "A1",
            "F1",
            "t1",
            b"u" * 16,
        )
        assert calls.calls[-2:] == [
            ("status", "t1", TaskState.RUNNING),
            ("status", "t1", TaskState.LOST),
        ]


async def test_scheduler_stopped_from_status_update_neither_acknowledges_nor_warns():
    clock.pause()
    async with Node() as node:

        class StopWhenDone(Scheduler):
            def status_update(self, driver, status):
                if status.state.terminal:
                    driver.stop()

        master, _, driver = await _registered(node, StopWhenDone())
        with capture_logs() as logs:
            master.send(driver.pid, _update("t1", TaskState.FINISHED))
            await settle()
        assert master.of(StatusUpdateAcknowledgement) == []
        assert [log for log in logs if log["log_level"] == "warning"] == []
        assert driver.terminated


async def test_scheduler_failing_callback_is_logged_and_not_acknowledged():
    clock.pause()
    async with Node() as node:
        master, _calls, driver = await _registered(node, Calls(fail_updates=True))
        master.send(driver.pid, _update("t1", TaskState.RUNNING))
        await settle()
        assert master.of(StatusUpdateAcknowledgement) == []
        assert driver.status == DriverStatus.RUNNING and not driver.terminated


async def test_scheduler_explicit_acknowledgement():
    clock.pause()
    async with Node() as node:
        statuses: list[TaskStatus] = []

        class Keep(Scheduler):
            def status_update(self, driver, status):
                statuses.append(status)

        master, _, driver = await _registered(node, Keep(), implicit_acknowledgements=False)
        master.send(driver.pid, _update("t1", TaskState.RUNNING))
        await settle()
        assert master.of(StatusUpdateAcknowledgement) == []
        [status] = statuses
        assert status.agent_id == "A1" and status.uuid == b"u" * 16
        driver.acknowledge(status)
        await settle()
        assert len(master.of(StatusUpdateAcknowledgement)) == 1


async def test_scheduler_drops_messages_not_from_its_master():
    clock.pause()
    async with Node() as node:
        _master, calls, driver = await _registered(node)
        impostor = node.spawn(Process())
        node.send(impostor, driver.pid, _update("t1", TaskState.RUNNING))
        node.send(impostor, driver.pid, FrameworkError(message="go away"))
        await settle()
        assert calls.calls == [("registered", "F1")]
        assert driver.status == DriverStatus.RUNNING


async def test_scheduler_master_exit_disconnects_and_reregisters_with_its_id():
    clock.pause()
    async with Node() as node:
        master, calls, driver = await _registered(node)
        node.terminate(master.pid)
        await settle()
        assert calls.calls[-1] == ("disconnected",)
        assert not driver.connected
        driver.decline("O1")  # ignored while disconnected
        replacement = FakeMaster()
        node.spawn(replacement)
        clock.advance(2)
        await settle()
        [reregister] = replacement.of(ReregisterFramework)
        assert reregister.framework.id == "F1" and reregister.failover is False
        assert calls.calls[-1] == ("reregistered",)
        assert driver.connected


async def test_scheduler_started_with_an_id_fails_over():
    clock.pause()
    async with Node() as node:
        master = FakeMaster()
        node.spawn(master)
        driver = SchedulerDriver(Calls(), FrameworkInfo(user="u", name="n", id="F9"), master.pid)
        node.spawn(driver)
        await settle()
        [message] = master.of(ReregisterFramework)
        assert message.failover is True and message.framework.id == "F9"


async def test_scheduler_launch_while_disconnected_reports_tasks_lost():
    clock.pause()
    async with Node() as node:
        from zmesos.protocol import CommandInfo, TaskInfo

        master = FakeMaster(silent=True)
        node.spawn(master)
        calls = Calls()
        driver = SchedulerDriver(calls, INFO, master.pid)
        node.spawn(driver)
        await settle()
        task = TaskInfo(name="t", task_id="t", agent_id="A1", command=CommandInfo(value="true"))
        driver.launch_tasks(["O1"], [task])
        await settle()
        assert calls.calls == [("status", "t", TaskState.LOST)]


async def test_scheduler_error_aborts_the_driver():
    clock.pause()
    async with Node() as node:
        master, calls, driver = await _registered(node)
        master.send(driver.pid, FrameworkError(message="refused"))
        assert await driver.join() == DriverStatus.ABORTED
        assert calls.calls[-1] == ("error", "refused")


async def test_scheduler_stop_unregisters_and_failover_stop_does_not():
    clock.pause()
    async with Node() as node:
        master, _, driver = await _registered(node)
        driver.stop()
        assert await driver.join() == DriverStatus.STOPPED
        await settle()
        assert [m.framework_id for m in master.of(UnregisterFramework)] == ["F1"]

        other = SchedulerDriver(Calls(), INFO, master.pid)
        node.spawn(other)
        await settle()
        other.stop(failover=True)
        assert await other.join() == DriverStatus.STOPPED
        await settle()
        assert len(master.of(UnregisterFramework)) == 1


async def test_scheduler_abort_deactivates_and_run_returns_status():
    clock.pause()
    async with Node() as node:
        master = FakeMaster()
        node.spawn(master)

        class AbortOnRegistered(Scheduler):
            def registered(self, driver, framework_id, master_info):
                driver.abort()

        driver = SchedulerDriver(AbortOnRegistered(), INFO, master.pid)
        assert await driver.run(node) == DriverStatus.ABORTED
        await settle()
        assert [m.framework_id for m in master.of(DeactivateFramework)] == ["F1"]
