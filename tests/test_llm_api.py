"""``POST /v1/chat`` in LLM mode: JSON and SSE, with the model behind ``httpx.MockTransport``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.config import Settings
from qa.pipeline import QAPipeline
from tests.fake_llm import (
    ScriptedLLM,
    completion,
    llm_settings,
    number_of,
    pipeline_with_llm,
    split_words,
    streamed,
    unused_url,
)
from tests.fakes import FakeEmbedder
from tests.test_api import sse_events

BLUEPRINTS = "How can technical blueprints be sent?"


def blueprint_reply(payload: dict[str, Any]) -> str:
    return f"Technical blueprints can be dispatched online [{number_of(payload, 'blueprints')}]."


@pytest.fixture
def serve(settings: Settings, fake_embedder: FakeEmbedder) -> Iterator[Any]:
    clients: list[TestClient] = []

    def start(llm: ScriptedLLM, **overrides: object) -> TestClient:
        app = create_app(settings, lambda s: pipeline_with_llm(s, fake_embedder, llm, None, **overrides))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def test_chat_answers_in_llm_mode(serve: Any) -> None:
    client = serve(ScriptedLLM([lambda p: completion(blueprint_reply(p))]))
    body = client.post("/v1/chat", json={"message": BLUEPRINTS}).json()
    assert body["mode"] == "llm" and body["fallback_reason"] is None and body["unsupported_sentences"] == []
    text = client.get("/v1/documents/kim-russia-visit").json()["text"]
    [citation] = body["citations"]
    assert text[citation["start"] : citation["end"]] == citation["quote"]
    assert f"[{citation['id']}]" in body["answer"]


def test_chat_streams_model_tokens_then_verified_citations(serve: Any) -> None:
    raw: list[str] = []

    def reply(payload: dict[str, Any]) -> httpx.Response:
        raw[:] = split_words(blueprint_reply(payload))
        return streamed(raw)

    client = serve(ScriptedLLM([reply]))
    response = client.post("/v1/chat", json={"message": BLUEPRINTS, "stream": True})
    assert response.status_code == 200
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "meta" and events[0][1]["mode"] == "llm"
    assert names[-2:] == ["citations", "done"] and "reset" not in names
    assert [d["text"] for n, d in events if n == "delta"] == raw
    done = events[-1][1]
    assert done["mode"] == "llm" and events[-2][1]["citations"] == done["citations"]


def test_a_stream_cut_midway_is_reset_and_answered_extractively(serve: Any) -> None:
    client = serve(
        ScriptedLLM([lambda p: streamed(split_words(blueprint_reply(p))[:3], done=False, cut=True)])
    )
    events = sse_events(client.post("/v1/chat", json={"message": BLUEPRINTS, "stream": True}).text)
    names = [name for name, _ in events]
    reset = names.index("reset")
    assert events[reset][1] == {"reason": "stream_interrupted"}
    assert names.index("delta") < reset  # the model's tokens had been sent
    done = events[-1][1]
    assert done["mode"] == "extractive" and done["fallback_reason"] == "stream_interrupted"
    replacement = "".join(str(d["text"]) for n, d in events[reset:] if n == "delta")
    assert replacement.strip() == str(done["answer"]).strip()


def test_bad_input_is_still_a_json_4xx_in_llm_mode(serve: Any) -> None:
    llm = ScriptedLLM([lambda p: completion("unused")])
    client = serve(llm)
    response = client.post("/v1/chat", json={"message": "  ", "stream": True})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    assert llm.requests == []


def test_the_app_creates_its_own_client_from_settings(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    # Nothing listens there: the real httpx client fails to connect, the user
    # still gets an answer.
    configured = llm_settings(settings, base_url=unused_url(), max_retries=1)
    app = create_app(configured, lambda s: QAPipeline.load(s, embedder_factory=lambda _: fake_embedder))
    with TestClient(app) as client:
        body = client.post("/v1/chat", json={"message": BLUEPRINTS}).json()
        assert body["mode"] == "extractive" and body["fallback_reason"] == "connect_error"
        assert "dispatched online" in body["answer"]


def test_broken_prompts_make_the_service_not_ready(
    settings: Settings, fake_embedder: FakeEmbedder, tmp_path: Path
) -> None:
    configured = llm_settings(settings, prompts_dir=tmp_path / "no-prompts")
    app = create_app(configured, lambda s: QAPipeline.load(s, embedder_factory=lambda _: fake_embedder))
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "prompt templates" in ready.json()["detail"]
        assert str(tmp_path) not in ready.text
        assert client.post("/v1/chat", json={"message": BLUEPRINTS}).status_code == 503
