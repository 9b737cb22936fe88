"""Offline API docs: Swagger UI at ``/docs`` and ReDoc at ``/redoc``, their assets served
by this node from installed packages (never a CDN, never committed to this repo).

* Swagger UI comes from the PyPI package ``swagger-ui-bundle-v2`` (import name
  ``swagger_ui_bundle``; Swagger UI 5.x renders OpenAPI 3.1).
* ReDoc has no framework-free PyPI package: ``python -m api.redoc_assets`` fetches the
  pinned, checksum-verified npm tarball into ``api/_vendor/redoc/`` (git-ignored). Until
  then ``/redoc`` answers a page giving that command (200: the page works, the viewer is
  what is missing), and so does ``/docs`` without Swagger UI.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from aiohttp import web

__all__ = ["add_docs_routes", "redoc_dir", "swagger_ui_dir"]

_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; worker-src 'self' blob:")


def swagger_ui_dir() -> Path | None:
    """Directory of the installed Swagger UI dist, or None."""
    if importlib.util.find_spec("swagger_ui_bundle") is None:
        return None
    import swagger_ui_bundle  # type: ignore[import-untyped]
    path = Path(swagger_ui_bundle.swagger_ui_path)
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def redoc_dir(path: Path | None = None) -> Path | None:
    """``path`` (default ``api/_vendor/redoc``) if it holds ``redoc.standalone.js``, or
    None."""
    path = path or Path(__file__).parent / "_vendor" / "redoc"
    return path if (path / "redoc.standalone.js").is_file() else None


_SWAGGER_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} — Swagger UI</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""
_SWAGGER_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, validatorUrl: null, presets: [SwaggerUIBundle.presets.apis]});
"""
_REDOC_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} — ReDoc</title></head>
<body><div id="redoc"></div>
<script src="/redoc/assets/redoc.standalone.js"></script>
<script src="/redoc/init.js"></script></body></html>
"""
_REDOC_INIT = """Redoc.init("/openapi.json", {hideDownloadButton: false},
  document.getElementById("redoc"));
"""
_MISSING = """<!DOCTYPE html><html><body><h1>{what} is not installed</h1>
<p>{how}</p><p>The OpenAPI document is at <a href="/openapi.json">/openapi.json</a>.</p>
</body></html>"""


def add_docs_routes(app: web.Application, title: str, redoc_bundle: Path | None = None
                    ) -> None:
    """Mount ``/docs`` and ``/redoc`` (with their assets) on ``app``; ``redoc_bundle`` is
    the directory to serve ReDoc from (default ``api/_vendor/redoc``)."""
    headers = {"Content-Security-Policy": _CSP}
    swagger = swagger_ui_dir()
    redoc = redoc_dir(redoc_bundle)

    async def docs(request: web.Request) -> web.Response:
        if swagger is None:
            return web.Response(content_type="text/html", text=_MISSING.format(
                what="Swagger UI", how="Install it: <code>pip install swagger-ui-bundle-v2</code>, "
                                       "then restart claw-node."))
        return web.Response(text=_SWAGGER_HTML.format(title=title), content_type="text/html",
                            headers=headers)

    async def docs_init(request: web.Request) -> web.Response:
        return web.Response(text=_SWAGGER_INIT, content_type="application/javascript")

    async def redoc_page(request: web.Request) -> web.Response:
        if redoc is None:
            return web.Response(content_type="text/html", text=_MISSING.format(
                what="ReDoc", how="Fetch it once: <code>python -m api.redoc_assets</code> (the "
                                  "pinned, checksum-verified npm package), then restart "
                                  "claw-node."))
        return web.Response(text=_REDOC_HTML.format(title=title), content_type="text/html",
                            headers=headers)

    async def redoc_init(request: web.Request) -> web.Response:
        return web.Response(text=_REDOC_INIT, content_type="application/javascript")

    app.router.add_get("/docs", docs)
    app.router.add_get("/docs/init.js", docs_init)
    if swagger is not None:
        app.router.add_static("/docs/assets", swagger, show_index=False)
    app.router.add_get("/redoc", redoc_page)
    app.router.add_get("/redoc/init.js", redoc_init)
    if redoc is not None:
        app.router.add_static("/redoc/assets", redoc, show_index=False)
