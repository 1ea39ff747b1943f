"""Request size and time limits: heads over a size cap (431), bodies over a size cap (413) or too
slow to arrive (408), all before the app reads anything."""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.api.errors import error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_PATH = "/v1/documents"


def _head_size(scope: Scope) -> int:
    """Roughly the request head's size on the wire: the request line and every header line."""
    line = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b"")) + 16
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class BodyLimitMiddleware:
    """Answers 413 for bodies over ``max_bytes``, declared or streamed, before the app reads them,
    and 408 for bodies not complete within ``timeout_s`` (a client trickling a byte at a time)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout_s: float = 10.0,
        max_head_bytes: int | None = None,
        upload_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_head_bytes = max_head_bytes
        # Document uploads (POST /v1/documents) may be larger: the file plus multipart framing.
        self.upload_bytes = (upload_bytes or max_bytes) + 64 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.max_head_bytes is not None and _head_size(scope) > self.max_head_bytes:
            # h11 bounds a head still arriving; one that arrived whole in a single read is caught here.
            response = error_response(431, "headers_too_large", "The request headers are too large.")
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "POST" and scope["path"].rstrip("/") == UPLOAD_PATH
        limit = self.upload_bytes if upload else self.max_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._too_large(scope, receive, send, limit)
            return
        # Bodies are small (JSON questions), so read it whole, bounded in size and time, and
        # replay it to the app.
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client left before sending its body: nobody to answer
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await self._too_large(scope, receive, send, limit)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            response = error_response(
                408, "request_timeout", f"The request body took longer than {self.timeout_s:g} s to arrive."
            )
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # later calls wait for the disconnect, as usual

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(413, "payload_too_large", f"The request body is larger than {limit} bytes.")
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
