"""Talking to any OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, llama.cpp, LM Studio).

Everything goes through one injected ``httpx.AsyncClient`` (tests pass ``httpx.MockTransport``).
Every failure becomes an ``LLMError`` with a short machine-readable ``reason``; the pipeline turns
it into the extractive answer, so a broken or slow model never reaches the user as a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import httpx

from qa.answering.prompts import ChatMessage
from qa.config import LLMSettings
from qa.errors import QAError

log = logging.getLogger("qa.llm")

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 30.0  # seconds; a server asking for longer is treated as down
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


class OpenAICompatibleGenerator:
    """``POST chat/completions`` with bounded retries and exponential backoff."""

    def __init__(self, settings: LLMSettings, client: httpx.AsyncClient, sleep: Sleep = asyncio.sleep):
        self._settings = settings
        self._client = client
        self._sleep = sleep

    def _payload(self, messages: Sequence[ChatMessage], stream: bool) -> dict[str, Any]:
        return {
            "model": self._settings.model,
            "messages": list(messages),
            "max_tokens": self._settings.max_tokens,
            "temperature": self._settings.temperature,
            "stream": stream,
        }

    async def complete(self, messages: Sequence[ChatMessage]) -> str:
        payload = self._payload(messages, stream=False)
        response = await self._send(payload, stream=False)
        try:
            body = response.json()
            content = body["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError("malformed_response", "The model's reply was not a chat completion.") from exc
        finally:
            await response.aclose()
        if not isinstance(content, str):
            raise LLMError("malformed_response", "The model's reply had no text content.")
        if not content.strip():
            raise LLMError("empty_response", "The model replied with nothing.")
        return content

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncGenerator[str, None]:
        response = await self._send(self._payload(messages, stream=True), stream=True)
        finished = False
        produced = False
        try:
            async for line in response.aiter_lines():
                data = _sse_data(line)
                if data is None:
                    continue
                if data == "[DONE]":
                    finished = True
                    break
                piece, finish_reason = _parse_chunk(data)
                if piece:
                    produced = True
                    yield piece
                if finish_reason is not None:
                    finished = True
        except httpx.TimeoutException as exc:
            raise LLMError("stream_timeout", "The model's stream stalled.") from exc
        except httpx.HTTPError as exc:
            raise LLMError("stream_interrupted", "The model's stream was cut off.") from exc
        finally:
            await response.aclose()
        if not finished:
            raise LLMError("stream_interrupted", "The model's stream ended before it was complete.")
        if not produced:
            raise LLMError("empty_response", "The model streamed no text.")

    async def _send(self, payload: dict[str, Any], stream: bool) -> httpx.Response:
        """The first successful response (body unread when streaming), retrying what may pass."""
        attempts = self._settings.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                request = self._client.build_request("POST", "chat/completions", json=payload)
                response = await self._client.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                if last:
                    raise LLMError("timeout", "The model did not answer in time.") from exc
                delay = self._backoff(attempt)
            except httpx.TransportError as exc:  # connection refused, reset, DNS, protocol error
                if last:
                    raise LLMError("connect_error", "The model server could not be reached.") from exc
                delay = self._backoff(attempt)
            else:
                if response.status_code < 400:
                    return response
                await response.aclose()
                status = response.status_code
                if status not in _RETRYABLE_STATUS:
                    raise LLMError(f"http_{status}", f"The model server refused the request ({status}).")
                if last:
                    raise LLMError(f"http_{status}", f"The model server kept failing ({status}).")
                delay = max(self._backoff(attempt), _retry_after(response))
                if delay > _MAX_RETRY_AFTER:
                    raise LLMError(f"http_{status}", f"The model server asked to wait {delay:.0f}s.")
            log.info("LLM request failed (attempt %d of %d); retrying in %.2fs", attempt + 1, attempts, delay)
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backoff(self, attempt: int) -> float:
        return float(self._settings.retry_backoff * 2**attempt)


def _retry_after(response: httpx.Response) -> float:
    """Seconds from a ``Retry-After`` header given in seconds (dates are rare here; ignored)."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0


def _sse_data(line: str) -> str | None:
    """The payload of a Server-Sent Events ``data:`` line; other lines (comments, ids) are skipped."""
    if not line.startswith("data:"):
        return None
    return line[5:].strip()


def _parse_chunk(data: str) -> tuple[str, str | None]:
    """Text and finish reason of one ``chat.completion.chunk``."""
    try:
        chunk = json.loads(data)
        if "error" in chunk:
            raise LLMError("stream_error", "The model server reported an error mid-stream.")
        choices = chunk["choices"]
        if not choices:  # e.g. a trailing usage-only chunk
            return "", None
        choice = choices[0]
        piece = (choice.get("delta") or {}).get("content") or ""
        finish_reason = choice.get("finish_reason")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LLMError("malformed_response", "The model streamed something that is not a chunk.") from exc
    if not isinstance(piece, str):
        raise LLMError("malformed_response", "The model streamed a chunk without text.")
    return piece, finish_reason if isinstance(finish_reason, str) else None
