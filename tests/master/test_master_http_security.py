"""The master's HTTP door with security on: TLS, basic authentication, and /actor for agents."""

from __future__ import annotations

import asyncio
import json
import ssl

import aiohttp

from master import MasterFlags, run_master
from tests.zmesos.test_http_guard import _basic, _self_signed
from zmesos.detector import HttpDetector, master_detector
from zmesos.node_security import SecurityFlags


async def test_master_http_security_tls_and_basic_authentication(tmp_path):
    cert, key = _self_signed(tmp_path)
    credentials = tmp_path / "http.json"
    credentials.write_text(json.dumps({"credentials": [{"principal": "ops", "secret": "pw"}]}))
    credentials.chmod(0o600)
    security = SecurityFlags(
        ssl_cert=cert,
        ssl_key=key,
        http_credentials=str(credentials),
        authenticate_http_readonly=True,
        authenticate_http_readwrite=True,
    )
    handle = await run_master(MasterFlags(ip="127.0.0.1", port=0), security=security)
    trusted = ssl.create_default_context(cafile=cert)
    try:
        assert handle.http.url.startswith("https://")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{handle.http.url}/state", ssl=trusted) as response:
                assert response.status == 401
                realm = response.headers["WWW-Authenticate"]
                assert realm == 'Basic realm="mesos-master-readonly"'
            async with session.get(
                f"{handle.http.url}/state", ssl=trusted, headers=_basic("ops", "pw")
            ) as response:
                assert response.status == 200
                assert (await response.json())["pid"] == str(handle.pid)
            call = {"type": "GET_HEALTH"}
            async with session.post(f"{handle.http.url}/api/v1", json=call, ssl=trusted) as r:
                assert r.status == 401
                assert r.headers["WWW-Authenticate"] == 'Basic realm="mesos-master-readwrite"'
            async with session.get(f"{handle.http.url}/health", ssl=trusted) as response:
                assert response.status == 200
        # Agents and schedulers find the actor over HTTPS (`--master https://...`).
        detector = master_detector(f"https://127.0.0.1:{handle.http.port}")
        assert isinstance(detector, HttpDetector)
        async with (
            aiohttp.ClientSession() as session,
            session.get(detector.url, ssl=trusted) as response,
        ):
            assert (await response.json())["pid"] == str(handle.pid)
    finally:
        await handle.stop()


async def test_master_http_guard_refusals_show_in_metrics_snapshot_and_prometheus(tmp_path):
    """Each of the HTTP door's refusals is counted where operators look: /metrics/snapshot
    and v1 GET_METRICS (`master/http_...`), Prometheus's /metrics (`zmesos_master_http_...`)."""
    credentials = tmp_path / "http.json"
    credentials.write_text(json.dumps({"credentials": [{"principal": "ops", "secret": "pw"}]}))
    credentials.chmod(0o600)
    security = SecurityFlags(
        http_credentials=str(credentials),
        authenticate_http_readonly=True,
        http_max_body_bytes=1024,
        http_request_timeout=0.3,
        http_max_connections_per_client=2,
    )
    handle = await run_master(MasterFlags(ip="127.0.0.1", port=0), security=security)
    url, port = handle.http.url, handle.http.port
    try:
        # A client that opens connections and sends nothing: the third is refused at once,
        # the first two are cut when their request does not come in time. (First, while
        # no other connection counts against the limit.)
        first, second, third = [await asyncio.open_connection("127.0.0.1", port) for _ in "123"]
        assert (await asyncio.wait_for(third[0].read(), 5)).startswith(b"HTTP/1.1 503")
        for reader, _ in (first, second):
            assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 408")
        for _, writer in (first, second, third):
            writer.close()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/state") as response:
                assert response.status == 401
            async with session.post(f"{url}/teardown", data=b"x" * 2048) as response:
                assert response.status == 413
        async with aiohttp.ClientSession(headers=_basic("ops", "pw")) as session:
            async with session.get(f"{url}/metrics/snapshot") as response:
                after = await response.json()
            async with session.get(f"{url}/metrics") as response:
                prometheus = await response.text()
            async with session.post(f"{url}/api/v1", json={"type": "GET_METRICS"}) as response:
                v1 = (await response.json())["get_metrics"]["metrics"]
        # GET_METRICS tells the same: the guard's counters, each as /metrics/snapshot has it.
        guard = {name: value for name, value in after.items() if "/http_" in name}
        assert {m["name"]: m["value"] for m in v1 if "/http_" in m["name"]} == guard
        assert after["master/http_requests_refused/unauthenticated"] == 1.0
        assert after["master/http_requests_refused/too_large"] == 1.0
        assert after["master/http_requests_timed_out"] == 2.0
        assert after["master/http_connections_refused"] == 1.0
        assert "zmesos_master_http_requests_timed_out 2.0" in prometheus
    finally:
        await handle.stop()
