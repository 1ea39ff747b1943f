"""``POST /v1/chat``: a question in, a cited answer out, as JSON or as Server-Sent Events."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter
from sse_starlette import EventSourceResponse, ServerSentEvent

from qa.answering.generative import Finished, Reset, Started, StreamEvent, Token
from qa.api.deps import PipelineDep
from qa.api.schemas import ChatRequest, ErrorResponse
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


async def stream_events(stream: AsyncGenerator[StreamEvent, None]) -> AsyncIterator[ServerSentEvent]:
    """LLM mode: meta, the model's tokens as delta…, then the verified citations and done.

    ``done`` carries the verified answer, which is what clients should keep: unsupported
    sentences are removed from it. If the model fails after tokens were sent, a ``reset`` event
    withdraws them and the extractive answer follows as fresh deltas.
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


@router.post(
    "/chat",
    response_model=Answer,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream"},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
async def chat(body: ChatRequest, pipeline: PipelineDep) -> Answer | EventSourceResponse:
    """Answer a question with citations; ``"stream": true`` answers as Server-Sent Events."""
    pipeline.validate_question(body.message)  # bad input is a 4xx JSON error, even when streaming
    if not body.stream:
        return await pipeline.answer(body.message, body.history, body.conversation_id)

    if pipeline.llm is not None:
        stream = pipeline.answer_stream(body.message, body.history, body.conversation_id)
        return EventSourceResponse(stream_events(stream), ping=15)

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            answer = await pipeline.answer(body.message, body.history, body.conversation_id)
        except QAError as exc:
            yield _event("error", {"code": exc.code, "message": exc.client_message})
            return
        async for event in answer_events(answer):
            yield event

    return EventSourceResponse(events(), ping=15)
