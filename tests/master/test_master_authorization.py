"""ACLs at the master: each action allowed for one principal and denied to another, through the
actor API (registration, launches, offer operations) and through HTTP (operator endpoints, the
v1 operator and scheduler APIs, /state). Every denial is refused to the caller and counted."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from frameworks import SchedulerDriver
from libprocess import Node, clock
from libprocess.testing import settle
from master import Master, MasterFlags
from master.http import make_app
from tests.master.fakes import FakeAgent, Recorder, command_task, framework_info, start_cluster
from tests.master.test_master_authentication import (
    ALICE,
    MALLORY,
    authenticated_agent,
    credentials_file,
)
from tests.master.test_master_operations import AGENT, RESERVED, VOLUME, op
from tests.master.v1_client import V1Scheduler
from zmesos.authorization import ACTIONS
from zmesos.http import serve_app
from zmesos.http.principal import PRINCIPAL_KEY
from zmesos.protocol import Filters, Operation, OperationType, Reason, TaskState
from zmesos.resources import Resources

# The stand-in for HTTP authentication stores the principal under a plain key, as it does.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

ANY = {"type": "ANY"}
NONE = {"type": "NONE"}


def only_alice(*actions: str) -> dict[str, object]:
    """ACLs letting principal alice do `actions` (on anything) and nobody else."""
    document: dict[str, object] = {"permissive": True}
    for action in actions:
        field = ACTIONS[action]
        document[action] = [
            {"principals": {"values": ["alice"]}, field: ANY},
            {"principals": ANY, field: NONE},
        ]
    return document


def acls_file(tmp_path, document: dict[str, object]) -> str:
    path = tmp_path / "acls.json"
    path.write_text(json.dumps(document))
    return str(path)


def flags(tmp_path, *actions: str, **fields: object) -> MasterFlags:
    return MasterFlags(master_id="M", acls=acls_file(tmp_path, only_alice(*actions)), **fields)  # type: ignore[arg-type]


# -- the actor API -------------------------------------------------------------------


@pytest.mark.parametrize("principal", ["alice", "mallory"])
async def test_master_acl_register_frameworks(tmp_path, principal):
    clock.pause()
    async with Node() as node:
        master = Master(flags(tmp_path, "register_frameworks"))
        master_pid = node.spawn(master)
        scheduler = Recorder()
        info = framework_info(principal=principal, roles=("web",))
        node.spawn(SchedulerDriver(scheduler, info, master_pid))
        await settle()
        if principal == "alice":
            assert scheduler.framework_id and not scheduler.errors
        else:
            assert scheduler.errors == ["Not authorized to use role 'web' (principal 'mallory')"]
            assert not master.cluster.frameworks
            assert master.metrics["authorization_denials/register_frameworks"] == 1


@pytest.mark.parametrize("credential", [ALICE, MALLORY])
async def test_master_acl_register_agents(tmp_path, credential):
    clock.pause()
    async with Node() as node:
        credentials = credentials_file(tmp_path, ALICE, MALLORY)
        master = Master(flags(tmp_path, "register_agents", credentials=credentials))
        master_pid = node.spawn(master)
        agent = await authenticated_agent(node, master_pid, credential)
        if credential is ALICE:
            assert agent.agent_id and master.cluster.agents
        else:
            assert not agent.agent_id and not master.cluster.agents
            assert master.metrics["authorization_denials/register_agents"] == 1


@pytest.mark.parametrize("principal", ["alice", "mallory"])
async def test_master_acl_run_tasks(tmp_path, principal):
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(
            node, flags(tmp_path, "run_tasks"), framework=framework_info(principal=principal)
        )
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await settle()
        [status] = cluster.scheduler.statuses
        if principal == "alice":
            assert status.state == TaskState.RUNNING
        else:
            assert (status.state, status.reason) == (TaskState.ERROR, Reason.TASK_UNAUTHORIZED)
            assert "Not authorized to launch as user 'tester'" in status.message
            assert not cluster.agent.launched
            assert cluster.master.metrics["authorization_denials/run_tasks"] == 1


def _as(text: str, principal: str) -> str:
    return text.replace("principal=p", f"principal={principal}")


def _shrink(principal: str) -> Operation:
    [volume] = Resources.parse(_as(VOLUME, principal)).to_list()
    return Operation(type=OperationType.SHRINK_VOLUME, volume=volume, subtract=100.0)


# action -> the operations of one Accept, the guarded one last
OPERATIONS = {
    "reserve_resources": lambda p: [op(OperationType.RESERVE, _as(RESERVED, p))],
    "unreserve_resources": lambda p: [
        op(OperationType.RESERVE, _as(RESERVED, p)),
        op(OperationType.UNRESERVE, _as(RESERVED, p)),
    ],
    "create_volumes": lambda p: [
        op(OperationType.RESERVE, _as(RESERVED, p)),
        op(OperationType.CREATE, _as(VOLUME, p)),
    ],
    "destroy_volumes": lambda p: [
        op(OperationType.RESERVE, _as(RESERVED, p)),
        op(OperationType.CREATE, _as(VOLUME, p)),
        op(OperationType.DESTROY, _as(VOLUME, p)),
    ],
    "resize_volumes": lambda p: [
        op(OperationType.RESERVE, _as(RESERVED, p)),
        op(OperationType.CREATE, _as(VOLUME, p)),
        _shrink(p),
    ],
}


@pytest.mark.parametrize("principal", ["alice", "mallory"])
@pytest.mark.parametrize("action", sorted(OPERATIONS))
async def test_master_acl_offer_operations(tmp_path, action, principal):
    clock.pause()
    async with Node() as node:
        info = framework_info(principal=principal, roles=("db",))
        cluster = await start_cluster(
            node, flags(tmp_path, action), framework=info, resources=AGENT
        )
        [offer] = cluster.scheduler.take_offers()
        operations = OPERATIONS[action](principal)
        cluster.driver.accept([offer.id], operations, Filters(refuse_seconds=0))
        await settle()
        metrics = cluster.master.metrics
        if principal == "alice":
            assert metrics["operations_applied"] == len(operations)
            assert metrics["authorization_denials"] == 0
        else:
            assert metrics["operations_applied"] == len(operations) - 1
            assert metrics["operations_refused/unauthorized"] == 1
            assert metrics[f"authorization_denials/{action}"] == 1


# -- HTTP ------------------------------------------------------------------------------

PRINCIPAL_HEADER = "X-Test-Principal"


@web.middleware
async def _principal_from_header(request: web.Request, handler):
    """Stands in for HTTP authentication: the principal the request proved."""
    if PRINCIPAL_HEADER in request.headers:
        request[PRINCIPAL_KEY] = request.headers[PRINCIPAL_HEADER]
    return await handler(request)


class HttpCluster:
    def __init__(self, node: Node, master: Master, url: str, agent: FakeAgent) -> None:
        self.node = node
        self.master = master
        self.url = url
        self.agent = agent

    def session(self, principal: str) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers={PRINCIPAL_HEADER: principal})


@contextlib.asynccontextmanager
async def http_cluster(tmp_path, document: dict[str, object]) -> AsyncIterator[HttpCluster]:
    async with Node() as node:
        master = Master(
            MasterFlags(master_id="M", acls=acls_file(tmp_path, document), allocation_interval=0.05)
        )
        master_pid = node.spawn(master)
        app = make_app(master_pid, node, "127.0.0.1")
        app.middlewares.insert(0, _principal_from_header)
        server = await serve_app(app, "127.0.0.1", 0)
        agent = FakeAgent(master_pid, AGENT)
        node.spawn(agent)
        try:
            for _ in range(500):
                if agent.agent_id:
                    break
                await asyncio.sleep(0.01)
            assert agent.agent_id, "the agent did not register"
            yield HttpCluster(node, master, server.url, agent)
        finally:
            await server.close()


async def _status(session: aiohttp.ClientSession, method: str, url: str, **kw) -> int:
    async with session.request(method, url, **kw) as response:
        await response.read()
        return response.status


ALL = sorted(set(ACTIONS) - {"register_agents"})  # the fake agent does not authenticate


async def test_master_acl_http_operator_endpoints_allow_alice_and_forbid_mallory(tmp_path):
    async with http_cluster(tmp_path, only_alice(*ALL)) as cluster:
        agent_id = cluster.agent.agent_id
        url = cluster.url
        reserve = {"slaveId": agent_id, "resources": Resources.parse(_as(RESERVED, "alice"))}
        volumes = {"slaveId": agent_id, "volumes": Resources.parse(_as(VOLUME, "alice"))}

        def form(fields: dict[str, object]) -> dict[str, str]:
            from zmesos.v1.resources import resources_to_v1

            return {
                k: v if isinstance(v, str) else json.dumps(resources_to_v1(v))  # type: ignore[arg-type]
                for k, v in fields.items()
            }

        weights = [{"role": "db", "weight": 2}]
        quota = {"role": "db", "guarantees": {"cpus": 1}}
        steps = [
            ("POST", "/reserve", {"data": form(reserve)}, "reserve_resources"),
            ("POST", "/create-volumes", {"data": form(volumes)}, "create_volumes"),
            ("POST", "/destroy-volumes", {"data": form(volumes)}, "destroy_volumes"),
            ("POST", "/unreserve", {"data": form(reserve)}, "unreserve_resources"),
            ("PUT", "/weights", {"json": weights}, "update_weights"),
            ("POST", "/quota", {"json": quota}, "update_quotas"),
        ]
        async with cluster.session("mallory") as mallory, cluster.session("alice") as alice:
            for method, path, body, action in steps:
                assert await _status(mallory, method, f"{url}{path}", **body) == 403, path
                assert cluster.master.metrics[f"authorization_denials/{action}"] >= 1, action
                allowed = 202 if "/weights" not in path and "/quota" not in path else 200
                assert await _status(alice, method, f"{url}{path}", **body) == allowed, path
            async with alice.get(f"{url}/quota") as response:
                assert "db" in await response.text()
            async with mallory.get(f"{url}/quota") as response:
                assert json.loads(await response.text()) == {"configs": []}
            assert cluster.master.metrics["authorization_denials/get_quotas"] == 1
            assert await _status(mallory, "DELETE", f"{url}/quota/db") == 403
            assert await _status(alice, "DELETE", f"{url}/quota/db") == 200


async def test_master_acl_v1_operator_calls_allow_alice_and_forbid_mallory(tmp_path):
    async with http_cluster(tmp_path, only_alice(*ALL)) as cluster:
        api = f"{cluster.url}/api/v1"
        agent_id = {"value": cluster.agent.agent_id}
        gone = {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": agent_id}}
        calls = [
            (
                {
                    "type": "UPDATE_WEIGHTS",
                    "update_weights": {"weight_infos": [{"role": "db", "weight": 3}]},
                },
                "update_weights",
            ),
            (
                {
                    "type": "UPDATE_QUOTA",
                    "update_quota": {"quota_configs": [{"role": "db", "guarantees": {"cpus": 1}}]},
                },
                "update_quotas",
            ),
            (gone, "mark_agents_gone"),
        ]
        async with cluster.session("mallory") as mallory, cluster.session("alice") as alice:
            for call, action in calls:
                assert await _status(mallory, "POST", api, json=call) == 403, action
                assert cluster.master.metrics[f"authorization_denials/{action}"] >= 1
                assert await _status(alice, "POST", api, json=call) == 200, action
            async with mallory.post(api, json={"type": "GET_QUOTA"}) as response:
                assert (await response.json())["get_quota"]["status"]["configs"] == []


async def test_master_acl_views_filter_state_and_the_operator_api(tmp_path):
    async with http_cluster(tmp_path, only_alice(*ALL)) as cluster:
        scheduler = Recorder()
        driver = SchedulerDriver(scheduler, framework_info(principal="alice"), cluster.master.pid)
        cluster.node.spawn(driver)
        while not scheduler.offers:
            await asyncio.sleep(0.01)
        [offer] = scheduler.take_offers()
        driver.launch_tasks([offer.id], [command_task(offer, "t1")])
        await settle()
        api = f"{cluster.url}/api/v1"
        async with cluster.session("mallory") as mallory, cluster.session("alice") as alice:
            async with alice.get(f"{cluster.url}/state") as response:
                seen = await response.json()
            assert len(seen["agents"]) == 1 and len(seen["frameworks"]) == 1
            assert [t["id"] for t in seen["frameworks"][0]["tasks"]] == ["t1"]
            async with mallory.get(f"{cluster.url}/state") as response:
                hidden = await response.json()
            assert hidden["agents"] == [] and hidden["frameworks"] == []
            async with mallory.post(api, json={"type": "GET_STATE"}) as response:
                state = (await response.json())["get_state"]
            assert state["get_agents"]["agents"] == []
            assert state["get_frameworks"]["frameworks"] == []
            assert state["get_tasks"]["tasks"] == []
            async with alice.post(api, json={"type": "GET_TASKS"}) as response:
                assert len((await response.json())["get_tasks"]["tasks"]) == 1
            for path, key in (
                ("/frameworks", "frameworks"),
                ("/slaves", "slaves"),
                ("/tasks", "tasks"),
                ("/state-summary", "frameworks"),
            ):
                async with alice.get(f"{cluster.url}{path}") as response:
                    assert (await response.json())[key], path
                async with mallory.get(f"{cluster.url}{path}") as response:
                    assert (await response.json())[key] == [], path
        metrics = cluster.master.metrics
        for action in ("view_agents", "view_frameworks", "view_tasks"):
            assert metrics[f"authorization_denials/{action}"] >= 1, action


async def test_master_acl_teardown_frameworks_over_http(tmp_path):
    async with http_cluster(tmp_path, only_alice(*ALL)) as cluster:
        scheduler = Recorder()
        driver = SchedulerDriver(scheduler, framework_info(principal="alice"), cluster.master.pid)
        cluster.node.spawn(driver)
        while not scheduler.framework_id:
            await asyncio.sleep(0.01)
        body = {"frameworkId": scheduler.framework_id}
        v1 = {"type": "TEARDOWN", "teardown": {"framework_id": {"value": scheduler.framework_id}}}
        async with cluster.session("mallory") as mallory, cluster.session("alice") as alice:
            assert await _status(mallory, "POST", f"{cluster.url}/teardown", data=body) == 403
            assert await _status(mallory, "POST", f"{cluster.url}/api/v1", json=v1) == 403
            assert scheduler.framework_id in cluster.master.cluster.frameworks
            assert await _status(alice, "POST", f"{cluster.url}/teardown", data=body) == 200
            assert scheduler.framework_id not in cluster.master.cluster.frameworks
            assert await _status(alice, "POST", f"{cluster.url}/teardown", data=body) == 400
        assert cluster.master.metrics["authorization_denials/teardown_frameworks"] == 2


@pytest.mark.parametrize("principal", ["alice", "mallory"])
async def test_master_acl_register_frameworks_over_the_v1_scheduler_api(tmp_path, principal):
    cluster: HttpCluster
    async with http_cluster(tmp_path, only_alice("register_frameworks")) as cluster:
        session = cluster.session(principal)
        async with session:
            scheduler = V1Scheduler(cluster.url, session)
            first = await scheduler.subscribe({"user": "me", "name": "v1", "roles": ["web"]})
        if principal == "alice":
            assert first["type"] == "SUBSCRIBED"
            [framework] = cluster.master.cluster.frameworks.values()
            assert framework.info.principal == "alice" and framework.authenticated
        else:
            assert first["type"] == "ERROR"
            assert "Not authorized to use role 'web'" in first["error"]["message"]


# -- Mesos's finer points: subtrees of roles, reservations without a principal -------------

ENG_SUBTREE = {
    "register_frameworks": [
        {"principals": {"values": ["alice"]}, "roles": {"values": ["eng/%"]}},
        {"principals": ANY, "roles": NONE},
    ],
    "reserve_resources": [
        {"principals": {"values": ["alice"]}, "roles": {"values": ["eng/%"]}},
        {"principals": ANY, "roles": NONE},
    ],
}


@pytest.mark.parametrize(("role", "allowed"), [("eng/web", True), ("eng", False)])
async def test_master_acl_subtree_of_roles_registers_frameworks(tmp_path, role, allowed):
    clock.pause()
    async with Node() as node:
        master = Master(MasterFlags(master_id="M", acls=acls_file(tmp_path, ENG_SUBTREE)))
        master_pid = node.spawn(master)
        scheduler = Recorder()
        info = framework_info(principal="alice", roles=(role,))
        node.spawn(SchedulerDriver(scheduler, info, master_pid))
        await settle()
        if allowed:
            assert scheduler.framework_id and not scheduler.errors
        else:
            assert scheduler.errors == ["Not authorized to use role 'eng' (principal 'alice')"]
            assert master.metrics["authorization_denials/register_frameworks"] == 1


async def test_master_acl_subtree_of_roles_over_http(tmp_path):
    async with http_cluster(tmp_path, ENG_SUBTREE) as cluster:
        async with cluster.session("alice") as alice:
            for role, status in (("eng/web", 202), ("engineering", 403)):
                text = f"cpus({role} DYNAMIC principal=alice):1"
                form = {"slaveId": cluster.agent.agent_id, "resources": _v1(text)}
                assert await _status(alice, "POST", f"{cluster.url}/reserve", data=form) == status
            for role, subscribed in (("eng/web/a", True), ("eng", False)):
                scheduler = V1Scheduler(cluster.url, alice)
                first = await scheduler.subscribe({"user": "me", "name": role, "roles": [role]})
                assert (first["type"] == "SUBSCRIBED") is subscribed, first
        assert cluster.master.metrics["authorization_denials/reserve_resources"] == 1


def _v1(text: str) -> str:
    from zmesos.v1.resources import resources_to_v1

    return json.dumps(resources_to_v1(Resources.parse(text)))


# A reservation made without a principal is asked about as "any reserver" (Mesos): only
# rules whose reserver_principals are ANY or NONE match it; one listing principals does not.
NO_PRINCIPAL = "cpus(db DYNAMIC):1;mem(db DYNAMIC):256"
UNRESERVE_ACLS = {
    "allowed": {
        "unreserve_resources": [
            {"principals": ANY, "reserver_principals": {"values": ["p"]}},
            {"principals": ANY, "reserver_principals": ANY},
        ]
    },
    "denied": {"unreserve_resources": [{"principals": ANY, "reserver_principals": NONE}]},
}


@pytest.mark.parametrize("case", sorted(UNRESERVE_ACLS))
async def test_master_acl_unreserve_of_a_reservation_without_a_principal(tmp_path, case):
    clock.pause()
    async with Node() as node:
        flags = MasterFlags(master_id="M", acls=acls_file(tmp_path, UNRESERVE_ACLS[case]))
        info = framework_info(roles=("db",))  # no principal: reserves without one
        cluster = await start_cluster(node, flags, framework=info, resources=AGENT)
        [offer] = cluster.scheduler.take_offers()
        operations = [
            op(OperationType.RESERVE, NO_PRINCIPAL),
            op(OperationType.UNRESERVE, NO_PRINCIPAL),
        ]
        cluster.driver.accept([offer.id], operations, Filters(refuse_seconds=0))
        await settle()
        metrics = cluster.master.metrics
        if case == "allowed":
            assert metrics["operations_applied"] == 2
        else:
            assert metrics["operations_applied"] == 1
            assert metrics["authorization_denials/unreserve_resources"] == 1


async def test_master_acl_unreserve_without_a_principal_over_http(tmp_path):
    document = {
        "unreserve_resources": [
            {"principals": {"values": ["alice"]}, "reserver_principals": ANY},
            {"principals": {"values": ["mallory"]}, "reserver_principals": {"values": ["p"]}},
            {"principals": ANY, "reserver_principals": NONE},
        ]
    }
    async with http_cluster(tmp_path, document) as cluster:
        form = {"slaveId": cluster.agent.agent_id, "resources": _v1(NO_PRINCIPAL)}
        reserve, unreserve = f"{cluster.url}/reserve", f"{cluster.url}/unreserve"
        async with aiohttp.ClientSession() as nobody:  # no principal: reserves without one
            assert await _status(nobody, "POST", reserve, data=form) == 202
        async with cluster.session("mallory") as mallory, cluster.session("alice") as alice:
            assert await _status(mallory, "POST", unreserve, data=form) == 403
            assert await _status(alice, "POST", unreserve, data=form) == 202
        assert cluster.master.metrics["authorization_denials/unreserve_resources"] == 1


async def test_master_acl_view_roles_filters_roles_and_weights(tmp_path):
    async with http_cluster(tmp_path, only_alice("view_roles")) as cluster:
        url, api = cluster.url, f"{cluster.url}/api/v1"
        async with aiohttp.ClientSession() as nobody:  # neither is guarded here
            weights = [{"role": "db", "weight": 2}]
            assert await _status(nobody, "PUT", f"{url}/weights", json=weights) == 200
            form = {"slaveId": cluster.agent.agent_id, "resources": _v1("cpus(db DYNAMIC):1")}
            assert await _status(nobody, "POST", f"{url}/reserve", data=form) == 202
        async with cluster.session("mallory") as mallory, cluster.session("alice") as alice:
            for session, seen in ((alice, ["db"]), (mallory, [])):
                for path, key in (("/state", "slaves"), ("/slaves", "slaves")):
                    async with session.get(f"{url}{path}") as response:
                        [agent] = (await response.json())[key]
                    assert list(agent["reserved_resources"]) == seen, path
                    assert list(agent["reserved_resources_full"]) == seen, path
                async with session.get(f"{url}/roles") as response:
                    assert [role["name"] for role in (await response.json())["roles"]] == seen
                async with session.get(f"{url}/weights") as response:
                    assert [entry["role"] for entry in await response.json()] == seen
                async with session.post(api, json={"type": "GET_ROLES"}) as response:
                    roles = (await response.json())["get_roles"]["roles"]
                    assert [role["name"] for role in roles] == seen
                async with session.post(api, json={"type": "GET_WEIGHTS"}) as response:
                    infos = (await response.json())["get_weights"]["weight_infos"]
                    assert [info["role"] for info in infos] == seen
        assert cluster.master.metrics["authorization_denials/view_roles"] == 6


class _Events:
    """Stands in for an operator event stream: records what the master sends."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def send(self, event: dict[str, object]) -> None:
        self.events.append(event)


def _names(resources: list[dict[str, object]]) -> list[tuple[object, object]]:
    """(name, role) of each v1 resource; role `*` unless its last reservation names one."""
    return sorted(
        (r["name"], r["reservations"][-1]["role"] if r.get("reservations") else "*")  # type: ignore[index]
        for r in resources
    )


async def test_master_acl_view_roles_filters_v1_agents_and_events(tmp_path):
    """GET_AGENTS, GET_STATE's agents and the event stream show the resources of a role only
    to whom view_roles lets see it: reserved to it, allocated to it or offered to it (Mesos);
    a visible framework keeps its roles (Mesos hides frameworks by view_frameworks only)."""
    clock.pause()
    async with Node() as node:
        info = framework_info(roles=("db",))
        resources = "cpus:2;cpus(db):1;mem:1024"
        cluster = await start_cluster(
            node, flags(tmp_path, "view_roles"), framework=info, resources=resources
        )
        master = cluster.master
        mallory_events, alice_events = _Events(), _Events()
        master.subscribe_operator(mallory_events, "mallory")
        master.subscribe_operator(alice_events, "alice")

        def agent(principal: str) -> dict[str, object]:
            [seen] = master.operator_view("GET_AGENTS", principal)["agents"]
            state = master.operator_view("GET_STATE", principal)
            assert state["get_agents"]["agents"] == [seen]
            return seen

        everything = [("cpus", "*"), ("cpus", "db"), ("mem", "*")]
        unreserved = [("cpus", "*"), ("mem", "*")]
        for principal, total in (("alice", everything), ("mallory", unreserved)):
            seen = agent(principal)
            assert _names(seen["total_resources"]) == total, principal
            assert _names(seen["agent_info"]["resources"]) == total, principal
        assert _names(agent("alice")["offered_resources"]) == everything
        assert agent("mallory")["offered_resources"] == []  # all of it is offered to db

        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1", "cpus:1;mem:128")])
        await settle()
        assert _names(agent("alice")["allocated_resources"]) == unreserved
        assert agent("mallory")["allocated_resources"] == []
        [framework] = master.operator_view("GET_STATE", "mallory")["get_frameworks"]["frameworks"]
        assert framework["framework_info"]["roles"] == ["db"]
        assert framework["allocated_resources"]  # GET_FRAMEWORKS is not filtered by role

        def updated(events: _Events) -> dict[str, object]:
            return [
                e["framework_updated"]["framework"]  # type: ignore[index]
                for e in events.events
                if e["type"] == "FRAMEWORK_UPDATED"
            ][-1]

        cluster.driver.stop(failover=True)  # the framework disconnects: FRAMEWORK_UPDATED
        await settle()
        assert _names(updated(alice_events)["allocated_resources"]) == unreserved
        assert updated(mallory_events)["allocated_resources"] == []
        assert master.metrics["authorization_denials/view_roles"] > 0


def test_master_viewer_sees_a_refined_reservation_only_with_its_ancestors():
    from master.authorization import Viewer
    from zmesos.resources import ReservationInfo

    [cpus] = Resources.parse("cpus:1").to_list()
    refined = cpus.with_reservations(
        (ReservationInfo(type="DYNAMIC", role="db"), ReservationInfo(type="DYNAMIC", role="db/a"))
    )
    viewer = Viewer(lambda action, role: role != "db")
    assert not viewer.resource(refined) and viewer.hidden["view_roles"] == 1
    assert viewer.resources(Resources([refined, cpus])) == Resources([cpus])
    assert viewer.resources(Resources([cpus]), allocated_to="db") == Resources()
    assert Viewer().resources(Resources([refined])) == Resources([refined])


async def test_master_acl_get_endpoints(tmp_path):
    async with http_cluster(tmp_path, only_alice("get_endpoints")) as cluster:
        async with cluster.session("mallory") as mallory, cluster.session("alice") as alice:
            for path in ("/metrics/snapshot", "/metrics"):
                assert await _status(alice, "GET", f"{cluster.url}{path}") == 200, path
                assert await _status(mallory, "GET", f"{cluster.url}{path}") == 403, path
            assert await _status(mallory, "GET", f"{cluster.url}/state") == 200  # not guarded
            # GET_METRICS answers the numbers of /metrics/snapshot: guarded as it is.
            call, api = {"type": "GET_METRICS"}, f"{cluster.url}/api/v1"
            assert await _status(alice, "POST", api, json=call) == 200
            async with mallory.post(api, json=call) as response:
                assert response.status == 403
                assert "Not authorized to GET /metrics/snapshot" in await response.text()
        assert cluster.master.metrics["authorization_denials/get_endpoints"] == 3


async def test_master_acl_view_flags(tmp_path):
    async with http_cluster(tmp_path, only_alice("view_flags")) as cluster:
        url, call = cluster.url, {"type": "GET_FLAGS"}
        async with cluster.session("mallory") as mallory, cluster.session("alice") as alice:
            for session, allowed in ((alice, True), (mallory, False)):
                for path in ("/flags", "/master/flags"):
                    async with session.get(f"{url}{path}") as response:
                        assert (response.status == 200) is allowed, path
                async with session.post(f"{url}/api/v1", json=call) as response:
                    assert (response.status == 200) is allowed
                async with session.get(f"{url}/state") as response:
                    assert ("flags" in await response.json()) is allowed
        assert cluster.master.metrics["authorization_denials/view_flags"] == 4
