"""The web UI: one page, served by the master at `/`, its assets beside it in `static/`.

The page (`static/index.html`, `app.js`, `style.css`; no build step, nothing
fetched from elsewhere) reads only the master's public HTTP API (`/state`,
`/roles`, `/weights`, `/quota`) and each agent's (`/state`, `/files/read`),
so what it shows is what any other client of those endpoints would see. A
master that does not lead redirects `/` to the leader like any operator path.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

__all__ = ["STATIC_DIR", "add_webui_routes"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


def add_webui_routes(app: web.Application) -> None:
    """Serve the page at `/` (and `/index.html`) and its assets under `/static/`."""
    index = STATIC_DIR / "index.html"

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", page)
    app.router.add_get("/index.html", page)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
