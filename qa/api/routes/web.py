"""The chat widget's files, the full-page chat at ``/`` and the document reader page.

The widget is plain JavaScript modules and CSS shipped inside the package (``qa/web``): no build
step. ``/widget.js`` is a classic script, so one ``<script src=... defer>`` tag embeds it on any
site; it then loads its modules from ``/widget/``, served by Starlette's ``StaticFiles`` (ETag and
Last-Modified, ``304 Not Modified`` on revalidation).
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from qa.api.deps import SettingsDep

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


class WidgetFiles(StaticFiles):
    """The widget's ``.js`` and ``.css`` files: StaticFiles' ETag/Last-Modified and 304s, our headers.

    Served by a route ``/widget/{path:path}`` rather than a ``Mount``: FastAPI's ``include_router``
    drops mounts on an ``APIRouter`` in the versions this package allows, but keeps routes.
    """

    def get_path(self, scope: Scope) -> str:
        name: str = scope["path_params"]["path"]  # the route's {path}, not the whole URL path
        return os.path.normpath(name)

    async def get_response(self, path: str, scope: Scope) -> Response:
        # One file name, no dot first, .js or .css: nothing else (and nothing outside) is served.
        if not _ASSET_NAME.fullmatch(path):
            raise HTTPException(404, f"No widget file named {path!r}.")
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code == 404:
                raise HTTPException(404, f"No widget file named {path!r}.") from None
            raise

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(_ASSET_HEADERS)  # on 304s too: a cross-origin revalidation needs CORS
        if response.status_code != 304:
            response.headers["content-type"] = _MEDIA_TYPES[Path(full_path).suffix]
        return response


widget_files = WidgetFiles(directory=WIDGET_DIR)
# Starlette runs an ASGI app given as a route's endpoint as it is (the type hint knows only functions).
router.add_route(
    "/widget/{path:path}",
    widget_files,  # type: ignore[arg-type]
    methods=["GET", "HEAD"],
    name="widget",
    include_in_schema=False,
)


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
async def widget_loader(request: Request) -> Response:
    """The loader, fetched on every page view of every host site: revalidated like the modules."""
    path = WEB_DIR / "widget.js"
    return widget_files.file_response(path, await anyio.to_thread.run_sync(os.stat, path), request.scope)


@router.get("/widget.json")
async def widget_config(settings: SettingsDep) -> JSONResponse:
    """Defaults for widgets whose script tag does not set ``data-title`` / ``data-starters``."""
    content = {
        "title": settings.web.title,
        "starter_questions": settings.web.starter_questions,
        "max_message_chars": settings.max_message_chars,
    }
    return JSONResponse(content, headers=_ASSET_HEADERS)
