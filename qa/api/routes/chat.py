"""``POST /v1/chat``: a question in, a cited answer out, as JSON or as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from qa.answering.generative import Finished, Reset, Started, StreamEvent, Token
from qa.api.conversing import conversation_history, remember
from qa.api.deps import PipelineDep, SettingsDep
from qa.api.schemas import ChatRequest, ErrorResponse
from qa.api.streams import LimitedEventSourceResponse, claim_stream
from qa.config import Settings
from qa.contract import Answer
from qa.errors import QAError

router = APIRouter(prefix="/v1", tags=["chat"])


def _event(name: str, payload: object) -> ServerSentEvent:
    return ServerSentEvent(event=name, data=json.dumps(payload, ensure_ascii=False))


async def stream_events(
    stream: AsyncGenerator[StreamEvent, None], request: Request, settings: Settings, question: str
) -> AsyncIterator[ServerSentEvent]:
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
                    await remember(request, settings, question, answer)
                    yield _event("citations", {"citations": [c.model_dump() for c in answer.citations]})
                    yield _event("done", answer.model_dump())
    except QAError as exc:
        yield _event("error", {"code": exc.code, "message": exc.client_message})


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
    stream = pipeline.answer_stream(body.message, history, body.conversation_id)
    return LimitedEventSourceResponse(
        stream_events(stream, request, settings, body.message),
        release=release,
        ping=15,
        send_timeout=settings.security.stream_send_timeout_s,
    )
