"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served from this machine: no CDN.

FastAPI's own pages load their scripts from a public CDN and start Swagger UI with an inline
script, so offline they are blank and they cannot carry our Content-Security-Policy. Here the
files come from the ``fastapi-offline`` package (MIT; it ships Swagger UI, Apache-2.0, and
ReDoc, MIT), the start-up code is a file of ours, and the pages get the same security headers
as every other page (the middleware adds ``X-Frame-Options: DENY``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException

router = APIRouter(include_in_schema=False)

_OURS = Path(__file__).resolve().parent.parent.parent / "web" / "api-docs"
_VENDORED = Path(str(files("fastapi_offline") / "static"))
ASSETS = {
    "swagger-ui-bundle.js": _VENDORED / "swagger-ui-bundle.js",
    "swagger-ui.css": _VENDORED / "swagger-ui.css",
    "redoc.standalone.js": _VENDORED / "redoc.standalone.js",
    "favicon.png": _VENDORED / "favicon.png",
    "swagger-init.js": _OURS / "swagger-init.js",
}
# Our pages' policy, plus what the two UIs need: inline styles (React, styled-components),
# data: images (Swagger's icons) and a blob: worker (ReDoc's search index).
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
_PAGE_HEADERS = {"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"}


def _page(name: str) -> FileResponse:
    return FileResponse(_OURS / name, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@router.get("/docs")
async def swagger_ui() -> FileResponse:
    """Swagger UI for ``/openapi.json``."""
    return _page("swagger.html")


@router.get("/redoc")
async def redoc() -> FileResponse:
    """ReDoc for ``/openapi.json``."""
    return _page("redoc.html")


@router.get("/docs-assets/{name}")
async def docs_asset(name: str) -> FileResponse:
    """The UIs' scripts and styles; only the files listed above."""
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(404, f"No docs file named {name!r}.")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
