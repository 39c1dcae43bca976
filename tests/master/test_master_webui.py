"""The web UI's page and assets as the master serves them (no browser: tests/e2e/test_webui.py)."""

from __future__ import annotations

import re

import aiohttp
from aiohttp import web

from master.webui import STATIC_DIR, add_webui_routes
from zmesos.http import serve_app

ASSETS = sorted(path.name for path in STATIC_DIR.iterdir())
MEDIA_TYPES = {
    "html": ("text/html",),
    "js": ("text/javascript", "application/javascript"),
    "css": ("text/css",),
}


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.content_type, await response.text()


async def test_master_webui_serves_the_page_and_its_assets():
    app = web.Application()
    add_webui_routes(app)
    server = await serve_app(app, "127.0.0.1", 0)
    try:
        status, kind, page = await _get(f"{server.url}/")
        assert (status, kind) == (200, "text/html")
        assert 'src="static/app.js"' in page and 'href="static/style.css"' in page
        assert {"index.html", "app.js", "style.css"} <= set(ASSETS)
        for name in ASSETS:
            status, kind, body = await _get(f"{server.url}/static/{name}")
            assert status == 200
            # Browsers run a module script only if it is served as JavaScript.
            assert kind in MEDIA_TYPES[name.rsplit(".", 1)[1]], (name, kind)
            assert body == (STATIC_DIR / name).read_text()
    finally:
        await server.close()


async def test_master_webui_static_route_refuses_paths_out_of_its_folder():
    app = web.Application()
    add_webui_routes(app)
    server = await serve_app(app, "127.0.0.1", 0)
    try:
        for path in (
            "/static/../__init__.py",
            "/static/%2e%2e/__init__.py",
            "/static/..%2f..%2fhttp.py",
            "/static/nothing-here.js",
        ):
            status, _, body = await _get(f"{server.url}{path}")
            assert status in (403, 404), path
            assert "add_webui_routes" not in body
    finally:
        await server.close()


def test_master_webui_assets_fetch_nothing_from_elsewhere():
    """No CDN, no remote font or script: every URL the assets load is relative."""
    for name in ASSETS:
        text = (STATIC_DIR / name).read_text()
        assert "https://" not in text, name
        assert not re.search(r"""(src|href)=["'](https?:)?//""", text), name
        assert not re.search(r"""(@import|url\()\s*["']?(https?:)?//""", text), name


def test_master_webui_scripts_never_parse_strings_as_html():
    """Cluster data reaches the page only as text: no HTML or code is built from strings."""
    for name in ASSETS:
        text = (STATIC_DIR / name).read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, (name, sink)
        assert "new Function" not in text, name


def test_master_webui_modules_import_only_their_siblings():
    """Every `import` names a module of the page itself (no bare or remote specifiers)."""
    scripts = [name for name in ASSETS if name.endswith(".js")]
    for name in scripts:
        text = (STATIC_DIR / name).read_text()
        assert "import(" not in text, name
        for target in re.findall(r'\bfrom\s+"([^"]+)"', text):
            assert target.startswith("./") and target[2:] in scripts, (name, target)
