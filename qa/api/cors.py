"""CORS (Starlette's middleware, refused preflights as our JSON errors) and the same-origin test."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Scope

from qa.api.errors import error_response


class RefusingCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with refused preflights answered as our JSON errors.

    Starlette answers a plain-text 400 ``Disallowed CORS origin``. A browser never shows a failed
    preflight to the page (the fetch fails as a network error, which the widget then tells apart
    by reaching ``/widget.json``), but curl, logs and proxies see ``403 origin_not_allowed`` with
    the setting to change.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        origin = request_headers.get("origin", "")
        if not self.is_allowed_origin(origin=origin):
            refused = error_response(
                403,
                "origin_not_allowed",
                f"The origin {origin} may not call this API: add it to a widget key's origins "
                "(QA_SECURITY__WIDGET_KEYS) or to QA_SECURITY__CORS_ORIGINS.",
            )
        else:
            refused = error_response(
                403, "cors_not_allowed", "This cross-origin method or header is not allowed."
            )
        refused.headers["Vary"] = "Origin"
        return refused


def same_origin(scope: Scope, headers: Headers) -> bool:
    """Whether a browser sent this request from one of our own pages (the Host it asked for)."""
    if headers.get("sec-fetch-site") == "same-origin":
        return True
    origin, host = headers.get("origin"), headers.get("host")
    return bool(origin and host) and urlsplit(origin or "").netloc.lower() == (host or "").lower()
