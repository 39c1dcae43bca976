"""The operator commands against a master and an agent that serve HTTPS only and want HTTP
basic authentication for every read and write (real processes, a self-signed certificate)."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import free_port
from tests.e2e.local import ENV, ROOT, ZMESOS, LocalProcess, interrupt
from tests.zmesos.test_http_guard import _self_signed
from zmesos.authentication import Credential
from zmesos.cli import main
from zmesos.cli.master_api import ApiUnavailable, ClusterApi

pytestmark = pytest.mark.timeout(120)

ACCESS_VARIABLES = ("ZMESOS_HTTP_CREDENTIAL", "ZMESOS_CA_CERT")


class SecureCluster:
    """A master and one agent, both `--ssl-cert` and `--authenticate-http-read{only,write}`."""

    def __init__(self, directory: Path, master: LocalProcess, agent: LocalProcess) -> None:
        self.directory = directory
        self.master = master.master  # https://127.0.0.1:PORT
        self.processes = [agent, master]
        self.cert = str(directory / "cert.pem")
        self.ops = str(directory / "ops.json")
        self.wrong = str(directory / "wrong.json")
        self.env = {**ENV, "SSL_CERT_FILE": self.cert}  # for `zmesos execute`'s /actor lookup

    def api(self) -> ClusterApi:
        trusted = ssl.create_default_context(cafile=self.cert)
        return ClusterApi(self.master, Credential("ops", "ops-secret"), trusted)

    def access(self) -> list[str]:
        return ["--master", self.master, "--http-credential", self.ops, "--ca-cert", self.cert]


def _write(path: Path, document: object) -> str:
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    return str(path)


def _start(name: str, arguments: list[str], env: dict[str, str], address: str) -> LocalProcess:
    process = subprocess.Popen(
        [*ZMESOS, name, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    started = LocalProcess(process, address)
    started.read_until(name)
    return started


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    directory = tmp_path_factory.mktemp("cli-security")
    cert, key = _self_signed(directory)
    credentials = {"credentials": [{"principal": "ops", "secret": "ops-secret"}]}
    http_credentials = _write(directory / "http.json", credentials)
    _write(directory / "ops.json", {"principal": "ops", "secret": "ops-secret"})
    _write(directory / "wrong.json", {"principal": "ops", "secret": "guess"})
    secure = [
        "--ip",
        "127.0.0.1",
        "--ssl-cert",
        cert,
        "--ssl-key",
        key,
        "--http-credentials",
        http_credentials,
        "--authenticate-http-readonly",
        "--authenticate-http-readwrite",
    ]
    port = free_port()
    master_url = f"https://127.0.0.1:{port}"
    env = {**ENV, "SSL_CERT_FILE": cert}
    master = _start("master", [*secure, "--port", str(port)], env, master_url)
    try:
        agent_arguments = [
            *secure,
            "--master",
            master_url,
            "--port",
            "0",
            "--work-dir",
            str(directory / "agent"),
            "--resources",
            "cpus:2;mem:512;disk:512",
        ]
        agent = _start("agent", agent_arguments, env, master_url)
    except BaseException:
        interrupt(master.process)
        raise
    running = SecureCluster(directory, master, agent)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                metrics = running.api().get_json("/metrics/snapshot")
                if metrics.get("master/slaves_active") == 1:
                    break
            except ApiUnavailable:
                pass
            assert time.monotonic() < deadline, "the agent never registered"
            time.sleep(0.2)
        yield running
    finally:
        for started in running.processes:
            interrupt(started.process)


@pytest.fixture
def no_access_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ACCESS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def _zmesos(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ZMESOS, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**ENV, **(env or {})},
    )


def _run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """`zmesos ARGUMENTS` in this process: (status, stdout, stderr)."""
    try:
        status = main(list(arguments))
    except SystemExit as leaving:
        status = int(leaving.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_cli_security_views_with_the_credential_and_the_ca_certificate(
    cluster, capsys, no_access_environment
):
    status, out, err = _run(capsys, "agents", *cluster.access())
    assert status == 0, err
    assert out.startswith("ID") and out.count("\n") == 2 and "yes" in out
    status, out, err = _run(capsys, "state", "--json", *cluster.access())
    assert status == 0, err
    assert json.loads(out)["slaves"][0]["active"] is True
    status, out, err = _run(capsys, "volumes", "list", *cluster.access())
    assert (status, out) == (0, "AGENT\tROLE\tID\tPATH\tMODE\tMB\tSHARED\n"), err
    status, out, err = _run(capsys, "top", "--iterations", "1", *cluster.access())
    assert status == 0 and "HOSTNAME" in out, err


def test_cli_security_views_refused_in_one_line_without_access(
    cluster, capsys, no_access_environment
):
    master, cert = cluster.master, cluster.cert
    status, _, err = _run(capsys, "state", "--master", master, "--ca-cert", cert)
    assert status == 1
    assert "HTTP 401: authentication required (give --http-credential FILE)" in _one_line(err)
    status, _, err = _run(
        capsys, "tasks", "--master", master, "--ca-cert", cert, "--http-credential", cluster.wrong
    )
    assert status == 1
    assert "HTTP 401: the credential of principal 'ops' was refused" in _one_line(err)
    status, _, err = _run(capsys, "agents", "--master", master, "--http-credential", cluster.ops)
    assert status == 1
    assert "certificate verify failed" in _one_line(err) and "--ca-cert" in err
    plain = master.replace("https://", "http://")
    status, _, err = _run(capsys, "frameworks", "--master", plain, "--ca-cert", cert)
    assert status == 1 and f"cannot reach {plain}" in _one_line(err)


def test_cli_security_access_flags_read_from_the_environment(cluster):
    answer = _zmesos(
        "agents",
        "--master",
        cluster.master,
        env={"ZMESOS_HTTP_CREDENTIAL": cluster.ops, "ZMESOS_CA_CERT": cluster.cert},
    )
    assert answer.returncode == 0 and answer.stdout.startswith("ID"), answer.stderr


def test_cli_security_reserve_unreserve_logs_and_agent_gone(cluster, capsys, no_access_environment):
    [agent] = cluster.api().get_json("/slaves")["slaves"]
    where = [*cluster.access(), "--agent", agent["id"]]
    reserved = "cpus(ops DYNAMIC principal=ops):0.5"
    status, _, err = _run(
        capsys, "reserve", "--master", cluster.master, "--ca-cert", cluster.cert,
        "--agent", agent["id"], "--resources", reserved,
    )  # fmt: skip
    assert status == 1 and "HTTP 401" in _one_line(err)
    status, out, err = _run(capsys, "reserve", *where, "--resources", reserved)
    assert status == 0 and out.startswith("reserved"), err
    status, out, err = _run(capsys, "unreserve", *where, "--resources", reserved)
    assert status == 0 and out.startswith("unreserved"), err

    execute = _zmesos(
        "execute",
        "--master",
        cluster.master,
        "--command",
        "echo hello over tls",
        "--timeout",
        "60",
        env=cluster.env,
    )
    assert execute.returncode == 0, execute.stdout + execute.stderr
    [task_id] = [line.split()[0] for line in execute.stdout.splitlines() if "TASK_FINISHED" in line]
    status, out, err = _run(capsys, "logs", task_id, *cluster.access())
    assert (status, out) == (0, "hello over tls\n"), err

    status, out, err = _run(capsys, "agent", "gone", agent["id"], *cluster.access())
    assert (status, out) == (0, "agent marked gone\n"), err
    gone = cluster.api().get_json("/state")["gone_slaves"]
    assert [entry["id"] for entry in gone] == [agent["id"]]


def test_cli_security_bad_access_flags_stop_with_one_line(tmp_path, monkeypatch, capsys):
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    missing = str(tmp_path / "missing.json")
    cases = [
        (["state", "--http-credential", missing], {}, "--http-credential: "),
        (["logs", "t", "--ca-cert", str(not_pem)], {}, "--ca-cert: cannot load"),
        (["agents"], {"ZMESOS_HTTP_CREDENTIAL": missing}, "ZMESOS_HTTP_CREDENTIAL: "),
        (["reserve", "--master", "h:1", "--agent", "a", "--resources", "cpus:1",
          "--ca-cert", missing], {}, "--ca-cert: "),
        (["agent", "--master", "127.0.0.1:1", "--http-credential", missing], {},
         "--http-credential is for `agent gone`"),
    ]  # fmt: skip
    for arguments, environment, reason in cases:
        with monkeypatch.context() as patched:
            for variable in ACCESS_VARIABLES:
                patched.delenv(variable, raising=False)
            for variable, value in environment.items():
                patched.setenv(variable, value)
            status, _, err = _run(capsys, *arguments)
        assert status == 2, err
        assert reason in _one_line(err)
