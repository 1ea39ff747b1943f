"""Talking to any OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, llama.cpp, LM Studio).

The transport is the official ``openai`` SDK (retries, backoff, ``Retry-After``, SSE parsing)
driving one injected ``httpx.AsyncClient`` (tests pass ``httpx.MockTransport`` through
``make_client``). Every failure becomes an ``LLMError`` with a short machine-readable ``reason``;
the pipeline turns it into the extractive answer, so a broken or slow model never reaches the
user as a 500.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn, Protocol

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from qa.answering.prompts import ChatMessage
from qa.config import LLMSettings
from qa.errors import QAError

log = logging.getLogger("qa.llm")

_MAX_RETRY_AFTER = 30.0  # seconds; a server asking for longer is treated as down
# Sent instead of a missing key so the SDK never falls back to $OPENAI_API_KEY; never sent
# itself: requests then omit the Authorization header (see ``_extra_headers``).
_NO_KEY = "no-key-configured"
Sleep = Callable[[float], Awaitable[None]]


class LLMError(QAError):
    """The model could not give a usable reply; ``reason`` says why (e.g. ``timeout``, ``http_503``)."""

    code = "llm_unavailable"
    status_code = 503

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ChatGenerator(Protocol):
    """What the pipeline needs from a language model."""

    async def complete(self, messages: Sequence[ChatMessage]) -> str:
        """The whole reply text (non-empty), or ``LLMError``."""
        ...

    def stream(self, messages: Sequence[ChatMessage]) -> AsyncGenerator[str, None]:
        """The reply as text pieces in order; ``LLMError`` if it fails or is cut."""
        ...


def make_client(
    settings: LLMSettings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one outbound client for the configured server: base URL, key and timeouts set once.

    ``transport`` is for tests (``httpx.MockTransport``); production uses httpx's own.
    """
    headers = {"Accept": "application/json"}
    if settings.api_key is not None:
        headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
    return httpx.AsyncClient(
        base_url=(settings.base_url or "").rstrip("/") + "/",
        headers=headers,
        timeout=timeout_for(settings),
        transport=transport,
    )


def timeout_for(settings: LLMSettings) -> httpx.Timeout:
    return httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)


class _OpenAIClient(openai.AsyncOpenAI):
    """The SDK client with our retry policy.

    Backoff is ``retry_backoff * 2**retry`` with no jitter (0 in tests); a longer ``Retry-After`` /
    ``retry-after-ms`` wins. A server asking for more than 30 s is not retried at all (the SDK
    itself would wait up to two minutes), and 425 Too Early is retried like 429.
    """

    def __init__(self, *, retry_backoff: float = 0.5, **kwargs: Any) -> None:
        self._qa_retry_backoff = retry_backoff
        super().__init__(**kwargs)

    def _calculate_retry_timeout(
        self, remaining_retries: int, options: Any, response_headers: Any = None
    ) -> float:
        retry = max(0, int(options.get_max_retries(self.max_retries)) - remaining_retries)
        delay = self._qa_retry_backoff * 2.0 ** min(retry, 32)
        retry_after = self._parse_retry_after_header(response_headers)
        if retry_after is not None and math.isfinite(retry_after):
            delay = max(delay, retry_after)
        delay = min(max(delay, 0.0), _MAX_RETRY_AFTER)
        log.info("LLM request failed (retry %d); retrying in %.2fs", retry + 1, delay)
        return delay

    def _should_retry(self, response: Any) -> bool:
        retry_after = self._parse_retry_after_header(response.headers)
        if retry_after is not None and not retry_after <= _MAX_RETRY_AFTER:
            log.info("LLM server asked to wait %.0fs; not retrying", retry_after)
            return False
        if response.status_code == 425:
            return True
        return bool(super()._should_retry(response))


class OpenAICompatibleGenerator:
    """``POST chat/completions`` through the ``openai`` SDK, with bounded retries and backoff.

    ``sleep`` is accepted for compatibility and no longer used: the SDK waits between retries
    itself (for ``settings.retry_backoff`` doubled each time, or what ``Retry-After`` asks).
    """

    def __init__(self, settings: LLMSettings, client: httpx.AsyncClient, sleep: Sleep = asyncio.sleep):
        self._settings = settings
        self._client = client
        self._sleep = sleep
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        self._openai = _OpenAIClient(
            base_url=(settings.base_url or "").rstrip("/") + "/",
            api_key=key or _NO_KEY,
            http_client=client,
            max_retries=settings.max_retries,
            timeout=timeout_for(settings),
            retry_backoff=settings.retry_backoff,
        )
        # Only our settings reach the server: no $OPENAI_ORG_ID / $OPENAI_PROJECT_ID headers, and
        # no Authorization at all when no key is configured (local servers need none).
        omit: Mapping[str, str | openai.Omit] = {
            "OpenAI-Organization": openai.Omit(),
            "OpenAI-Project": openai.Omit(),
        }
        self._extra_headers = dict(omit) if key else {**omit, "Authorization": openai.Omit()}

    async def complete(self, messages: Sequence[ChatMessage]) -> str:
        try:
            reply: object = await self._openai.chat.completions.create(
                **self._request(messages), stream=False
            )
        except (openai.OpenAIError, ValueError) as exc:
            _raise_for(exc)
        content = _completion_text(reply)
        if not content.strip():
            raise LLMError("empty_response", "The model replied with nothing.")
        return content

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncGenerator[str, None]:
        try:
            chunks = await self._openai.chat.completions.create(**self._request(messages), stream=True)
        except (openai.OpenAIError, ValueError) as exc:
            _raise_for(exc)
        finished = False
        produced = False
        try:
            async for chunk in chunks:
                piece, finish_reason = _chunk_text(chunk)
                if piece:
                    produced = True
                    yield piece
                if finish_reason is not None:
                    finished = True
        except (openai.APITimeoutError, httpx.TimeoutException) as exc:
            raise LLMError("stream_timeout", "The model's stream stalled.") from exc
        except (openai.APIConnectionError, httpx.HTTPError) as exc:
            raise LLMError("stream_interrupted", "The model's stream was cut off.") from exc
        except openai.APIError as exc:  # an ``error`` object sent as a chunk
            raise LLMError("stream_error", "The model server reported an error mid-stream.") from exc
        except ValueError as exc:  # a data field that is not JSON
            raise LLMError("malformed_response", "The model streamed something that is not a chunk.") from exc
        finally:
            await chunks.close()
        if not finished:  # no chunk carried a finish_reason: the stream ended early
            raise LLMError("stream_interrupted", "The model's stream ended before it was complete.")
        if not produced:
            raise LLMError("empty_response", "The model streamed no text.")

    def _request(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        return {
            "model": self._settings.model,
            "messages": list(messages),
            "max_tokens": self._settings.max_tokens,
            "temperature": self._settings.temperature,
            "extra_headers": self._extra_headers,
        }


def _raise_for(exc: Exception) -> NoReturn:
    """The ``LLMError`` for a request that failed before any reply text (after the SDK's retries)."""
    if isinstance(exc, openai.APITimeoutError):
        raise LLMError("timeout", "The model did not answer in time.") from exc
    if isinstance(exc, openai.APIConnectionError):  # refused, reset, DNS, protocol error
        raise LLMError("connect_error", "The model server could not be reached.") from exc
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        raise LLMError(f"http_{status}", f"The model server refused the request ({status}).") from exc
    if isinstance(exc, openai.APIError | ValueError):  # unparseable body, failed validation
        raise LLMError("malformed_response", "The model's reply was not a chat completion.") from exc
    raise exc


def _completion_text(reply: object) -> str:
    """The text of the first choice of a ``chat.completion`` (the SDK gives a str for non-JSON)."""
    if not isinstance(reply, ChatCompletion):
        raise LLMError("malformed_response", "The model's reply was not a chat completion.")
    choices = getattr(reply, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise LLMError("malformed_response", "The model's reply had no choices.")
    content = getattr(getattr(choices[0], "message", None), "content", None)
    if not isinstance(content, str):
        raise LLMError("malformed_response", "The model's reply had no text content.")
    return content


def _chunk_text(chunk: object) -> tuple[str, str | None]:
    """Text and finish reason of one ``chat.completion.chunk``."""
    choices = getattr(chunk, "choices", None) if isinstance(chunk, ChatCompletionChunk) else None
    if not isinstance(choices, list):
        raise LLMError("malformed_response", "The model streamed something that is not a chunk.")
    if not choices:  # e.g. a trailing usage-only chunk
        return "", None
    choice = choices[0]
    piece = getattr(getattr(choice, "delta", None), "content", None) or ""
    if not isinstance(piece, str):
        raise LLMError("malformed_response", "The model streamed a chunk without text.")
    finish_reason = getattr(choice, "finish_reason", None)
    return piece, finish_reason if isinstance(finish_reason, str) else None
