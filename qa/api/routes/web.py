"""The chat widget's files, the full-page chat at ``/`` and the document reader page.

The widget is plain JavaScript modules and CSS shipped inside the package (``qa/web``): no build
step. ``/widget.js`` is a classic script, so one ``<script src=... defer>`` tag embeds it on any
site; it then loads its modules from ``/widget/``.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from qa.api.deps import SettingsDep
from qa.errors import NotFoundError

router = APIRouter(include_in_schema=False)

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"
WIDGET_DIR = WEB_DIR / "widget"

# One path segment, no dot first: nothing outside WIDGET_DIR can be named.
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*\.(?:js|css)$")
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

# Widget files are public and load on other sites: module scripts are fetched in CORS mode, so
# they need Access-Control-Allow-Origin. ``no-cache`` revalidates by ETag, so upgrades show at once.
_ASSET_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
}

# Our own pages load only our own files; a strict policy is a second line of defence behind the
# widget's rule of rendering every server and corpus string as text.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    ),
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _asset(path: Path) -> FileResponse:
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_ASSET_HEADERS)


def _page(name: str) -> FileResponse:
    return FileResponse(WEB_DIR / name, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@router.get("/", response_model=None)
async def chat_page(settings: SettingsDep) -> FileResponse | HTMLResponse:
    """The full-page chat: the same widget, filling the window (with the page key, if any)."""
    if settings.web.page_key is None:
        return _page("index.html")
    key = html.escape(settings.web.page_key.get_secret_value(), quote=True)
    page = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace('<script src="widget.js"', f'<script src="widget.js" data-key="{key}"', 1)
    return HTMLResponse(page, headers=_PAGE_HEADERS)


@router.get("/documents/{doc_id}")
async def document_page(doc_id: str) -> FileResponse:
    """A reader for one document; ``#start=&end=`` highlights a cited span and scrolls to it."""
    return _page("document.html")


@router.get("/widget.js")
async def widget_loader() -> FileResponse:
    return _asset(WEB_DIR / "widget.js")


@router.get("/widget.json")
async def widget_config(settings: SettingsDep) -> JSONResponse:
    """Defaults for widgets whose script tag does not set ``data-title`` / ``data-starters``."""
    content = {"title": settings.web.title, "starter_questions": settings.web.starter_questions}
    return JSONResponse(content, headers=_ASSET_HEADERS)


@router.get("/widget/{name}")
async def widget_asset(name: str) -> FileResponse:
    path = WIDGET_DIR / name
    if not _ASSET_NAME.fullmatch(name) or not path.is_file():
        raise NotFoundError(f"No widget file named {name!r}.")
    return _asset(path)
