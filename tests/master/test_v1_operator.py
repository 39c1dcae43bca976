"""The master's v1 operator API over real HTTP: calls, GET_STATE against /state, SUBSCRIBE."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from libprocess import clock
from libprocess.testing import settle
from tests.master.test_v1_scheduler import FRAMEWORK, v1_cluster
from tests.master.v1_client import V1Scheduler, launch
from zmesos.protocol import MasterInfo, TaskState
from zmesos.resources import Resources
from zmesos.v1.resources import resources_to_v1


async def _call(session: aiohttp.ClientSession, url: str, call: dict[str, Any]) -> Any:
    async with session.post(f"{url}/api/v1", json=call) as response:
        text = await response.text()
        return response.status, (json.loads(text) if text and response.status == 200 else text)


class OperatorStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, *skip: str) -> dict[str, Any]:
        while True:
            line = await asyncio.wait_for(self.response.content.readline(), 10)
            event = json.loads(await self.response.content.readexactly(int(line)))
            if event["type"] not in ("HEARTBEAT", *skip):
                return event


@pytest.mark.parametrize(
    ("call", "key"),
    [
        ("GET_HEALTH", "healthy"),
        ("GET_FLAGS", "flags"),
        ("GET_VERSION", "version_info"),
        ("GET_METRICS", "metrics"),
        ("GET_LOGGING_LEVEL", "level"),
        ("GET_AGENTS", "agents"),
        ("GET_FRAMEWORKS", "frameworks"),
        ("GET_EXECUTORS", "executors"),
        ("GET_TASKS", "tasks"),
        ("GET_ROLES", "roles"),
        ("GET_WEIGHTS", "weight_infos"),
        ("GET_QUOTA", "status"),
        ("GET_MASTER", "master_info"),
    ],
)
async def test_v1_operator_get_calls_answer_in_mesos_shape(call, key):
    async with v1_cluster() as (handle, _, session):
        status, answer = await _call(session, handle.http.url, {"type": call})
        assert status == 200 and answer["type"] == call
        assert key in answer[call.lower()]


async def test_v1_operator_get_state_agrees_with_state_and_subscribe_follows_a_task():
    async with v1_cluster() as (handle, [agent], session):
        url = handle.http.url
        response = await session.post(f"{url}/api/v1", json={"type": "SUBSCRIBE"})
        assert response.status == 200
        events = OperatorStream(response)
        subscribed = await events.next()
        assert subscribed["type"] == "SUBSCRIBED"
        assert len(subscribed["subscribed"]["get_state"]["get_agents"]["agents"]) == 1

        scheduler = V1Scheduler(url, session)
        await scheduler.subscribe(FRAMEWORK)
        offer = (await scheduler.next_event())["offers"]["offers"][0]
        assert await scheduler.call("ACCEPT", launch(offer, "watched")) == 202
        await scheduler.next_event("OFFERS")  # RUNNING
        agent.update(scheduler.framework_id, "watched", TaskState.FINISHED)

        assert (await events.next())["type"] == "FRAMEWORK_ADDED"
        added = await events.next("FRAMEWORK_UPDATED")
        assert added["type"] == "TASK_ADDED"
        assert added["task_added"]["task"]["task_id"] == {"value": "watched"}
        assert added["task_added"]["task"]["state"] == "TASK_STAGING"
        states = [(await events.next("FRAMEWORK_UPDATED"))["task_updated"] for _ in range(2)]
        assert [s["state"] for s in states] == ["TASK_RUNNING", "TASK_FINISHED"]
        assert states[1]["status"]["task_id"] == {"value": "watched"}

        _, answer = await _call(session, url, {"type": "GET_STATE"})
        v1_state = answer["get_state"]
        async with session.get(f"{url}/state") as state_response:
            state = await state_response.json()
        assert [a["agent_info"]["id"]["value"] for a in v1_state["get_agents"]["agents"]] == [
            a["id"] for a in state["agents"]
        ]
        assert [
            f["framework_info"]["id"]["value"] for f in v1_state["get_frameworks"]["frameworks"]
        ] == [f["id"] for f in state["frameworks"]]
        completed = v1_state["get_tasks"]["completed_tasks"]
        assert [(t["task_id"]["value"], t["state"]) for t in completed] == [
            (t["id"], t["state"]) for f in state["frameworks"] for t in f["completed_tasks"]
        ]

        assert await scheduler.call("TEARDOWN") == 202
        removed = await events.next("FRAMEWORK_UPDATED", "TASK_UPDATED")
        assert removed["type"] == "FRAMEWORK_REMOVED"
        assert (
            removed["framework_removed"]["framework_info"]["id"]["value"] == scheduler.framework_id
        )
        handle.node.terminate(agent.pid)
        response.close()
        await scheduler.close()


async def test_v1_operator_subscribers_hear_heartbeats_on_the_runtime_clock():
    async with v1_cluster(agents=0) as (handle, _, session):
        response = await session.post(f"{handle.http.url}/api/v1", json={"type": "SUBSCRIBE"})
        for _ in range(2):  # SUBSCRIBED, then a first HEARTBEAT
            await response.content.readexactly(int(await response.content.readline()))
        clock.pause()
        try:
            clock.advance(15)
            await settle()
            record = await response.content.readexactly(int(await response.content.readline()))
            assert json.loads(record) == {"type": "HEARTBEAT"}
        finally:
            clock.resume()
        response.close()


async def test_v1_operator_weights_and_quota_update_and_read_back():
    async with v1_cluster(agents=0) as (handle, _, session):
        url = handle.http.url
        update = {"weight_infos": [{"role": "eng", "weight": 2.5}]}
        assert (await _call(session, url, {"type": "UPDATE_WEIGHTS", "update_weights": update}))[
            0
        ] == 200
        _, weights = await _call(session, url, {"type": "GET_WEIGHTS"})
        assert {"role": "eng", "weight": 2.5} in weights["get_weights"]["weight_infos"]
        quota = {"quota_configs": [{"role": "eng", "guarantees": {"cpus": {"value": 2}}}]}
        assert (await _call(session, url, {"type": "UPDATE_QUOTA", "update_quota": quota}))[
            0
        ] == 200
        _, answer = await _call(session, url, {"type": "GET_QUOTA"})
        [config] = answer["get_quota"]["status"]["configs"]
        assert config == {"role": "eng", "guarantees": {"cpus": {"value": 2.0}}, "limits": {}}


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        ({"type": "FROBNICATE"}, "Unsupported call"),
        ({"type": "UPDATE_WEIGHTS"}, "update_weights"),
        (
            {
                "type": "UPDATE_WEIGHTS",
                "update_weights": {"weight_infos": [{"role": "e", "weight": -1}]},
            },
            "weight",
        ),
        (
            {
                "type": "UPDATE_WEIGHTS",
                "update_weights": {"weight_infos": [{"role": "a b", "weight": 1}]},
            },
            "invalid role",
        ),
        (
            {
                "type": "UPDATE_QUOTA",
                "update_quota": {
                    "quota_configs": [
                        {"role": "e", "guarantees": {"cpus": 4}, "limits": {"cpus": 1}}
                    ]
                },
            },
            "exceeds its limit",
        ),
        ({"type": "GET_METRICS", "get_metrics": "now"}, "call.get_metrics: expected a JSON"),
        (
            {"type": "GET_METRICS", "get_metrics": {"timeout": {"nanoseconds": "soon"}}},
            "get_metrics.timeout.nanoseconds",
        ),
    ],
)
async def test_v1_operator_bad_calls_get_400_with_the_reason(call, reason):
    async with v1_cluster(agents=0) as (handle, _, session):
        status, text = await _call(session, handle.http.url, call)
        assert status == 400 and reason in text
        assert (await _call(session, handle.http.url, {"type": "GET_HEALTH"}))[0] == 200


async def test_v1_apis_on_a_master_that_does_not_lead_send_clients_to_the_leader():
    async with v1_cluster(agents=0) as (handle, _, session):
        handle.master.leading = False
        handle.master.leader = MasterInfo(
            id="L", pid="master@10.0.0.9:1", hostname="10.0.0.9", port=5050
        )
        for path, call in (
            (
                "/api/v1/scheduler",
                {"type": "SUBSCRIBE", "subscribe": {"framework_info": FRAMEWORK}},
            ),
            ("/api/v1", {"type": "GET_STATE"}),
        ):
            async with session.post(
                f"{handle.http.url}{path}", json=call, allow_redirects=False
            ) as response:
                assert response.status == 307
                assert response.headers["Location"] == f"http://10.0.0.9:5050{path}"
        handle.master.leader = None
        status, _ = await _call(session, handle.http.url, {"type": "GET_HEALTH"})
        assert status == 503
        handle.master.leading = True


RESERVED = "cpus(ops DYNAMIC principal=op):1;disk(ops DYNAMIC principal=op):100"
VOLUME = "disk(ops DYNAMIC principal=op)[db:data principal=op]:60"
UNRESERVED_VOLUME = {
    "name": "disk",
    "type": "SCALAR",
    "scalar": {"value": 1},
    "disk": {"persistence": {"id": "db"}, "volume": {"container_path": "data", "mode": "RW"}},
}
GROWN = "disk(ops DYNAMIC principal=op)[db:data principal=op]:100"


def _v1(text: str) -> list[dict[str, Any]]:
    return resources_to_v1(Resources.parse(text))


async def _settled_agent(handle: Any, agent: Any) -> str:
    """The fake agent's id once it registered (the master's HTTP answers before)."""
    await settle()
    assert agent.agent_id
    return str(agent.agent_id)


async def test_v1_operator_reserve_create_grow_shrink_destroy_unreserve_round_trip():
    async with v1_cluster() as (handle, [agent], session):
        url = handle.http.url
        agent_id = {"value": await _settled_agent(handle, agent)}

        async def operate(call: str, **body: Any) -> tuple[int, Any]:
            return await _call(
                session, url, {"type": call, call.lower(): {"agent_id": agent_id, **body}}
            )

        reserved = _v1(RESERVED)
        source = _v1("cpus:1;disk:100")
        assert await operate("RESERVE_RESOURCES", source=source, resources=reserved) == (202, "")
        assert await operate("CREATE_VOLUMES", volumes=_v1(VOLUME)) == (202, "")
        addition = _v1("disk(ops DYNAMIC principal=op):40")[0]
        grow = {"volume": _v1(VOLUME)[0], "addition": addition}
        assert await operate("GROW_VOLUME", **grow) == (202, "")
        master_agent = handle.master.cluster.agents[agent_id["value"]]
        assert master_agent.total.persistent_volumes() == Resources.parse(GROWN)
        shrink = {"volume": _v1(GROWN)[0], "subtract": {"value": 40}}
        assert await operate("SHRINK_VOLUME", **shrink) == (202, "")
        assert master_agent.total.persistent_volumes() == Resources.parse(VOLUME)

        # UNRESERVE of disk under a volume is a broken rule: 400 with the reason.
        status, reason = await operate("UNRESERVE_RESOURCES", resources=_v1(VOLUME))
        assert status == 400 and "DESTROY it first" in reason
        assert await operate("DESTROY_VOLUMES", volumes=_v1(VOLUME)) == (202, "")
        assert await operate("UNRESERVE_RESOURCES", resources=reserved) == (202, "")
        await settle()
        assert len(agent.checkpoints) == 6 and agent.checkpoints[-1] == Resources()
        assert master_agent.total == agent.resources
        assert handle.master.metrics["operator_operations/create"] == 1


@pytest.mark.parametrize(
    ("call", "body", "status", "reason"),
    [
        ("RESERVE_RESOURCES", {"resources": _v1("cpus(ops DYNAMIC principal=op):99")}, 409, ""),
        ("RESERVE_RESOURCES", {"resources": _v1("cpus:1")}, 400, "DYNAMIC"),
        (
            "RESERVE_RESOURCES",
            {"resources": _v1(RESERVED), "source": _v1("cpus:2")},
            400,
            "reserve_resources.source",
        ),
        ("RESERVE_RESOURCES", {"resources": [{"name": "cpus"}]}, 400, "type"),
        ("RESERVE_RESOURCES", {"resources": "cpus:1"}, 400, "expected an array"),
        ("UNRESERVE_RESOURCES", {"resources": _v1(RESERVED)}, 409, ""),
        (
            "CREATE_VOLUMES",
            {"volumes": _v1("disk(ops DYNAMIC principal=op)[db:../x principal=op]:1")},
            400,
            "..",
        ),
        ("CREATE_VOLUMES", {"volumes": [UNRESERVED_VOLUME]}, 400, "not reserved"),
        ("DESTROY_VOLUMES", {"volumes": _v1(VOLUME)}, 400, "does not have"),
        ("GROW_VOLUME", {"volume": _v1(VOLUME)[0]}, 400, "grow_volume.addition"),
        ("SHRINK_VOLUME", {"volume": _v1(VOLUME)[0]}, 400, "shrink_volume.subtract"),
        (
            "SHRINK_VOLUME",
            {"volume": _v1(VOLUME)[0], "subtract": {"value": 1}},
            400,
            "does not have",
        ),
    ],
)
async def test_v1_operator_resource_operations_refused_with_the_reason(call, body, status, reason):
    async with v1_cluster() as (handle, [agent], session):
        url = handle.http.url
        agent_id = await _settled_agent(handle, agent)
        call_body = {"agent_id": {"value": agent_id}, **body}
        answer = await _call(session, url, {"type": call, call.lower(): call_body})
        assert answer[0] == status and reason in answer[1]
        assert handle.master.cluster.agents[agent_id].total == agent.resources
        assert agent.checkpoints == []
        assert (await _call(session, url, {"type": "GET_HEALTH"}))[0] == 200


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        ({"type": "CREATE_VOLUMES"}, "create_volumes"),
        ({"type": "CREATE_VOLUMES", "create_volumes": {"volumes": []}}, "agent_id is required"),
        (
            {"type": "RESERVE_RESOURCES", "reserve_resources": {"agent_id": {"value": "nobody"}}},
            "no agent",
        ),
        ({"type": "DESTROY_VOLUMES", "destroy_volumes": []}, "expected a JSON object"),
    ],
)
async def test_v1_operator_resource_operations_bad_calls_get_400(call, reason):
    async with v1_cluster(agents=0) as (handle, _, session):
        status, text = await _call(session, handle.http.url, call)
        assert status == 400 and reason in text
