"""Bounded SSE streams: the stream slot is given back by the response, however it ends.

The slot is released by the response object itself (not by the event generator, which never runs
its ``finally`` if the client hangs up before the first event). sse-starlette cancels the
generator when the client disconnects or a send stalls longer than ``send_timeout``, so an
abandoned reader costs neither a task nor a slot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from fastapi import Request
from sse_starlette import EventSourceResponse
from starlette.types import Receive, Scope, Send

from qa.api.security import get_principal


class LimitedEventSourceResponse(EventSourceResponse):
    """An ``EventSourceResponse`` that calls ``release`` when it ends, however it ends."""

    def __init__(self, content: Any, release: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Shielded: a cancelled stream (client gone) still gives its slot back.
            with anyio.CancelScope(shield=True):
                await self._release()


def stream_client(request: Request) -> str:
    """Whose model slot a request takes: a server key's id, else the caller's IP.

    A widget key is shared by every visitor of a site, so its callers are told apart by IP.
    """
    principal = get_principal(request)
    return principal.id if principal.kind in ("server", "admin") else f"ip:{principal.ip}"
