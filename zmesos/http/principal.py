"""Who an HTTP request comes from: the principal HTTP authentication proved, if any.

The HTTP authentication middleware (basic authentication against
`--http-credentials`, zmesos.http.guard) puts the principal it checked in
`request[PRINCIPAL_KEY]`;
handlers read it here, and only here, to ask the ACLs. None when the request
did not authenticate (the ACLs then treat the subject as unknown: only rules
naming ANY principal allow it).
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["PRINCIPAL_KEY", "http_principal"]

PRINCIPAL_KEY = web.RequestKey("principal", str)


def http_principal(request: web.Request) -> str | None:
    principal = request.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, str) and principal else None
