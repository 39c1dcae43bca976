"""The v1 scheduler API end to end over real HTTP: a master, fake agents, an aiohttp client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from frameworks import Scheduler, SchedulerDriver
from libprocess import clock
from libprocess.testing import settle
from master import MasterFlags, MasterHandle, run_master
from master.v1.scheduler_calls import CALLS, read_acknowledge
from tests.master.fakes import FakeAgent, command_task
from tests.master.v1_client import (
    V1Scheduler,
    default_executor,
    launch,
    launch_group,
    task_info,
)
from zmesos.errors import ApiError
from zmesos.protocol import (
    CheckInfo,
    CheckStatusInfo,
    CheckType,
    FrameworkInfo,
    HTTPCheckStatus,
    Offer,
    Reason,
    StatusUpdateAcknowledgement,
    TaskState,
    TCPCheckInfo,
)
from zmesos.resources import Resources

FRAMEWORK = {"user": "u", "name": "v1", "failover_timeout": 60}


@contextlib.asynccontextmanager
async def v1_cluster(agents: int = 1) -> AsyncIterator[tuple[MasterHandle, list[FakeAgent], Any]]:
    handle = await run_master(
        MasterFlags(ip="127.0.0.1", port=0, master_id="M", allocation_interval=0.05)
    )
    fakes = [FakeAgent(handle.pid, hostname=f"host{i}") for i in range(agents)]
    for fake in fakes:
        handle.node.spawn(fake)
    try:
        async with aiohttp.ClientSession() as session:
            yield handle, fakes, session
    finally:
        await handle.stop()


async def _state(handle: MasterHandle, session: aiohttp.ClientSession) -> dict[str, Any]:
    async with session.get(f"{handle.http.url}/state") as response:
        return await response.json()


async def test_v1_scheduler_launches_declines_revives_kills_reconciles_and_tears_down():
    async with v1_cluster(agents=2) as (handle, agents, session):
        scheduler = V1Scheduler(handle.http.url, session)
        subscribed = await scheduler.subscribe(FRAMEWORK)
        assert subscribed["type"] == "SUBSCRIBED"
        assert subscribed["subscribed"]["heartbeat_interval_seconds"] == 15
        assert scheduler.seen[1]["type"] == "HEARTBEAT"  # Mesos beats once at once

        # 50 tasks, 25 on each agent's offer; each RUNNING update acknowledged.
        launched = 0
        while launched < 50:
            event = await scheduler.next_event("UPDATE")
            assert event["type"] == "OFFERS"
            for offer in event["offers"]["offers"]:
                tasks = [task_info(offer, f"t{launched + i:02d}") for i in range(25)]
                launched += len(tasks)
                body = {
                    "offer_ids": [offer["id"]],
                    "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
                    "filters": {"refuse_seconds": 0},
                }
                assert await scheduler.call("ACCEPT", body) == 202
        running: dict[str, dict[str, Any]] = {}
        offers: list[dict[str, Any]] = []
        while len(running) < 50:
            event = await scheduler.next_event()
            if event["type"] == "OFFERS":
                offers.extend(event["offers"]["offers"])
                continue
            status = event["update"]["status"]
            assert status["state"] == "TASK_RUNNING" and status["source"] == "SOURCE_EXECUTOR"
            running[status["task_id"]["value"]] = status
            acknowledge = {k: status[k] for k in ("agent_id", "task_id", "uuid")}
            assert await scheduler.call("ACKNOWLEDGE", acknowledge) == 202
        await _until(lambda: sum(len(agent.acks) for agent in agents) == 50)

        # Suppress, decline what is outstanding for an hour: no offers; revive: offers again.
        assert await scheduler.call("SUPPRESS", {"roles": ["*"]}) == 202
        await asyncio.sleep(0.2)  # offers made before the suppress may still arrive
        offers += [
            o for e in _drain(scheduler) if e["type"] == "OFFERS" for o in e["offers"]["offers"]
        ]
        decline = {"offer_ids": [o["id"] for o in offers], "filters": {"refuse_seconds": 3600}}
        assert await scheduler.call("DECLINE", decline) == 202
        await asyncio.sleep(0.3)
        assert all(e["type"] != "OFFERS" for e in _drain(scheduler))
        assert await scheduler.call("REVIVE", {"roles": ["*"]}) == 202
        assert (await scheduler.next_event())["type"] == "OFFERS"

        # Kill one; reconcile all: the 49 running tasks come back, then the killed one alone.
        assert await scheduler.call("KILL", {"task_id": {"value": "t07"}}) == 202
        killed = await scheduler.next_event("OFFERS", "RESCIND")
        assert killed["update"]["status"]["state"] == "TASK_KILLED"
        # Acknowledged, the killed task is forgotten (its resources went back when it ended).
        status = killed["update"]["status"]
        acknowledge = {k: status[k] for k in ("agent_id", "task_id", "uuid")}
        assert await scheduler.call("ACKNOWLEDGE", acknowledge) == 202
        await _until(lambda: sum(len(agent.acks) for agent in agents) == 51)
        assert await scheduler.call("RECONCILE", {"tasks": []}) == 202
        answers = [await scheduler.next_event("OFFERS", "RESCIND") for _ in range(49)]
        assert {a["update"]["status"]["state"] for a in answers} == {"TASK_RUNNING"}
        assert all(a["update"]["status"]["reason"] == "REASON_RECONCILIATION" for a in answers)
        assert all("uuid" not in a["update"]["status"] for a in answers)  # not acknowledged
        assert await scheduler.call("RECONCILE", {"tasks": [{"task_id": {"value": "t07"}}]}) == 202
        lost = await scheduler.next_event("OFFERS", "RESCIND")
        assert lost["update"]["status"]["task_id"]["value"] == "t07"

        # Teardown: the stream ends, the framework is removed, the agents told.
        assert await scheduler.call("TEARDOWN") == 202
        assert (await scheduler.next_event("OFFERS", "RESCIND", "UPDATE"))["type"] == "<closed>"
        state = await _state(handle, session)
        assert state["frameworks"] == []
        assert state["completed_frameworks"][0]["id"] == scheduler.framework_id
        assert all(agent.shutdown_frameworks == [scheduler.framework_id] for agent in agents)
        await scheduler.close()


async def test_v1_scheduler_heartbeats_on_the_runtime_clock_with_connection_close():
    async with v1_cluster(agents=0) as (handle, _, session):
        scheduler = V1Scheduler(handle.http.url, session)  # it sends Connection: close
        await scheduler.subscribe(FRAMEWORK)
        clock.pause()
        try:
            await settle()
            before = sum(e["type"] == "HEARTBEAT" for e in scheduler.seen)
            clock.advance(15)
            await settle()
            await _until(lambda: sum(e["type"] == "HEARTBEAT" for e in scheduler.seen) > before)
        finally:
            clock.resume()
        await scheduler.close()


async def test_v1_scheduler_resubscribing_fails_over_and_the_old_stream_gets_an_error():
    async with v1_cluster() as (handle, _, session):
        first = V1Scheduler(handle.http.url, session)
        await first.subscribe(FRAMEWORK)
        offer = (await first.next_event())["offers"]["offers"][0]
        assert await first.call("ACCEPT", launch(offer, "kept")) == 202
        await first.next_event("OFFERS")  # RUNNING

        second = V1Scheduler(handle.http.url, session)
        again = await second.subscribe({**FRAMEWORK, "id": {"value": first.framework_id}})
        assert again["subscribed"]["framework_id"]["value"] == first.framework_id
        error = await first.next_event("OFFERS", "UPDATE")
        assert error == {"type": "ERROR", "error": {"message": "Framework failed over"}}
        assert (await first.next_event())["type"] == "<closed>"
        second.framework_id = first.framework_id
        assert await first.call("REVIVE") == 400  # the old stream id
        assert await second.call("REVIVE") == 202
        [framework] = (await _state(handle, session))["frameworks"]
        assert framework["connected"] and [t["id"] for t in framework["tasks"]] == ["kept"]
        await first.close()
        await second.close()


async def test_v1_scheduler_dropped_stream_disconnects_then_removes_the_framework():
    async with v1_cluster() as (handle, [agent], session):
        scheduler = V1Scheduler(handle.http.url, session)
        await scheduler.subscribe({**FRAMEWORK, "failover_timeout": 0.3})
        offer = (await scheduler.next_event())["offers"]["offers"][0]
        assert await scheduler.call("ACCEPT", launch(offer, "orphan")) == 202
        await scheduler.next_event("OFFERS")
        await scheduler.close()
        await _until_state(handle, session, lambda s: not s["frameworks"][0]["connected"])
        assert await scheduler.call("REVIVE") == 403  # no subscription any more
        await _until_state(handle, session, lambda s: not s["frameworks"])
        assert agent.shutdown_frameworks == [scheduler.framework_id]


async def test_v1_scheduler_an_invalid_framework_gets_an_error_event():
    async with v1_cluster(agents=0) as (handle, _, session):
        scheduler = V1Scheduler(handle.http.url, session)
        first = await scheduler.subscribe({"user": "u", "name": "n", "roles": ["bad role"]})
        assert first["type"] == "ERROR" and "bad role" in first["error"]["message"]
        assert (await scheduler.next_event())["type"] == "<closed>"


async def test_v1_scheduler_update_framework_changes_roles_and_refuses_what_cannot_change():
    async with v1_cluster() as (handle, _, session):
        scheduler = V1Scheduler(handle.http.url, session)
        await scheduler.subscribe({**FRAMEWORK, "roles": ["a"]})
        update = {"framework_info": {**FRAMEWORK, "roles": ["a", "b"]}, "suppressed_roles": ["a"]}
        assert await scheduler.call("UPDATE_FRAMEWORK", update) == 200
        [framework] = (await _state(handle, session))["frameworks"]
        assert framework["roles"] == ["a", "b"]
        for bad in (
            {"framework_info": {**FRAMEWORK, "user": "someone else"}},
            {"framework_info": FRAMEWORK, "suppressed_roles": ["z"]},
            {"framework_info": {**FRAMEWORK, "roles": ["bad role"]}},
        ):
            assert await scheduler.call("UPDATE_FRAMEWORK", bad) == 400
        [framework] = (await _state(handle, session))["frameworks"]
        assert framework["roles"] == ["a", "b"] and framework["user"] == "u"
        await scheduler.close()


def _subscribe(**framework: Any) -> dict[str, Any]:
    return {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", **framework}}}


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (b"{not json", {}, 400, "Malformed JSON"),
        (b"[1]", {}, 400, "JSON object"),
        (b'{"kind": "SUBSCRIBE"}', {}, 400, "'type'"),
        (b'{"type": "ACCEPT"}', {"Content-Type": "application/x-protobuf"}, 415, "Protobuf"),
        (b'{"type": "ACCEPT"}', {"Content-Type": "text/plain"}, 415, "application/json"),
        (b'{"type": "ACCEPT"}', {"Accept": "application/x-protobuf"}, 406, "Protobuf"),
        (b'{"type": "REVIVE", "framework_id": {"value": "M-0000"}}', {}, 400, "Stream-Id"),
        (b'{"type": "FROBNICATE"}', {"Mesos-Stream-Id": "s"}, 400, "Unknown call"),
        (b'{"type": "REVIVE"}', {"Mesos-Stream-Id": "s"}, 400, "framework_id"),
        (b'{"type": "REVIVE", "framework_id": {"value": "F"}}', {"Mesos-Stream-Id": "s"}, 403, ""),
        (b"{" + b" " * (17 << 20) + b"}", {}, 413, "over the limit"),
    ],
)
async def test_v1_scheduler_bad_calls_get_a_clear_status(body, headers, status, reason):
    async with (
        v1_cluster(agents=0) as (handle, _, session),
        session.post(
            f"{handle.http.url}/api/v1/scheduler",
            data=body,
            headers={"Content-Type": "application/json", **headers},
        ) as response,
    ):
        assert response.status == status
        assert reason in await response.text()


async def test_v1_scheduler_bad_calls_of_a_subscribed_framework_leave_it_working():
    async with v1_cluster() as (handle, _, session):
        scheduler = V1Scheduler(handle.http.url, session)
        await scheduler.subscribe(FRAMEWORK)
        offer = (await scheduler.next_event())["offers"]["offers"][0]
        bad_resources = launch(offer, "t")
        task = bad_resources["operations"][0]["launch"]["task_infos"][0]
        task["resources"][0]["scalar"]["value"] = -1
        assert await scheduler.call("ACCEPT", bad_resources) == 400
        assert await scheduler.call("ACCEPT", {"offer_ids": "nope"}) == 400
        assert await scheduler.call("ACKNOWLEDGE", {"uuid": "!!"}) == 400
        well_formed = {
            "agent_id": offer["agent_id"],
            "task_id": {"value": "t"},
            "uuid": base64.b64encode(bytes(16)).decode(),
        }
        assert await scheduler.call("ACKNOWLEDGE", well_formed, **{"Mesos-Stream-Id": ""}) == 400
        assert await scheduler.call("ACKNOWLEDGE", well_formed, **{"Mesos-Stream-Id": "no"}) == 400
        assert await scheduler.call("REVIVE", **{"Mesos-Stream-Id": "wrong"}) == 400
        assert await scheduler.call("RECONCILE_OPERATIONS") == 400
        bad_groups = [
            ({}, "'executor' and 'task_group' are required"),
            ({"executor": {"executor_id": {"value": "e"}}}, "are required"),
            (
                {
                    "executor": {"executor_id": {"value": "e"}, "type": "DOCKER"},
                    "task_group": {"tasks": []},
                },
                "is not DEFAULT or CUSTOM",
            ),
            (
                {
                    "executor": {"executor_id": {"value": "e"}, "type": "DEFAULT"},
                    "task_group": {"tasks": [{"task_id": {"value": "t"}}] * 1025},
                },
                "more than 1024 tasks",
            ),
            (
                {"executor": {"executor_id": {"value": "e"}}, "task_group": {"tasks": "x"}},
                "task_group.tasks",
            ),
        ]
        for body, reason in bad_groups:
            group = {
                "offer_ids": [offer["id"]],
                "operations": [{"type": "LAUNCH_GROUP", "launch_group": body}],
            }
            async with session.post(
                scheduler.url,
                json={
                    "type": "ACCEPT",
                    "framework_id": {"value": scheduler.framework_id},
                    "accept": group,
                },
                headers={"Mesos-Stream-Id": scheduler.stream_id},
            ) as response:
                assert response.status == 400
                assert reason in await response.text()
        async with session.post(
            scheduler.url, json=_subscribe(name="x"), headers={"Mesos-Stream-Id": "s"}
        ) as response:
            assert response.status == 400
        assert await scheduler.call("ACCEPT", launch(offer, "good")) == 202
        update = await scheduler.next_event("OFFERS")
        assert update["update"]["status"]["state"] == str(TaskState.RUNNING)
        await scheduler.close()


async def test_v1_scheduler_a_client_that_never_reads_is_cut_off_and_others_are_fine():
    async with v1_cluster(agents=0) as (handle, _, session):
        # 1,000 idle connections: open, say nothing.
        idle = [await asyncio.open_connection("127.0.0.1", handle.http.port) for _ in range(1000)]
        # A subscriber that reads its headers and first events, then nothing more.
        reader, writer = await asyncio.open_connection("127.0.0.1", handle.http.port)
        body = json.dumps(
            {"type": "SUBSCRIBE", "subscribe": {"framework_info": {**FRAMEWORK, "name": "slow"}}}
        ).encode()
        writer.write(
            b"POST /api/v1/scheduler HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        head = await reader.readuntil(b"SUBSCRIBED")
        stream_id = head.split(b"Mesos-Stream-Id: ")[1].split(b"\r\n")[0].decode()
        [framework] = (await _state(handle, session))["frameworks"]
        # Ask for far more events than its queue holds: 60,000 reconciliation answers.
        reconcile = {
            "type": "RECONCILE",
            "framework_id": {"value": framework["id"]},
            "reconcile": {"tasks": [{"task_id": {"value": f"t{i}"}} for i in range(60_000)]},
        }
        async with session.post(
            f"{handle.http.url}/api/v1/scheduler",
            json=reconcile,
            headers={"Mesos-Stream-Id": stream_id},
        ) as response:
            assert response.status == 202, await response.text()
        await _until_state(handle, session, lambda s: not s["frameworks"][0]["connected"])
        # Everyone else is served.
        other = V1Scheduler(handle.http.url, session)
        assert (await other.subscribe(FRAMEWORK))["type"] == "SUBSCRIBED"
        assert await other.call("REVIVE") == 202
        await other.close()
        writer.close()
        for _, idle_writer in idle:
            idle_writer.close()


class _FillOffers(Scheduler):
    """An actor framework that fills every offer with 1-cpu tasks."""

    def __init__(self) -> None:
        self.launched = 0

    def resource_offers(self, driver: SchedulerDriver, offers: list[Offer]) -> None:
        for offer in offers:
            count = int(Resources(offer.resources).scalar("cpus"))
            tasks = [
                command_task(offer, f"a{self.launched + i}", "cpus:1;mem:32") for i in range(count)
            ]
            self.launched += count
            driver.launch_tasks([offer.id], tasks)


async def test_v1_scheduler_and_an_actor_framework_share_the_cluster_drf_fairly():
    async with v1_cluster(agents=0) as (handle, _, session):
        actor_framework = _FillOffers()
        driver = SchedulerDriver(actor_framework, FrameworkInfo(user="u", name="actor"), handle.pid)
        handle.node.spawn(driver)
        v1 = V1Scheduler(handle.http.url, session)
        await v1.subscribe(FRAMEWORK)
        await _until_state(handle, session, lambda s: len(s["frameworks"]) == 2)
        for index in range(4):  # 16 cpus, offered once both frameworks are there
            handle.node.spawn(FakeAgent(handle.pid, "cpus:4;mem:1024", hostname=f"h{index}"))
        v1_launched = 0
        while v1_launched + actor_framework.launched < 16:
            for offer in (await v1.next_event("UPDATE"))["offers"]["offers"]:
                cpus = sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus")
                tasks = [
                    task_info(offer, f"v{v1_launched + i}", cpus=1, mem=32)
                    for i in range(int(cpus))
                ]
                v1_launched += len(tasks)
                body = {
                    "offer_ids": [offer["id"]],
                    "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
                }
                assert await v1.call("ACCEPT", body) == 202
        assert v1_launched == actor_framework.launched == 8
        driver.stop()
        await v1.close()


def _drain(scheduler: V1Scheduler) -> list[dict[str, Any]]:
    events = []
    while not scheduler.events.empty():
        events.append(scheduler.events.get_nowait())
    return events


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


async def _until_state(
    handle: MasterHandle, session: aiohttp.ClientSession, predicate: Any, timeout: float = 10.0
) -> None:
    async def loop() -> None:
        while not predicate(await _state(handle, session)):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(loop(), timeout)


def _acknowledge_call() -> dict[str, Any]:
    acknowledge = {
        "agent_id": {"value": "A"},
        "task_id": {"value": "T"},
        "uuid": base64.b64encode(bytes(range(16))).decode(),
    }
    return {"type": "ACKNOWLEDGE", "framework_id": {"value": "F"}, "acknowledge": acknowledge}


def test_v1_scheduler_acknowledge_fast_path_reads_what_the_general_reader_reads():
    call = _acknowledge_call()
    expected = StatusUpdateAcknowledgement(
        agent_id="A", framework_id="F", task_id="T", uuid=bytes(range(16))
    )
    assert read_acknowledge(json.dumps(call).encode()) == ("F", expected)
    assert CALLS["ACKNOWLEDGE"](call, "F") == expected


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("acknowledge", "uuid"), "!!"),  # not Base64
        (("acknowledge", "uuid"), base64.b64encode(bytes(15)).decode()),  # not a uuid's 16 bytes
        (("acknowledge", "task_id", "value"), ""),
        (("acknowledge", "agent_id"), None),
        (("acknowledge", "agent_id", "value"), 7),
        (("acknowledge", "task_id", "value"), "x" * 1025),
    ],
)
def test_v1_scheduler_acknowledge_fast_path_leaves_bad_ones_to_the_reader_that_names_them(
    path, value
):
    call = _acknowledge_call()
    parent = call
    for key in path[:-1]:
        parent = parent[key]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    assert read_acknowledge(json.dumps(call).encode()) is None
    with pytest.raises(ApiError, match="acknowledge"):
        CALLS["ACKNOWLEDGE"](call, "F")


def test_v1_scheduler_acknowledge_fast_path_takes_no_other_call():
    for body in (b'{"type": "ACCEPT"}', b"{not json", b"[]", b'{"type": "ACKNOWLEDGE"}'):
        assert read_acknowledge(body) is None


async def test_v1_scheduler_launch_group_goes_whole_to_the_agent_or_errs_whole():
    async with v1_cluster() as (handle, [agent], session):
        scheduler = V1Scheduler(handle.http.url, session)
        await scheduler.subscribe(FRAMEWORK)
        offer = (await scheduler.next_event())["offers"]["offers"][0]
        # Invalid: a duplicate id refuses every task of the group (TASK_ERROR, no uuid).
        twice = [task_info(offer, "a"), task_info(offer, "a"), task_info(offer, "b")]
        assert await scheduler.call("ACCEPT", launch_group(offer, default_executor(), twice)) == 202
        errors = [await scheduler.next_event("OFFERS") for _ in range(3)]
        for event in errors:
            status = event["update"]["status"]
            assert status["state"] == "TASK_ERROR" and "uuid" not in status
            assert status["reason"] == "REASON_TASK_GROUP_INVALID"
            assert "duplicate task ID: a" in status["message"]
        assert not agent.launched_groups
        # Valid: the agent gets one RunTaskGroup, the executor's type DEFAULT.
        offer = (await scheduler.next_event("UPDATE"))["offers"]["offers"][0]
        tasks = [task_info(offer, "g1"), task_info(offer, "g2")]
        assert await scheduler.call("ACCEPT", launch_group(offer, default_executor(), tasks)) == 202
        await _until(lambda: agent.launched_groups)
        [run] = agent.launched_groups
        assert run.executor.is_default and run.task_group.task_ids == ("g1", "g2")
        state = await _state(handle, session)
        [executor] = state["frameworks"][0]["executors"]
        assert (executor["executor_id"], executor["type"]) == ("pod", "DEFAULT")
        await scheduler.close()


async def test_v1_scheduler_task_checks_go_to_the_agent_and_check_statuses_come_back():
    async with v1_cluster() as (handle, [agent], session):
        scheduler = V1Scheduler(handle.http.url, session)
        await scheduler.subscribe(FRAMEWORK)
        offer = (await scheduler.next_event())["offers"]["offers"][0]
        # Malformed: refused whole at the door (400), nothing launched.
        malformed = launch(offer, "m")
        malformed["operations"][0]["launch"]["task_infos"][0]["check"] = {
            "type": "TCP",
            "tcp": {"port": 0},
        }
        assert await scheduler.call("ACCEPT", malformed) == 400
        # Well formed but invalid: TASK_ERROR with Mesos's message; the valid task launches.
        bad = task_info(offer, "bad") | {"check": {"type": "TCP", "interval_seconds": -1}}
        good = task_info(offer, "good") | {
            "check": {"type": "HTTP", "http": {"port": 8080, "path": "/ready"}}
        }
        body = launch(offer, "x")
        body["operations"][0]["launch"]["task_infos"] = [bad, good]
        assert await scheduler.call("ACCEPT", body) == 202
        error = (await scheduler.next_event("OFFERS"))["update"]["status"]
        assert (error["task_id"]["value"], error["state"]) == ("bad", "TASK_ERROR")
        assert error["message"] == (
            "Task uses invalid check: Expecting 'tcp' to be set for TCP check"
        )
        await _until(lambda: agent.launched)
        [run] = agent.launched
        assert run.task.check is not None and run.task.check.type is CheckType.HTTP
        assert run.task.check.http is not None and run.task.check.http.path == "/ready"
        await scheduler.next_event("OFFERS")  # the fake agent's TASK_RUNNING
        # The executor's check update reaches the scheduler and /state in Mesos's shape.
        framework_id = scheduler.framework_id
        answered = CheckStatusInfo(type=CheckType.HTTP, http=HTTPCheckStatus(status_code=503))
        agent.update(
            framework_id,
            "good",
            TaskState.RUNNING,
            reason=Reason.TASK_CHECK_STATUS_UPDATED,
            check_status=answered,
        )
        status = (await scheduler.next_event("OFFERS"))["update"]["status"]
        assert status["reason"] == "REASON_TASK_CHECK_STATUS_UPDATED"
        assert status["check_status"] == {"type": "HTTP", "http": {"status_code": 503}}
        state = await _state(handle, session)
        [task] = state["frameworks"][0]["tasks"]
        assert task["statuses"][-1]["check_status"] == status["check_status"]
        # A task group's tasks carry their checks too.
        offer = (await scheduler.next_event("UPDATE"))["offers"]["offers"][0]
        grouped = task_info(offer, "g1") | {"check": {"type": "TCP", "tcp": {"port": 9000}}}
        assert (
            await scheduler.call("ACCEPT", launch_group(offer, default_executor(), [grouped]))
            == 202
        )
        await _until(lambda: agent.launched_groups)
        [group] = agent.launched_groups
        assert group.task_group.tasks[0].check == CheckInfo(
            type=CheckType.TCP, tcp=TCPCheckInfo(port=9000)
        )
        await scheduler.close()
