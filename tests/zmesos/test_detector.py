"""Master detection: which address means what, and lookups that find no master."""

from __future__ import annotations

import pytest
from aiohttp import web

from libprocess import PID
from zmesos.detector import ActorDetector, HttpDetector, MasterNotFound, master_detector
from zmesos.errors import FlagsError
from zmesos.http import json_response, serve_app


def test_detector_address_forms():
    assert isinstance(master_detector("10.0.0.1:5050"), HttpDetector)
    assert master_detector("http://h:5050/").url == "http://h:5050/actor"
    assert master_detector("master@h:1").fixed == PID("master", "h", 1)
    assert isinstance(master_detector(PID("m", "h", 2)), ActorDetector)
    for bad in ("h", "h:0", "zz://h:1", "m@h", "h:1:2"):
        with pytest.raises(FlagsError, match="--master"):
            master_detector(bad)


@pytest.mark.parametrize(
    "answer",
    [
        lambda: web.Response(status=503),
        lambda: web.Response(text="not json"),
        lambda: json_response({"pid": "nonsense"}),
        lambda: json_response(["list"]),
    ],
)
async def test_detector_http_answer_that_is_not_a_master_is_not_found(answer):
    app = web.Application()

    async def actor(request: web.Request) -> web.StreamResponse:
        return answer()

    app.router.add_get("/actor", actor)
    server = await serve_app(app, "127.0.0.1", 0)
    try:
        with pytest.raises(MasterNotFound):
            await master_detector(f"127.0.0.1:{server.port}").detect()
    finally:
        await server.close()


async def test_detector_nobody_listening_is_not_found():
    server = await serve_app(web.Application(), "127.0.0.1", 0)
    port = server.port
    await server.close()
    with pytest.raises(MasterNotFound):
        await master_detector(f"127.0.0.1:{port}").detect()
