"""The HTTP door of the master and the agent: limits, basic authentication, TLS.

The request deadline guards real sockets, so, like the transport's deadlines,
it runs on real time: these tests use a fraction of a second.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from zmesos.errors import FlagsError
from zmesos.http import http_principal, serve_app
from zmesos.http.guard import HttpSecurity, ssl_context
from zmesos.node_security import SecurityFlags

CREDENTIALS = {"ops": "s3cret"}


def _app() -> web.Application:
    async def state(request: web.Request) -> web.Response:
        return web.json_response({"principal": http_principal(request)})

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/state", state)
    app.router.add_post("/echo", echo)
    app.router.add_get("/health", health)
    return app


async def _raw(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


def _basic(principal: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{principal}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_http_guard_partial_header_is_cut_after_the_request_timeout():
    server = await serve_app(_app(), "127.0.0.1", 0, HttpSecurity(request_timeout=0.3))
    try:
        reader, writer = await _raw(server.port, b"GET /state HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = asyncio.get_running_loop().time()
        answer = await asyncio.wait_for(reader.read(), 5)  # until the server closes
        waited = asyncio.get_running_loop().time() - started
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408")
        assert 0.2 < waited < 3
        assert server.guard is not None
        assert server.guard.metrics["requests_timed_out"] == 1
    finally:
        await server.close()


async def test_http_guard_partial_body_is_cut_and_a_whole_request_is_not():
    server = await serve_app(_app(), "127.0.0.1", 0, HttpSecurity(request_timeout=0.3))
    try:
        head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
        reader, writer = await _raw(server.port, head + b"only ten..")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no answer
        writer.close()
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{server.url}/echo", data=b"x" * 100) as response,
        ):
            assert response.status == 200 and await response.read() == b"x" * 100
    finally:
        await server.close()


async def test_http_guard_oversized_body_is_refused_413_and_long_header_400():
    server = await serve_app(
        _app(), "127.0.0.1", 0, HttpSecurity(max_body_bytes=1000, max_header_bytes=512)
    )
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{server.url}/echo", data=b"x" * 1001) as response:
                assert response.status == 413
            chunked = _chunks(b"x" * 3000)  # no Content-Length: cut while read
            async with session.post(f"{server.url}/echo", data=chunked) as response:
                assert response.status == 413
            async with session.get(f"{server.url}/state", headers={"X-Big": "y" * 600}) as r:
                assert r.status == 400
            async with session.post(f"{server.url}/echo", data=b"x" * 1000) as response:
                assert response.status == 200
    finally:
        await server.close()


async def _chunks(data: bytes):
    for start in range(0, len(data), 500):
        yield data[start : start + 500]


async def test_http_guard_too_many_connections_from_one_client_are_refused():
    server = await serve_app(
        _app(), "127.0.0.1", 0, HttpSecurity(max_connections_per_client=2, request_timeout=5)
    )
    try:
        held = [await _raw(server.port, b"") for _ in range(2)]
        reader, writer = await _raw(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503")
        assert server.guard is not None and server.guard.metrics["connections_refused"] == 1
        _, first = held.pop()
        first.close()
        await asyncio.sleep(0.1)
        reader, writer = await _raw(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
        writer.close()
        for _, other in held:
            other.close()
    finally:
        await server.close()


async def test_http_guard_basic_authentication_allows_and_denies():
    security = HttpSecurity(
        role="mesos-master",
        credentials=CREDENTIALS,
        authenticate_readonly=True,
        authenticate_readwrite=False,
    )
    server = await serve_app(_app(), "127.0.0.1", 0, security)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/state") as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"] == 'Basic realm="mesos-master-readonly"'
            for headers in (
                _basic("ops", "wrong"),
                _basic("nobody", "s3cret"),
                {"Authorization": "Basic !!notbase64"},
                {"Authorization": "Bearer s3cret"},
            ):
                async with session.get(f"{server.url}/state", headers=headers) as response:
                    assert response.status == 401
            async with session.get(f"{server.url}/state", headers=_basic("ops", "s3cret")) as r:
                assert r.status == 200 and (await r.json())["principal"] == "ops"
            async with session.get(f"{server.url}/health") as response:
                assert response.status == 200  # always open
            async with session.post(f"{server.url}/echo", data=b"hi") as response:
                assert response.status == 200  # read-write is not required here
        assert server.guard is not None
        assert server.guard.metrics["requests_refused/401"] == 5
    finally:
        await server.close()


async def test_http_guard_readwrite_authentication_covers_posts_only():
    security = HttpSecurity(credentials=CREDENTIALS, authenticate_readwrite=True)
    server = await serve_app(_app(), "127.0.0.1", 0, security)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{server.url}/echo", data=b"hi") as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"] == 'Basic realm="mesos-readwrite"'
            auth = _basic("ops", "s3cret")
            async with session.post(f"{server.url}/echo", data=b"hi", headers=auth) as response:
                assert response.status == 200
            async with session.get(f"{server.url}/state") as response:
                assert response.status == 200
    finally:
        await server.close()


def _self_signed(directory: Path) -> tuple[str, str]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return str(cert), str(key)


async def test_http_guard_tls_serves_https_with_a_self_signed_certificate(tmp_path):
    cert, key = _self_signed(tmp_path)
    server = await serve_app(_app(), "127.0.0.1", 0, HttpSecurity(ssl=ssl_context(cert, key)))
    try:
        assert server.url.startswith("https://")
        trusted = ssl.create_default_context(cafile=cert)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/health", ssl=trusted) as response:
                assert response.status == 200 and await response.text() == "ok"
            with pytest.raises(aiohttp.ClientError):  # plain HTTP is not served
                async with session.get(f"http://127.0.0.1:{server.port}/health") as response:
                    await response.read()
    finally:
        await server.close()


def test_http_guard_bad_flags_are_one_line_errors(tmp_path):
    cert, _ = _self_signed(tmp_path)
    cases = [
        ({"ssl_cert": cert}, "--ssl-cert and --ssl-key go together"),
        ({"ssl_cert": cert, "ssl_key": str(tmp_path / "missing.pem")}, "cannot load"),
        ({"authenticate_http_readonly": True}, "need --http-credentials"),
        ({"http_credentials": str(tmp_path / "none.json")}, "--http-credentials"),
        ({"http_request_timeout": 0.0}, "--http-request-timeout must be > 0"),
        ({"http_max_connections_per_client": -1}, "must be >= 0"),
        ({"curve_keys": str(tmp_path / "nokeys")}, "--curve-keys: curve key directory"),
    ]
    for values, message in cases:
        with pytest.raises(FlagsError, match=message) as caught:
            SecurityFlags(**values)
        assert "\n" not in str(caught.value)


async def test_http_guard_keep_alive_idles_but_a_partial_next_request_is_cut():
    server = await serve_app(_app(), "127.0.0.1", 0, HttpSecurity(request_timeout=0.3))
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        reader, writer = await _raw(server.port, request)
        assert (await asyncio.wait_for(reader.readuntil(b"ok"), 5)).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(0.6)  # idle past the request timeout: still open
        writer.write(request)
        assert (await asyncio.wait_for(reader.readuntil(b"ok"), 5)).startswith(b"HTTP/1.1 200")
        writer.write(b"GET /health HTTP/1.1\r\nHo")  # a next request begins, never ends
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 408")
        writer.close()
    finally:
        await server.close()
