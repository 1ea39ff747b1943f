"""An OpenAI-compatible surface: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Existing chat front ends and SDKs can talk to the bot unchanged. The last user message is the
question and earlier user/assistant messages are the history; system messages from the client
are ignored (the corpus rules are not negotiable per request). The assistant message carries
the answer with ``[n]`` markers and a "Sources" footnote list; the structured citations ride
along on the message (non-streaming) and on the final chunk (streaming).

Streaming sends the *verified* answer: an OpenAI client cannot take back text it was sent, so
the answer is checked first and then streamed a sentence at a time, ending with ``data: [DONE]``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sse_starlette import EventSourceResponse, ServerSentEvent

from qa.answering.events import PIECE, Finished, StreamEvent
from qa.api.deps import ChatDep, SettingsDep
from qa.api.schemas import ErrorResponse
from qa.api.security import get_principal
from qa.api.streams import LimitedEventSourceResponse, stream_client
from qa.contract import MAX_TURN_CHARS, Answer, Citation, CleanText, ResourceId, Turn
from qa.errors import InvalidInputError, NotFoundError, NotReadyError, QAError
from qa.service.chat import ChatTurn

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
log = logging.getLogger("qa.api")

SERVED_MODEL = "qa-article-bot"
SOURCES_HEADING = "Sources:"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: CleanText | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: CleanText | list[ContentPart] | None = None


class ChatCompletionRequest(BaseModel):
    # Sampling options (temperature, top_p, …) are accepted and ignored: answers are grounded.
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=100)
    stream: StrictBool = False  # "true" (a string) is a 422, as on /v1/chat
    conversation_id: ResourceId | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    citations: list[Citation]


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    """Token counts, approximate: words and punctuation marks, as the bot runs no tokenizer."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def count_usage(messages: list[ChatMessageIn], content: str) -> Usage:
    def text(message: ChatMessageIn) -> str:
        if isinstance(message.content, list):
            return " ".join(part.text or "" for part in message.content)
        return message.content or ""

    prompt = sum(len(_TOKEN.findall(text(m))) for m in messages)
    completion = len(_TOKEN.findall(content))
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    # Extras beyond OpenAI's schema (clients ignore what they do not know).
    conversation_id: str
    answerable: bool
    mode: str
    fallback_reason: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "qa-article-bot"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _text(message: ChatMessageIn) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    if any(part.type != "text" for part in message.content):
        raise InvalidInputError("Only text content is supported.")
    return "".join(part.text or "" for part in message.content)


def _without_footnotes(text: str) -> str:
    """Our own earlier replies, minus the Sources list (it is noise for follow-up questions)."""
    return text.split(f"\n\n{SOURCES_HEADING}\n", 1)[0]


def split_messages(messages: list[ChatMessageIn], max_history: int) -> tuple[str, list[Turn]]:
    """The question (the last message, which must be the user's) and the earlier turns."""
    last = messages[-1]
    if last.role != "user":
        raise InvalidInputError("The last message must have the role 'user'.")
    history = [
        Turn(role=m.role, content=_without_footnotes(_text(m))[:MAX_TURN_CHARS])
        for m in messages[:-1]
        if m.role in ("user", "assistant") and _text(m).strip()
    ]
    return _text(last), history[-max_history:] if max_history else []


_DOUBLE_QUOTES = re.compile(r"[\"“”„]")
# Usage is counted with this simple tokenizer (words and punctuation marks), not a model's:
# the bot runs no language model of its own, so these are approximate, documented as such.
_TOKEN = re.compile(r"\w+|[^\w\s]")


def quoted(quote: str) -> str:
    """The quote in “…”, unless it has double quotation marks of its own (they would double)."""
    return quote if _DOUBLE_QUOTES.search(quote) else f"“{quote}”"


def with_footnotes(answer: Answer) -> str:
    """The answer text, then one footnote per citation quoting the exact source span."""
    if not answer.citations:
        return answer.answer
    lines = [
        f"[{c.id}] {quoted(c.quote)} ({c.title or c.doc_id}, characters {c.start}–{c.end})"
        for c in answer.citations
    ]
    return f"{answer.answer}\n\n{SOURCES_HEADING}\n" + "\n".join(lines)


def _extras(answer: Answer) -> dict[str, Any]:
    return {
        "conversation_id": answer.conversation_id,
        "answerable": answer.answerable,
        "mode": answer.mode,
        "fallback_reason": answer.fallback_reason,
    }


def _chunk(completion_id: str, created: int, delta: dict[str, Any], **extra: Any) -> ServerSentEvent:
    finish_reason = extra.pop("finish_reason", None)
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": SERVED_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        **extra,
    }
    return ServerSentEvent(data=json.dumps(body, ensure_ascii=False))


async def completion_chunks(
    events: AsyncGenerator[StreamEvent, None], usage_of: Callable[[str], Usage] | None = None
) -> AsyncIterator[ServerSentEvent]:
    """role, the answer a sentence at a time, the footnotes, a final chunk with citations, [DONE].

    An OpenAI client cannot take back text it was sent, so nothing goes out before the answer
    is final and verified. With ``usage_of`` (the client sent ``stream_options.include_usage``),
    a last chunk with no choices carries ``usage``, as OpenAI does.
    """
    answer: Answer | None = None
    failure: tuple[str, str] | None = None
    try:
        async with aclosing(events):
            async for event in events:
                if isinstance(event, Finished):
                    answer = event.answer
        if answer is None:
            raise NotReadyError("The answer stream ended without an answer.")
    except QAError as exc:
        failure = (exc.code, exc.client_message)
    except Exception:
        log.exception("a streamed completion failed")
        failure = ("internal_error", "Something went wrong on our side.")
    if failure is not None or answer is None:
        # The 200 is sent: say so the way OpenAI's own streams do, an error object, then stop.
        code, message = failure or ("internal_error", "Something went wrong on our side.")
        yield ServerSentEvent(data=json.dumps({"error": {"code": code, "message": message}}))
        return
    completion_id, created = f"chatcmpl-{answer.message_id}", int(time.time())
    yield _chunk(completion_id, created, {"role": "assistant", "content": ""})
    for piece in PIECE.findall(answer.answer):
        yield _chunk(completion_id, created, {"content": piece})
    footnotes = with_footnotes(answer)[len(answer.answer) :]
    if footnotes:
        yield _chunk(completion_id, created, {"content": footnotes})
    citations = [c.model_dump() for c in answer.citations]
    yield _chunk(completion_id, created, {}, finish_reason="stop", citations=citations, **_extras(answer))
    if usage_of is not None:
        usage = usage_of(with_footnotes(answer)).model_dump()
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
        body |= {"model": SERVED_MODEL, "choices": [], "usage": usage}
        yield ServerSentEvent(data=json.dumps(body))
    yield ServerSentEvent(data="[DONE]")


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or chunks when stream"},
        404: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
async def chat_completions(
    body: ChatCompletionRequest, chat: ChatDep, request: Request, settings: SettingsDep
) -> ChatCompletion | EventSourceResponse:
    """OpenAI's chat completions API over the corpus: cited answers, streaming included."""
    question, history = split_messages(body.messages, settings.max_history_messages)
    turn = ChatTurn(
        question,
        history,
        body.conversation_id,
        client=stream_client(request),
        surface="openai",
        owner=get_principal(request).owner,
    )
    if body.stream:
        # The slot is held while the answer is composed; then it is streamed, verified, at once.
        stream = await chat.stream(turn, incremental=False)
        options = (body.model_extra or {}).get("stream_options")
        wants_usage = isinstance(options, dict) and options.get("include_usage") is True
        usage_of = (lambda content: count_usage(body.messages, content)) if wants_usage else None
        return LimitedEventSourceResponse(
            completion_chunks(stream.events, usage_of),
            release=stream.release,
            sep="\n",
            send_timeout=settings.security.stream_send_timeout_s,
        )
    answer = await chat.answer(turn)
    content = with_footnotes(answer)
    return ChatCompletion(
        id=f"chatcmpl-{answer.message_id}",
        created=int(time.time()),
        model=SERVED_MODEL,
        choices=[Choice(message=AssistantMessage(content=content, citations=answer.citations))],
        usage=count_usage(body.messages, content),
        **_extras(answer),
    )


@router.get("/models", response_model=ModelList)
async def list_models() -> ModelList:
    return ModelList(data=[ModelCard(id=SERVED_MODEL)])


@router.get("/models/{model_id}", response_model=ModelCard, responses={404: {"model": ErrorResponse}})
async def get_model(model_id: str) -> ModelCard:
    if model_id != SERVED_MODEL:
        raise NotFoundError(f"No model {model_id!r}; this server offers {SERVED_MODEL!r}.")
    return ModelCard(id=SERVED_MODEL)
