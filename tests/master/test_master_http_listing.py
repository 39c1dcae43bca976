"""The master's listing endpoints, /flags, /teardown and /metrics (Prometheus) over real sockets.

Each answer is checked against the fields Mesos's own endpoint gives (the
`MESOS_*` key sets below, from Mesos's master: readonly_handler and http).
"""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from libprocess import Node, clock
from libprocess.testing import settle
from master import MasterFlags, serve_http
from tests.master.fakes import command_task, framework_info, start_cluster
from zmesos.http.shapes import format_duration, format_flags
from zmesos.protocol import TaskState

MESOS_AGENT_SUMMARY = {
    "id",
    "pid",
    "hostname",
    "registered_time",
    "resources",
    "used_resources",
    "offered_resources",
    "reserved_resources",
    "unreserved_resources",
    "attributes",
    "active",
    "framework_ids",
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_KILLED",
    "TASK_FAILED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_UNREACHABLE",
}
MESOS_FRAMEWORK_SUMMARY = {
    "id",
    "name",
    "pid",
    "used_resources",
    "offered_resources",
    "capabilities",
    "hostname",
    "webui_url",
    "active",
    "connected",
    "recovered",
    "slave_ids",
    "TASK_STAGING",
    "TASK_RUNNING",
    "TASK_FINISHED",
}
MESOS_FRAMEWORK = {
    "id",
    "name",
    "pid",
    "used_resources",
    "offered_resources",
    "capabilities",
    "hostname",
    "webui_url",
    "active",
    "connected",
    "recovered",
    "user",
    "failover_timeout",
    "checkpoint",
    "registered_time",
    "unregistered_time",
    "roles",
    "tasks",
    "unreachable_tasks",
    "completed_tasks",
    "offers",
    "executors",
    "resources",
}
MESOS_AGENT = {
    "id",
    "pid",
    "hostname",
    "registered_time",
    "resources",
    "used_resources",
    "offered_resources",
    "reserved_resources",
    "unreserved_resources",
    "attributes",
    "active",
    "reserved_resources_full",
    "port",
}
MESOS_TASK = {
    "id",
    "name",
    "framework_id",
    "executor_id",
    "slave_id",
    "state",
    "resources",
    "role",
    "statuses",
}
MESOS_ROLE = {"name", "weight", "frameworks", "resources", "allocated", "offered", "reserved"}


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with session.get(url) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def test_master_http_listing_endpoints_answer_in_mesos_shapes():
    clock.pause()
    async with Node() as node:
        cluster = await start_cluster(node)
        framework_id = cluster.scheduler.framework_id
        [offer] = cluster.scheduler.take_offers()
        tasks = [command_task(offer, f"t{n}", "cpus:0.5;mem:32") for n in range(3)]
        cluster.driver.launch_tasks([offer.id], tasks)
        await settle()
        clock.advance(1)
        cluster.agent.update(framework_id, "t0", TaskState.FINISHED)
        await settle()
        server = await serve_http(cluster.master_pid, node, "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session:
                status, summary = await _get(session, f"{server.url}/state-summary")
                assert status == 200
                [agent] = summary["slaves"]
                assert set(agent) >= MESOS_AGENT_SUMMARY
                assert agent["TASK_RUNNING"] == 2 and agent["TASK_FINISHED"] == 1
                assert agent["framework_ids"] == [framework_id]
                [framework] = summary["frameworks"]
                assert set(framework) >= MESOS_FRAMEWORK_SUMMARY
                assert framework["slave_ids"] == [cluster.agent.agent_id]

                status, frameworks = await _get(session, f"{server.url}/master/frameworks")
                assert status == 200
                assert {"frameworks", "completed_frameworks", "unregistered_frameworks"} <= set(
                    frameworks
                )
                [framework] = frameworks["frameworks"]
                assert set(framework) >= MESOS_FRAMEWORK
                _, none = await _get(session, f"{server.url}/frameworks?framework_id=nope")
                assert none["frameworks"] == []

                status, slaves = await _get(session, f"{server.url}/slaves")
                assert status == 200 and set(slaves) == {"slaves", "recovered_slaves"}
                [agent] = slaves["slaves"]
                assert set(agent) >= MESOS_AGENT
                assert agent["http_address"] == f"{cluster.agent.pid.host}:{agent['port']}"
                _, agents = await _get(session, f"{server.url}/agents")
                assert agents["agents"] == slaves["slaves"]

                status, listed = await _get(session, f"{server.url}/tasks")
                assert status == 200
                assert {t["id"] for t in listed["tasks"]} == {"t0", "t1", "t2"}
                for task in listed["tasks"]:
                    assert set(task) >= MESOS_TASK
                _, oldest = await _get(session, f"{server.url}/tasks?order=asc&limit=1")
                _, newest = await _get(session, f"{server.url}/tasks?order=desc&limit=1")
                assert len(oldest["tasks"]) == len(newest["tasks"]) == 1
                _, paged = await _get(session, f"{server.url}/tasks?limit=2&offset=2")
                assert len(paged["tasks"]) == 1
                _, one = await _get(
                    session, f"{server.url}/tasks?framework_id={framework_id}&task_id=t0"
                )
                assert [(t["id"], t["state"]) for t in one["tasks"]] == [("t0", "TASK_FINISHED")]
                _, other = await _get(session, f"{server.url}/tasks?framework_id=nope")
                assert other["tasks"] == []

                status, roles = await _get(session, f"{server.url}/roles")
                assert status == 200
                [role] = roles["roles"]
                assert set(role) >= MESOS_ROLE
                assert role["name"] == "*" and role["frameworks"] == [framework_id]
                assert role["allocated"]["cpus"] == 1.0

                status, flags = await _get(session, f"{server.url}/flags")
                assert status == 200
                assert flags["flags"]["allocation_interval"] == "1secs"
                assert flags["flags"]["agent_ping_timeout"] == "15secs"
                assert flags["flags"]["filter_gpu_resources"] == "true"
                _, state = await _get(session, f"{server.url}/state")
                assert state["flags"] == flags["flags"]
        finally:
            await server.close()


async def test_master_http_listing_bad_query_parameters_answer_400_with_one_line():
    async with Node() as node:
        cluster = await start_cluster(node)
        server = await serve_http(cluster.master_pid, node, "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session:
                for query in (
                    "limit=ten",
                    "limit=-1",
                    "offset=1.5",
                    "offset=-3",
                    "order=sideways",
                    "limit=99999999999999999999999x",
                ):
                    status, text = await _get(session, f"{server.url}/tasks?{query}")
                    assert status == 400, query
                    assert isinstance(text, str) and text.count("\n") == 1 and text.strip()
        finally:
            await server.close()


async def test_master_http_teardown_removes_the_framework_and_refuses_bad_requests():
    async with Node() as node:
        cluster = await start_cluster(node)
        framework_id = cluster.scheduler.framework_id
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1", "cpus:1;mem:32")])
        await settle()
        server = await serve_http(cluster.master_pid, node, "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session:
                url = f"{server.url}/teardown"
                async with session.post(url, data={}) as response:
                    assert response.status == 400 and "frameworkId" in await response.text()
                async with session.post(url, data={"frameworkId": "nope"}) as response:
                    assert response.status == 400 and "nope" in await response.text()
                async with session.post(url, data={"frameworkId": framework_id}) as response:
                    assert response.status == 200
                await settle()
                _, frameworks = await _get(session, f"{server.url}/frameworks")
                assert frameworks["frameworks"] == []
                [gone] = frameworks["completed_frameworks"]
                assert gone["id"] == framework_id
                assert [t["state"] for t in gone["completed_tasks"]] == ["TASK_KILLED"]
                assert cluster.scheduler.errors, "the scheduler hears it was torn down"
        finally:
            await server.close()


async def test_master_http_prometheus_metrics_parse_with_prometheus_client():
    async with Node() as node:
        cluster = await start_cluster(node)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1", "cpus:1;mem:32")])
        await settle()
        server = await serve_http(cluster.master_pid, node, "127.0.0.1", 0)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{server.url}/metrics") as response,
            ):
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                text = await response.text()
        finally:
            await server.close()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    assert families["zmesos_allocation_cycle_seconds"].type == "histogram"
    assert samples[("zmesos_allocation_cycle_seconds_count", ())] >= 1
    assert ("zmesos_allocation_cycle_seconds_bucket", (("le", "+Inf"),)) in samples
    assert families["zmesos_offers"].type == "counter"
    assert samples[("zmesos_offers_total", ())] >= 1
    assert samples[("zmesos_tasks", (("state", "TASK_RUNNING"),))] == 1
    assert samples[("zmesos_agents", (("status", "active"),))] == 1
    assert samples[("zmesos_frameworks", (("status", "active"),))] == 1
    assert families["zmesos_messages_dropped"].type == "counter"
    assert ("zmesos_messages_dropped_total", (("reason", "refused_by_master"),)) in samples
    assert samples[("zmesos_master_tasks_running", ())] == 1


def test_master_flags_format_as_mesos_prints_them():
    assert format_duration(15.0) == "15secs"
    assert format_duration(600.0) == "10mins"
    assert format_duration(90.0) == "1.5mins"
    assert format_duration(0.2) == "200ms"
    assert format_duration(14 * 86400.0) == "2weeks"
    assert format_duration(0.0) == "0ns"
    flags = format_flags(MasterFlags(offer_timeout=None, registry_gc_interval=900.0))
    assert flags["offer_timeout"] == ""
    assert flags["registry_gc_interval"] == "15mins"
    assert flags["max_agent_ping_timeouts"] == "5"
    assert all(isinstance(value, str) for value in flags.values())


async def test_master_roles_allocation_leaves_out_a_terminal_task_awaiting_acknowledgement():
    """A task that ended gives its resources back at once (Mesos too), though it stays listed
    until its framework acknowledges the update: /roles and GET_ROLES no longer count it."""
    from master.authorization import Viewer
    from master.listing_views import roles_view
    from master.v1.operator_views import get_roles

    clock.pause()
    async with Node() as node:
        info = framework_info(roles=("web",))
        cluster = await start_cluster(node, framework=info, implicit_acknowledgements=False)
        [offer] = cluster.scheduler.take_offers()
        cluster.driver.launch_tasks([offer.id], [command_task(offer, "t1", "cpus:1;mem:128")])
        await settle()
        master = cluster.master

        def allocated() -> tuple[object, object]:
            [role] = roles_view(master)["roles"]
            [v1] = get_roles(master, {}, Viewer())["roles"]
            return role["allocated"].get("cpus", 0.0), v1["allocated"]

        assert allocated()[0] == 1.0
        cluster.agent.update(cluster.scheduler.framework_id, "t1", TaskState.FINISHED)
        await settle()
        [task] = master.cluster.tasks()  # listed until acknowledged
        assert task.state is TaskState.FINISHED
        assert allocated() == (0.0, [])
