"""The GETs the ACLs guard (get_endpoints), as Mesos guards its authorizable endpoints.

The master and the agent each name theirs (`/metrics/snapshot`, and the like)
and how to ask their ACLs; `endpoint_authorization` makes the middleware that
asks before such a GET (or HEAD) is served: the object is the endpoint's path
without the process prefix (`/master/...`, `/slave(1)/...`, `/agent/...`), the
subject the principal HTTP authentication proved. A denial is answered 403;
the actor that decided logs and counts it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from libprocess import ProcessTerminated
from zmesos.http.principal import http_principal

__all__ = ["Authorize", "endpoint_authorization", "endpoint_path"]

# (principal, path) -> may that principal GET that path
Authorize = Callable[[str | None, str], Awaitable[bool]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_PROCESS_PREFIXES = ("/master/", "/slave(1)/", "/agent/")
_READS = frozenset({"GET", "HEAD"})


def endpoint_path(path: str) -> str:
    """`path` without the process prefix it may be served under."""
    for prefix in _PROCESS_PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix) - 1 :]
    return path


def endpoint_authorization(guarded: frozenset[str], authorize: Authorize) -> Any:
    """Middleware: a GET of a path in `guarded` is served only if `authorize` allows it."""

    @web.middleware
    async def authorizing_gets(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = endpoint_path(request.path)
        if request.method not in _READS or path not in guarded:
            return await handler(request)
        try:
            allowed = await authorize(http_principal(request), path)
        except ProcessTerminated:
            return web.Response(status=503, text="not running\n")
        if not allowed:
            return web.Response(status=403, text=f"Not authorized to GET {path}\n")
        return await handler(request)

    return authorizing_gets
