"""The browser side of the server: offline API docs (/docs, /redoc) and the dashboard (/ui).

Everything a page loads comes from `static/` (vendored Swagger UI, ReDoc and
lightweight-charts from npm at pinned versions, see `static/vendor/VENDORED.md`), so
the pages render with no internet access. The CSP for these HTML pages is computed in
`twapserver.api.http` (inline scripts allowed by hash, scripts from this origin only).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "STATIC_URL", "install_ui"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/ui/static"
_VENDOR = f"{STATIC_URL}/vendor"
_FAVICON = f"{STATIC_URL}/favicon.svg"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """Swagger UI for /openapi.json, from the vendored swagger-ui-dist."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="twap API",
        swagger_js_url=f"{_VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{_VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=_FAVICON,
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    """ReDoc for /openapi.json, from the vendored redoc standalone bundle (no web fonts)."""
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="twap API",
        redoc_js_url=f"{_VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=_FAVICON,
        with_google_fonts=False,
    )


@router.get("/ui")
async def dashboard() -> FileResponse:
    """The dashboard: a static page whose JavaScript modules talk to the REST API and /ws."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


def install_ui(app: FastAPI) -> None:
    """Serve /docs, /redoc, /ui and the static assets under /ui/static on `app` (which
    must be built with `docs_url=None, redoc_url=None`)."""
    app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="ui-static")
