"""Query parameters of the read-only endpoints, validated: a bad one answers 400 with one line.

Mesos ignores a malformed `limit` or `offset` and serves its default; we refuse
it instead, so a typo in a script shows up rather than silently paging wrong.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

__all__ = ["BadQuery", "allow_any_origin", "query_int", "refusing_bad_queries"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadQuery(Exception):
    """A query parameter that is not what the endpoint takes; the message says why."""


def query_int(query: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """The integer parameter `name` (`default` when absent); BadQuery below `minimum`."""
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise BadQuery(f"{name}: {text[:64]!r} is not a whole number") from None
    if value < minimum:
        raise BadQuery(f"{name}: must be at least {minimum}, got {value}")
    return value


def refusing_bad_queries(handler: Handler) -> Handler:
    """Wrap `handler`: its BadQuery becomes 400 with the reason as one line of text."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadQuery as error:
            return web.Response(status=400, text=f"{error}\n")

    return handle


def allow_any_origin(handler: Handler) -> Handler:
    """Wrap a read-only GET handler: its answer may be read by a page of any origin
    (`Access-Control-Allow-Origin: *`), as the web UI served by the master reads agents'
    files from their own ports."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            error.headers["Access-Control-Allow-Origin"] = "*"
            raise
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    return handle
