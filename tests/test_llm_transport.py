"""The LLM transport: the ``openai`` SDK over the injected client, through ``httpx.MockTransport``.

SSE parsing, the retry policy (``Retry-After``, no retry of a 4xx, the 30-second cap), failure
reasons, and the API key: sent as a bearer token, never logged, never borrowed from the environment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from qa.answering.llm import LLMError, OpenAICompatibleGenerator, make_client
from qa.answering.prompts import ChatMessage
from qa.config import LLMSettings

KEY = "sk-transport-secret"
HI: list[ChatMessage] = [{"role": "user", "content": "hi"}]
Handler = Callable[[httpx.Request], httpx.Response]


def settings(**overrides: object) -> LLMSettings:
    values: dict[str, object] = {
        "base_url": "http://llm.test/v1",
        "model": "test-model",
        "retry_backoff": 0.0,
    }
    return LLMSettings.model_validate({**values, **overrides})


def sse(*events: str) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content="".join(events).encode()
    )


def chunk(text: str | None, finish_reason: str | None = None) -> str:
    delta = {} if text is None else {"content": text}
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(body)}\n\n"


def reply(text: str) -> httpx.Response:
    message = {"role": "assistant", "content": text}
    return httpx.Response(
        200,
        json={
            "id": "c",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        },
    )


class Server:
    """Answers each request with the next handler (the last one repeats) and records them."""

    def __init__(self, *handlers: Handler) -> None:
        self.handlers = handlers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handlers[min(len(self.requests), len(self.handlers)) - 1](request)


async def complete(server: Server, **overrides: object) -> str:
    configured = settings(**overrides)
    async with make_client(configured, transport=httpx.MockTransport(server)) as client:
        async with asyncio.timeout(10):  # a wrong retry policy must fail the test, not hang it
            return await OpenAICompatibleGenerator(configured, client).complete(HI)


async def stream(server: Server, **overrides: object) -> list[str]:
    configured = settings(**overrides)
    async with make_client(configured, transport=httpx.MockTransport(server)) as client:
        async with asyncio.timeout(10):
            return [piece async for piece in OpenAICompatibleGenerator(configured, client).stream(HI)]


async def test_a_multi_line_data_field_is_one_chunk() -> None:
    # SSE joins the data lines of one event with "\n"; the old line-by-line parser dropped them.
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}],
    }
    first, second = json.dumps(body, indent=1).split("\n", 1)
    split_event = f"data: {first}\ndata: {second.replace(chr(10), chr(10) + 'data: ')}\n\n"
    assert split_event.count("data:") > 2
    server = Server(
        lambda r: sse(
            ": keep-alive\n\n",
            "id: 1\n" + split_event,
            chunk(" world"),
            chunk(None, "stop"),
            "data: [DONE]\n\n",
        )
    )
    assert await stream(server) == ["Hello", " world"]
    payload = json.loads(server.requests[0].content)
    assert payload["stream"] is True and payload["model"] == "test-model"


async def test_retry_after_is_waited_for_then_the_request_is_retried() -> None:
    server = Server(lambda r: httpx.Response(429, headers={"retry-after": "0.3"}), lambda r: reply("Fine."))
    started = time.monotonic()
    assert await complete(server, max_retries=2) == "Fine."
    assert len(server.requests) == 2 and time.monotonic() - started >= 0.3
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1"]


async def test_retry_after_ms_is_honoured_too() -> None:
    server = Server(
        lambda r: httpx.Response(503, headers={"retry-after-ms": "250"}), lambda r: reply("Fine.")
    )
    started = time.monotonic()
    assert await complete(server, max_retries=1) == "Fine."
    assert len(server.requests) == 2 and time.monotonic() - started >= 0.25


async def test_retry_after_beyond_thirty_seconds_is_not_retried() -> None:
    # The SDK alone would wait up to two minutes; past 30 s the server is taken to be down.
    server = Server(lambda r: httpx.Response(429, headers={"retry-after": "31"}))
    with pytest.raises(LLMError) as caught:
        await complete(server, max_retries=3)
    assert caught.value.reason == "http_429" and len(server.requests) == 1


async def test_a_400_is_not_retried() -> None:
    server = Server(lambda r: httpx.Response(400, json={"error": {"message": "bad request"}}))
    with pytest.raises(LLMError) as caught:
        await complete(server, max_retries=3)
    assert caught.value.reason == "http_400" and len(server.requests) == 1


async def test_a_502_is_retried_up_to_max_retries() -> None:
    server = Server(lambda r: httpx.Response(502))
    with pytest.raises(LLMError) as caught:
        await complete(server, max_retries=3)
    assert caught.value.reason == "http_502" and len(server.requests) == 4


async def test_an_error_object_in_the_stream_is_a_stream_error() -> None:
    error = {"error": {"message": "model overloaded", "type": "server_error"}}
    server = Server(lambda r: sse(chunk("Hel"), f"data: {json.dumps(error)}\n\n"))
    with pytest.raises(LLMError) as caught:
        await stream(server)
    assert caught.value.reason == "stream_error"


async def test_a_stream_without_a_finish_is_interrupted() -> None:
    with pytest.raises(LLMError) as caught:
        await stream(Server(lambda r: sse(chunk("Hel"), chunk("lo"))))
    assert caught.value.reason == "stream_interrupted"


async def test_a_stream_without_text_is_empty() -> None:
    with pytest.raises(LLMError) as caught:
        await stream(Server(lambda r: sse(chunk(None, "stop"), "data: [DONE]\n\n")))
    assert caught.value.reason == "empty_response"


async def test_the_key_is_the_bearer_token_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = Server(lambda r: httpx.Response(500), lambda r: reply("Fine."))
    assert await complete(server, api_key=SecretStr(KEY), max_retries=1) == "Fine."
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {KEY}"] * 2
    assert any(r.name == "qa.llm" for r in caplog.records)  # the retry was logged...
    assert KEY not in caplog.text  # ...without the key


async def test_without_a_key_no_authorization_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK would otherwise fall back to $OPENAI_API_KEY and send it to a third-party server.
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-secret")
    server = Server(lambda r: reply("Fine."))
    assert await complete(server) == "Fine."
    [request] = server.requests
    assert "authorization" not in request.headers and "openai-organization" not in request.headers
    assert request.url == "http://llm.test/v1/chat/completions"
    assert json.loads(request.content)["stream"] is False
