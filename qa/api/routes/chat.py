"""``POST /v1/chat``: a question in, a cited answer out, as JSON or as Server-Sent Events."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from qa.api.conversing import conversation_history, remember
from qa.api.deps import PipelineDep, SettingsDep
from qa.api.schemas import ChatRequest, ErrorResponse
from qa.api.streams import LimitedEventSourceResponse, claim_stream
from qa.errors import QAError
from qa.models import Answer

router = APIRouter(prefix="/v1", tags=["chat"])

# Stream the answer a sentence (with its marker) at a time.
_PIECE = re.compile(r".+?\[\d+\]\s*|.+$", re.DOTALL)


def _event(name: str, payload: object) -> ServerSentEvent:
    return ServerSentEvent(event=name, data=json.dumps(payload, ensure_ascii=False))


async def answer_events(answer: Answer) -> AsyncIterator[ServerSentEvent]:
    """meta, delta…, citations, done: the order every streaming client can rely on."""
    yield _event("meta", {"conversation_id": answer.conversation_id, "mode": answer.mode})
    for piece in _PIECE.findall(answer.answer):
        yield _event("delta", {"text": piece})
    yield _event("citations", {"citations": [c.model_dump() for c in answer.citations]})
    yield _event("done", answer.model_dump())


@router.post(
    "/chat",
    response_model=Answer,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream"},
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
async def chat(
    body: ChatRequest, pipeline: PipelineDep, request: Request, settings: SettingsDep
) -> Answer | EventSourceResponse:
    """Answer a question with citations; ``"stream": true`` answers as Server-Sent Events.

    With a known ``conversation_id`` and no ``history``, the stored conversation is the history.
    """
    pipeline.validate_question(body.message)  # bad input is a 4xx JSON error, even when streaming
    history = await conversation_history(request, settings, body.conversation_id, body.history)
    if not body.stream:
        answer = await pipeline.answer(body.message, history, body.conversation_id)
        await remember(request, settings, body.message, answer)
        return answer
    release = claim_stream(request)  # 429 when too many streams are open

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            answer = await pipeline.answer(body.message, history, body.conversation_id)
        except QAError as exc:
            yield _event("error", {"code": exc.code, "message": exc.client_message})
            return
        await remember(request, settings, body.message, answer)
        async for event in answer_events(answer):
            yield event

    return LimitedEventSourceResponse(
        events(), release=release, ping=15, send_timeout=settings.security.stream_send_timeout_s
    )
