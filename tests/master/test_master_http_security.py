"""The master's HTTP door with security on: TLS, basic authentication, and /actor for agents."""

from __future__ import annotations

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
