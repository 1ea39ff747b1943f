"""``POST /v1/chat``: a question in, a cited answer out, as JSON or as Server-Sent Events."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from qa.answering.events import Finished, Reset, Started, StreamEvent, Token
from qa.api.deps import ChatDep, SettingsDep
from qa.api.schemas import ChatRequest, ErrorResponse
from qa.api.security import get_principal
from qa.api.streams import LimitedEventSourceResponse, stream_client
from qa.contract import Answer
from qa.errors import QAError
from qa.service.chat import ChatTurn

router = APIRouter(prefix="/v1", tags=["chat"])
log = logging.getLogger("qa.api")


def _event(name: str, payload: object) -> ServerSentEvent:
    return ServerSentEvent(event=name, data=json.dumps(payload, ensure_ascii=False))


async def stream_events(stream: AsyncGenerator[StreamEvent, None]) -> AsyncIterator[ServerSentEvent]:
    """meta, delta…, citations, done: the order every streaming client can rely on.

    Extractive answers arrive a sentence (with its marker) per delta; in LLM mode the deltas are
    the model's tokens. ``done`` carries the verified answer, which is what clients should keep:
    unsupported sentences are removed from it. If the model fails after tokens were sent, a
    ``reset`` event withdraws them and the extractive answer follows as fresh deltas.
    """
    try:
        async with aclosing(stream):
            async for event in stream:
                if isinstance(event, Started):
                    yield _event("meta", {"conversation_id": event.conversation_id, "mode": event.mode})
                elif isinstance(event, Token):
                    yield _event("delta", {"text": event.text})
                elif isinstance(event, Reset):
                    yield _event("reset", {"reason": event.reason})
                elif isinstance(event, Finished):
                    answer = event.answer
                    yield _event("citations", {"citations": [c.model_dump() for c in answer.citations]})
                    yield _event("done", answer.model_dump())
    except QAError as exc:
        yield _event("error", {"code": exc.code, "message": exc.client_message})
    except Exception:
        # Headers (200) are gone already: the client learns of the failure from the last event.
        log.exception("a streamed answer failed")
        yield _event("error", {"code": "internal_error", "message": "Something went wrong on our side."})


@router.post(
    "/chat",
    response_model=Answer,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream"},
        404: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
async def chat(
    body: ChatRequest, chat: ChatDep, request: Request, settings: SettingsDep
) -> Answer | EventSourceResponse:
    """Answer a question with citations; ``"stream": true`` answers as Server-Sent Events.

    Leave ``conversation_id`` out to start a conversation (the answer carries its new id); send
    it back to continue one you started: the stored conversation is the history unless you send
    ``history``. An id that is unknown, or not yours, is 404.
    """
    turn = ChatTurn(
        body.message,
        body.history,
        body.conversation_id,
        client=stream_client(request),
        surface="api",
        owner=get_principal(request).owner,
    )
    if not body.stream:
        return await chat.answer(turn)
    # Bad input, someone else's conversation and a full house are JSON errors before streaming.
    stream = await chat.stream(turn)
    return LimitedEventSourceResponse(
        stream_events(stream.events),
        release=stream.release,
        ping=15,
        send_timeout=settings.security.stream_send_timeout_s,
    )
