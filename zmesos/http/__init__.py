"""HTTP pieces the master and the agent share (aiohttp): serving an app, JSON answers."""

from zmesos.http.principal import http_principal
from zmesos.http.server import HttpServer, json_response, serve_app

__all__ = ["HttpServer", "http_principal", "json_response", "serve_app"]
