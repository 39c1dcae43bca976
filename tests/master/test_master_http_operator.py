"""Operator endpoints that change the cluster: weights, quota, MARK_AGENT_GONE; bad input."""

from __future__ import annotations

import aiohttp

from master import MasterFlags, run_master


async def _call(session: aiohttp.ClientSession, method: str, url: str, body: object = None):
    data = body if isinstance(body, bytes) else None
    json_body = None if isinstance(body, bytes) else body
    async with session.request(method, url, json=json_body, data=data) as response:
        text = await response.text()
        return response.status, text


async def test_master_http_weights_quota_and_agent_gone_with_bad_input_refused():
    handle = await run_master(MasterFlags(ip="127.0.0.1", port=0, master_id="H"))
    assert handle.http is not None
    url = handle.http.url
    try:
        async with aiohttp.ClientSession() as session:
            ok = await _call(session, "PUT", f"{url}/weights", [{"role": "eng", "weight": 2}])
            assert ok[0] == 200
            status, text = await _call(session, "GET", f"{url}/weights")
            assert status == 200 and '"eng"' in text
            quota = {
                "role": "eng",
                "guarantee": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}}],
            }
            assert (await _call(session, "POST", f"{url}/quota", quota))[0] == 200
            status, text = await _call(session, "GET", f"{url}/master/quota")
            assert status == 200 and "1.5" in text
            assert (await _call(session, "DELETE", f"{url}/quota/eng"))[0] == 200

            refused = [
                ("PUT", "/weights", b"not json"),
                ("PUT", "/weights", {"role": "eng"}),
                ("PUT", "/weights", [{"role": "eng", "weight": "heavy"}]),
                ("PUT", "/weights", [{"role": "eng", "weight": 0}]),
                ("POST", "/quota", {"guarantee": []}),
                ("POST", "/quota", {"role": "eng", "guarantee": [{"name": "ports"}]}),
                ("POST", "/quota", {"role": "eng", "guarantees": {"cpus": -1}}),
                ("DELETE", "/quota/eng", None),
                ("POST", "/api/v1", {"type": "NOPE"}),
                ("POST", "/api/v1", {"type": "MARK_AGENT_GONE"}),
                (
                    "POST",
                    "/api/v1",
                    {"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "x"}}},
                ),
            ]
            for method, path, body in refused:
                status, text = await _call(session, method, f"{url}{path}", body)
                assert status == 400 and text, (method, path, body)
    finally:
        await handle.stop()
