"""Bounded SSE streams: a slot is taken before the response starts and always given back.

The slot is released by the response object itself (not by the event generator, which never runs
its ``finally`` if the client hangs up before the first event). sse-starlette cancels the
generator when the client disconnects or a send stalls longer than ``send_timeout``, so an
abandoned reader costs neither a task nor a slot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from sse_starlette import EventSourceResponse
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from qa.api.security import StreamSlots, get_principal


class LimitedEventSourceResponse(EventSourceResponse):
    """An ``EventSourceResponse`` that calls ``release`` when it ends, however it ends."""

    def __init__(self, content: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def claim_stream(request: Request) -> Callable[[], None]:
    """A release function for one stream slot, or 429 when the caller or the server is at the cap."""
    slots = getattr(request.app.state, "stream_slots", None)
    if not isinstance(slots, StreamSlots):
        return lambda: None
    principal = get_principal(request)
    # A widget key is shared by every visitor of a site, so its callers are told apart by IP.
    client = principal.id if principal.kind == "server" else f"ip:{principal.ip}"
    release = slots.acquire(client)
    if release is None:
        raise HTTPException(
            status_code=429,
            detail="Too many answers are streaming at once; retry shortly.",
            headers={"Retry-After": "1"},
        )
    return release
