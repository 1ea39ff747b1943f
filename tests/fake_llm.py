"""A scripted OpenAI-compatible server for ``httpx.MockTransport``, and helpers to build replies.

Replies are computed from the request the way a model would see it: the numbered source lines
of the answer prompt, so a test can say "cite the sentence about blueprints" without knowing
which number retrieval gave it.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from qa.answering.llm import OpenAICompatibleGenerator, make_client
from qa.config import Settings
from qa.embedding.base import Embedder
from qa.index import SearchIndex
from qa.pipeline import QAPipeline

Reply = Callable[[dict[str, Any]], httpx.Response]
_SOURCE_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def prompt_of(payload: dict[str, Any]) -> str:
    return str(payload["messages"][-1]["content"])


def is_rewrite(payload: dict[str, Any]) -> bool:
    return "Standalone question" in prompt_of(payload)


def sources(payload: dict[str, Any]) -> dict[int, str]:
    """The numbered sentences the answer prompt showed the model."""
    return {int(n): text for n, text in _SOURCE_LINE.findall(prompt_of(payload))}


def number_of(payload: dict[str, Any], needle: str) -> int:
    matches = [n for n, text in sources(payload).items() if needle.lower() in text.lower()]
    assert matches, f"no source sentence containing {needle!r} was given to the model"
    return matches[0]


def completion(content: object) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
        },
    )


def chunk_line(text: str | None, finish_reason: str | None = None) -> bytes:
    delta = {} if text is None else {"content": text}
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class CutStream(httpx.AsyncByteStream):
    """Sends some bytes, then the connection drops (or, with ``stall``, goes silent past the timeout)."""

    def __init__(self, parts: list[bytes], stall: bool = False) -> None:
        self._parts = parts
        self._stall = stall

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self._parts:
            yield part
        if self._stall:
            raise httpx.ReadTimeout("no bytes within the read timeout")
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def streamed(pieces: list[str], done: bool = True, cut: bool = False, stall: bool = False) -> httpx.Response:
    """An SSE chat-completion stream of ``pieces``; ``done=False`` omits the end, ``cut`` drops it.

    A piece starting with ``{`` is sent as a raw (broken) data line instead of a chunk.
    """
    parts = [f"data: {p}\n\n".encode() if p.startswith("{") else chunk_line(p) for p in pieces]
    if done:
        parts += [chunk_line(None, "stop"), b"data: [DONE]\n\n"]
    headers = {"content-type": "text/event-stream"}
    if cut or stall:
        return httpx.Response(200, headers=headers, stream=CutStream(parts, stall))
    return httpx.Response(200, headers=headers, content=b"".join(parts))


def split_words(text: str) -> list[str]:
    """A reply split like a model's tokens: word by word, spaces kept."""
    return re.findall(r"\S+\s*", text)


@dataclass
class ScriptedLLM:
    """Answers each request with the next reply function (the last one repeats)."""

    replies: list[Reply]
    requests: list[httpx.Request] = field(default_factory=list)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        return reply(json.loads(request.content))


def llm_settings(base: Settings, **overrides: object) -> Settings:
    llm = {"base_url": "http://llm.test/v1", "model": "test-model", "retry_backoff": 0.0, **overrides}
    return base.model_copy(update={"llm": base.llm.model_copy(update=llm)})


def pipeline_with_llm(
    settings: Settings,
    embedder: Embedder,
    llm: Callable[[httpx.Request], Any],
    index: SearchIndex | None = None,
    **overrides: object,
) -> QAPipeline:
    """A pipeline whose one outbound client talks to ``llm`` through ``httpx.MockTransport``."""
    configured = llm_settings(settings, **overrides)
    if index is None:
        pipeline = QAPipeline.load(configured, embedder_factory=lambda _: embedder)
    else:  # reuse a built index: building one per test is the slow part
        pipeline = QAPipeline(configured, embedder, index)
    client = make_client(configured.llm, transport=httpx.MockTransport(llm))
    pipeline.attach_llm(OpenAICompatibleGenerator(configured.llm, client))
    return pipeline


def unused_url() -> str:
    """A loopback URL nothing listens on (a port the OS just handed out and we let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
