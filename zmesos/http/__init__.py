"""HTTP pieces the master and the agent share (aiohttp): serving an app behind its guard
(limits, basic authentication, TLS), JSON answers."""

from zmesos.http.guard import HttpGuard, HttpSecurity
from zmesos.http.principal import http_principal
from zmesos.http.server import HttpServer, guard_snapshot, json_response, serve_app

__all__ = [
    "HttpGuard",
    "HttpSecurity",
    "HttpServer",
    "guard_snapshot",
    "http_principal",
    "json_response",
    "serve_app",
]
