"""Hardening headers on every response (CSP on our pages, nosniff, frame and referrer policies)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROTECTED_PREFIX = "/v1"  # the API: keys and limits apply, responses are never cached

# Pages we serve build their DOM from our own scripts and call only our API.
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)


class SecurityHeadersMiddleware:
    """Adds hardening headers; a route that sets its own value keeps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                content_type = headers.get("content-type", "")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                if content_type.startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", HTML_CSP)
                    headers.setdefault("X-Frame-Options", "DENY")
                    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                elif "javascript" in content_type:
                    # The widget script is meant to be embedded by other sites.
                    headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
                if path.startswith(PROTECTED_PREFIX):
                    headers.setdefault("Cache-Control", "no-store")
                if scope.get("scheme") == "https":
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, send_with_headers)
