"""The web UI in a real headless Chromium, against `zmesos local` (real processes).

One cluster for the module: two agents, a finished task, and a running task
whose framework and task are named with HTML (which must show as text). Each
view is saved as a PNG under `test-artifacts/webui/` (printed in the output).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import browser as chromium
from tests.e2e.browser import (
    click_link,
    console_errors,
    headless_chromium,
    table_rows,
    text_of,
    wait_until,
)
from tests.e2e.local import ENV, ROOT, LocalProcess, interrupt, zmesos, zmesos_local

pytestmark = pytest.mark.timeout(120)

ARTIFACTS = ROOT / "test-artifacts" / "webui"
HOSTILE = '<img src=x onerror="document.body.dataset.injected=1">'
OUTPUT = "webui-says-hello"
FINISHED = "finisher-says-goodbye"
# Prints, then (once the test creates `go` in its sandbox) prints again: the log view follows.
COMMAND = (
    f"echo {OUTPUT}; echo {OUTPUT}-on-stderr >&2; "
    f"while [ ! -e go ]; do sleep 0.1; done; echo {OUTPUT}-later; exec sleep 100"
)


class Cluster:
    def __init__(self, local: LocalProcess) -> None:
        self.local = local
        self.master = local.master
        self.url = local.url

    def state(self) -> Any:
        with urllib.request.urlopen(f"{self.url}state", timeout=10) as response:
            return json.load(response)

    def sandbox(self, agent_id: str, task_id: str) -> Path:
        """The task's sandbox, as its agent's /state tells (agents' HTTP: `http_address`)."""
        [agent] = [agent for agent in self.state()["slaves"] if agent["id"] == agent_id]
        url = f"http://{agent['http_address']}/state"
        with urllib.request.urlopen(url, timeout=10) as response:
            state = json.load(response)
        return Path(
            next(
                executor["directory"]
                for framework in state["frameworks"]
                for executor in framework["executors"]
                if any(task["id"] == task_id for task in executor["tasks"])
            )
        )

    def running_task(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for framework in self.state()["frameworks"]:
            for task in framework["tasks"]:
                if task["name"] == HOSTILE and task["state"] == "TASK_RUNNING":
                    return framework, task
        return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work_dir = tmp_path_factory.mktemp("webui-cluster")
    with zmesos_local(work_dir, "--agents", "2") as local:
        master = local.master
        finished = zmesos(
            "execute", "--master", master, "--name", "finisher", "--command", f"echo {FINISHED}"
        )
        assert finished.returncode == 0, finished.stderr
        _reserve_a_volume_weigh_and_guarantee(Cluster(local))
        running = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.named_scheduler", master, HOSTILE, COMMAND],
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
            env=ENV,
            start_new_session=True,
        )
        try:
            cluster = Cluster(local)
            _poll(cluster.running_task, "the task running")
            yield cluster
        finally:
            interrupt(running)


RESERVED = "cpus(ops DYNAMIC principal=op):0.5;disk(ops DYNAMIC principal=op):64"
VOLUME = "disk(ops DYNAMIC principal=op)[db:data principal=op]:64"


def _reserve_a_volume_weigh_and_guarantee(cluster: Cluster) -> None:
    """Role `ops`: a reservation and a volume on the first agent, weight 2, quota of 1 cpu."""
    agent = min(agent["id"] for agent in cluster.state()["slaves"])
    where = ["--master", cluster.master, "--agent", agent]
    for command in (
        ["reserve", "--resources", RESERVED],
        ["volumes", "create", "--volumes", VOLUME],
    ):
        result = zmesos(*command[:-2], *where, *command[-2:])
        assert result.returncode == 0, result.stderr
    for method, path, body in (
        ("PUT", "weights", [{"role": "ops", "weight": 2}]),
        ("POST", "quota", {"role": "ops", "guarantees": {"cpus": 1}}),
    ):
        request = urllib.request.Request(
            f"{cluster.url}{path}", data=json.dumps(body).encode(), method=method
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


def _poll(probe: Any, what: str) -> Any:
    """`probe()` every 0.1 s until it answers; fail after 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = probe()
        if answer:
            return answer
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _open(browser: Any, cluster: Cluster | LocalProcess, route: str, view: str) -> None:
    browser.get(f"{cluster.url}#/{route}")
    wait_until(browser, lambda d: d.find_elements("css selector", f'[data-view="{view}"]'), view)


def _screenshot(
    browser: Any, artifacts: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = artifacts / f"{name}.png"
    browser.save_screenshot(str(path))
    with capsys.disabled():
        print(f"\n  web UI screenshot: {path}", end="")


def test_webui_shows_agents_frameworks_and_tasks(browser, cluster, artifacts, capsys):
    assert f"web UI {cluster.url}" in cluster.local.lines[-1]
    framework, task = cluster.running_task() or ({}, {})
    agents = sorted(agent["id"] for agent in cluster.state()["slaves"])

    _open(browser, cluster, "", "overview")
    allocation = wait_until(browser, lambda d: table_rows(d, "allocation"), "the allocation")
    assert allocation["cpus"][:3] == ["cpus", "8", "0.1"], allocation
    _screenshot(browser, artifacts, "overview", capsys)

    _open(browser, cluster, "agents", "agents")
    wait_until(browser, lambda d: sorted(table_rows(d, "agents")) == agents, "both agents")
    _screenshot(browser, artifacts, "agents", capsys)

    click_link(browser, '[data-table="agents"]', task["slave_id"])
    wait_until(browser, lambda d: task["id"] in table_rows(d, "agent-tasks"), "its task")
    assert "cpus" in table_rows(browser, "agent-resources")
    _screenshot(browser, artifacts, "agent", capsys)

    _open(browser, cluster, "frameworks", "frameworks")
    frameworks = wait_until(browser, lambda d: table_rows(d, "frameworks"), "the frameworks")
    assert frameworks[framework["id"]][1:4] == [HOSTILE, "root", "*"], frameworks
    assert frameworks[framework["id"]][10] == "1.3%", frameworks  # 0.1 of 8 cpus, 32 of 8192 MB
    assert framework["id"] not in table_rows(browser, "completed-frameworks")
    _screenshot(browser, artifacts, "frameworks", capsys)

    _open(browser, cluster, "tasks", "tasks")
    wait_until(browser, lambda d: task["id"] in table_rows(d, "tasks"), "the running task")
    finished = wait_until(browser, lambda d: table_rows(d, "completed-tasks"), "the finished task")
    assert [cells[2] for cells in finished.values()] == ["FINISHED"], finished
    _screenshot(browser, artifacts, "tasks", capsys)

    click_link(browser, '[data-table="tasks"]', task["id"])
    history = wait_until(browser, lambda d: len(table_rows(d, "statuses")) == 3, "its history")
    history = [cells[1:3] for cells in table_rows(browser, "statuses").values()]
    assert history == [["STARTING", ""], ["RUNNING", ""], ["RUNNING", "healthy"]], history
    assert "Health\nhealthy" in text_of(browser, '[data-view="task"] dl')
    _screenshot(browser, artifacts, "task", capsys)

    _open(browser, cluster, f"agents/{agents[0]}", "agent")
    volumes = wait_until(browser, lambda d: table_rows(d, "volumes"), "the volume")
    assert volumes == {"db": ["db", "ops", "64 MB", "data", "RW", "op", "no"]}, volumes
    reservations = list(table_rows(browser, "reservations").values())
    assert ["ops", "cpus", "0.5", "DYNAMIC", "op", ""] in reservations, reservations
    _screenshot(browser, artifacts, "agent-reserved", capsys)

    _open(browser, cluster, "roles", "roles")
    roles = wait_until(browser, lambda d: table_rows(d, "roles"), "the roles")
    assert roles["*"][:4] == ["*", "1", "1", "cpus 0.1, mem 32 MB"], roles  # the running one
    assert roles["ops"] == ["ops", "2", "0", "", "cpus 0.5, disk 64 MB", "cpus 1", ""], roles
    _screenshot(browser, artifacts, "roles", capsys)
    assert console_errors(browser) == []


def test_webui_log_link_shows_the_task_output_and_follows_it(browser, cluster, artifacts, capsys):
    framework, task = cluster.running_task() or ({}, {})
    _open(browser, cluster, f"tasks/{framework['id']}/{task['id']}", "task")
    files = wait_until(browser, lambda d: table_rows(d, "sandbox"), "the sandbox's files")
    assert files["stdout"][:1] + files["stdout"][2:3] == ["stdout", f"{len(OUTPUT) + 1} B"], files
    _screenshot(browser, artifacts, "task-sandbox", capsys)
    download = browser.execute_script(
        "return document.querySelector('[data-table=sandbox] tr[data-id=stdout] td:last-child a')"
        ".href"
    )
    with urllib.request.urlopen(download, timeout=10) as response:
        assert response.read().decode() == f"{OUTPUT}\n"

    click_link(browser, '[data-view="task"] dl', "stdout")
    wait_until(browser, lambda d: OUTPUT in _log(d, "stdout"), "the task's stdout")
    assert f"{OUTPUT}-later" not in _log(browser, "stdout")
    (cluster.sandbox(task["slave_id"], task["id"]) / "go").touch()
    wait_until(browser, lambda d: f"{OUTPUT}-later" in _log(d, "stdout"), "more stdout, followed")
    assert _log(browser, "stdout").split() == [OUTPUT, f"{OUTPUT}-later"]
    _screenshot(browser, artifacts, "log", capsys)

    click_link(browser, '[data-view="log"]', "stderr")
    wait_until(browser, lambda d: f"{OUTPUT}-on-stderr" in _log(d, "stderr"), "the task's stderr")

    # A finished task's sandbox is read the same way (its executor is among the completed).
    [(framework, task)] = [
        (framework, task)
        for framework in cluster.state()["completed_frameworks"]
        for task in framework["completed_tasks"]
        if task["name"] == "finisher"
    ]
    _open(browser, cluster, f"logs/{task['slave_id']}/{framework['id']}/{task['id']}/stdout", "log")
    wait_until(browser, lambda d: FINISHED in _log(d, "stdout"), "the finished task's stdout")
    assert console_errors(browser) == []


def _log(browser: Any, file: str) -> str:
    return text_of(browser, f'pre[data-log="{file}"]')


def test_webui_shows_hostile_names_as_text(browser, cluster):
    framework, task = cluster.running_task() or ({}, {})
    for table, row_id in (("tasks", task["id"]), ("frameworks", framework["id"])):
        _open(browser, cluster, table, table)
        rows = wait_until(browser, lambda d, t=table: table_rows(d, t), f"the {table}")
        assert HOSTILE in rows[row_id], rows
        assert browser.find_elements("css selector", "#view img") == []
        assert browser.execute_script("return document.body.dataset.injected") is None
    _open(browser, cluster, f"frameworks/{framework['id']}", "framework")
    assert framework["webui_url"] == f"javascript:{HOSTILE}"
    assert "Web UI" not in text_of(browser, '[data-view="framework"] dl')
    assert browser.execute_script("return document.querySelector('a[href^=javascript]')") is None
    _open(browser, cluster, f"tasks/{framework['id']}/{task['id']}", "task")
    details = text_of(browser, '[data-view="task"] dl')
    assert f"Name\n{HOSTILE}" in details and f"note={HOSTILE}" in details, details
    assert browser.find_elements("css selector", "#view img") == []
    assert browser.execute_script("return document.body.dataset.injected") is None
    assert console_errors(browser) == []


def test_webui_keeps_refreshing(browser, cluster):
    _open(browser, cluster, "", "overview")
    seen = int(browser.execute_script("return document.body.dataset.refreshes || 0"))
    wait_until(
        browser,
        lambda d: int(d.execute_script("return document.body.dataset.refreshes || 0")) > seen,
        "a refresh",
    )


def test_webui_unknown_route_says_so(browser, cluster):
    _open(browser, cluster, "nowhere", "missing")
    _open(browser, cluster, "tasks/nope/nope", "missing")
    assert "No task nope" in text_of(browser, "#view")


def test_webui_after_the_examples_with_stay(browser, artifacts, capsys, tmp_path):
    """`zmesos local --example --stay` (`make run STAY=1`) stays up after the examples."""
    with zmesos_local(tmp_path, "--agents", "2", "--example", "--stay") as local:
        line = local.read_until("web UI ", timeout=90)
        assert line == f"web UI {local.url} ; Ctrl-C stops the cluster"
        assert "every key survived the kill" in "\n".join(local.lines)
        browser.get(f"{local.url}#/tasks")
        wait_until(browser, lambda d: len(table_rows(d, "completed-tasks")) > 3, "the tasks")
        _screenshot(browser, artifacts, "example-tasks", capsys)
        _open(browser, local, "frameworks", "frameworks")
        wait_until(browser, lambda d: table_rows(d, "completed-frameworks"), "the frameworks")
        _screenshot(browser, artifacts, "example-frameworks", capsys)
        _open(browser, local, "", "overview")
        wait_until(browser, lambda d: "TASK_FINISHED" in table_rows(d, "task-states"), "tasks")
        _screenshot(browser, artifacts, "example-overview", capsys)


@pytest.mark.timeout(60)  # the module's shared cluster may be torn down after it
def test_webui_browser_that_cannot_start_fails_under_ci_and_skips_elsewhere(monkeypatch, tmp_path):
    monkeypatch.setattr(chromium, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot start"), headless_chromium(tmp_path):
        pass
    monkeypatch.delenv("CI")
    with (
        pytest.raises(pytest.skip.Exception, match="no-chromium is missing"),
        headless_chromium(tmp_path),
    ):
        pass
