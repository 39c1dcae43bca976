"""A small async client of the key-value service (aiohttp)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

__all__ = ["KeyValueClient"]


class KeyValueClient:
    """Talks to one service endpoint; retries while it is starting, up to `timeout` seconds."""

    def __init__(self, host: str, port: int, *, timeout: float = 15.0) -> None:
        self.base = f"http://{host}:{port}"
        self.timeout = timeout

    async def put(self, key: str, value: str) -> None:
        await self._call("PUT", f"/keys/{key}", data=value.encode())

    async def get(self, key: str) -> str | None:
        status, body = await self._call("GET", f"/keys/{key}", missing_ok=True)
        return None if status == 404 else body.decode()

    async def _call(
        self, method: str, path: str, *, missing_ok: bool = False, **fields: Any
    ) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            try:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                    session.request(method, self.base + path, **fields) as response,
                ):
                    body = await response.read()
                    if response.status < 300 or (missing_ok and response.status == 404):
                        return response.status, body
                    raise RuntimeError(f"{method} {path}: HTTP {response.status} {body!r}")
            except (aiohttp.ClientConnectionError, TimeoutError):
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)
