"""POST /reserve, /unreserve, /create-volumes, /destroy-volumes over real sockets; /state's view."""

from __future__ import annotations

import json

import aiohttp

from libprocess import Node, clock
from libprocess.testing import settle
from master import serve_http
from tests.master.fakes import start_cluster
from zmesos.resources import Resources
from zmesos.v1.resources import resources_to_v1

RESERVED = "cpus(ops DYNAMIC principal=op):1;disk(ops DYNAMIC principal=op):100"
VOLUME = "disk(ops DYNAMIC principal=op)[db:data principal=op]:100"


def _json(text: str) -> str:
    return json.dumps(resources_to_v1(Resources.parse(text)))


async def _post(url: str, **fields: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, data=fields) as response:
        return response.status, await response.text()


async def test_master_http_volumes_reserve_create_destroy_unreserve_round_trip():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        agent_id = cluster.agent.agent_id
        server = await serve_http(cluster.master_pid, node, "127.0.0.1", 0)
        try:
            url = server.url
            status, _ = await _post(f"{url}/reserve", slaveId=agent_id, resources=_json(RESERVED))
            assert status == 202
            await settle()
            assert cluster.agent.checkpoints[-1] == Resources.parse(RESERVED)
            assert cluster.master.metrics["offers_rescinded"] == 1  # the offer held it all

            status, _ = await _post(
                f"{url}/master/create-volumes", slaveId=agent_id, volumes=_json(VOLUME)
            )
            assert status == 202
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{url}/state") as response,
            ):
                state = await response.json()
            [agent] = state["slaves"]
            [volume] = [r for r in agent["reserved_resources_full"]["ops"] if "disk" in r]
            assert volume["disk"]["persistence"]["id"] == "db"
            assert volume["disk"]["volume"]["container_path"] == "data"

            status, text = await _post(
                f"{url}/unreserve", slaveId=agent_id, resources=_json(VOLUME)
            )
            assert (status, "DESTROY it first" in text) == (400, True)
            status, _ = await _post(
                f"{url}/destroy-volumes", slaveId=agent_id, volumes=_json(VOLUME)
            )
            assert status == 202
            status, _ = await _post(f"{url}/unreserve", slaveId=agent_id, resources=_json(RESERVED))
            assert status == 202
            await settle()
            assert cluster.agent.checkpoints[-1] == Resources()
            assert cluster.master.cluster.agents[agent_id].total == cluster.agent.resources
        finally:
            await server.close()


async def test_master_http_volumes_conflicts_and_bad_input():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        agent_id = cluster.agent.agent_id
        server = await serve_http(cluster.master_pid, node, "127.0.0.1", 0)
        try:
            url = f"{server.url}/reserve"
            too_much = _json("cpus(ops DYNAMIC principal=op):100")
            assert (await _post(url, slaveId=agent_id, resources=too_much))[0] == 409
            assert (await _post(url, slaveId="nobody", resources=_json(RESERVED)))[0] == 400
            assert (await _post(url, resources=_json(RESERVED)))[0] == 400
            assert (await _post(url, slaveId=agent_id, resources="[not json"))[0] == 400
            assert (await _post(url, slaveId=agent_id, resources='[{"name": 1}]'))[0] == 400
            assert (await _post(url, slaveId=agent_id, resources=_json("cpus:1")))[0] == 400
            volumes = f"{server.url}/create-volumes"
            escaping = _json("disk(ops DYNAMIC principal=op)[db:../x principal=op]:1")
            status, text = await _post(volumes, slaveId=agent_id, volumes=escaping)
            assert status == 400 and ".." in text
            async with (
                aiohttp.ClientSession() as session,
                session.post(url, data=b"{", headers={"Content-Type": "application/json"}) as bad,
            ):
                assert bad.status == 400
            await settle()
            assert cluster.agent.checkpoints == []
            assert (
                cluster.master.metrics["operator_operations_refused"] == 4
            )  # the rest never reach it
        finally:
            await server.close()
