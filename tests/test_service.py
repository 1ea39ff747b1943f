"""Every surface goes through the chat service: each turn is stored, counted, and streams share slots.

The Slack surface's turn is checked in tests/test_slack.py, beside its stand-in fixtures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI
from typer.testing import CliRunner

from qa.api.app import create_app
from qa.cli import app as cli_app
from qa.config import Settings, get_settings
from qa.pipeline import QAPipeline
from qa.service.chat import CLI_OWNER
from qa.service.slots import MemorySlots
from qa.storage.sql import SQLStore
from tests.conftest import make_settings
from tests.fake_llm import ScriptedLLM, completion, pipeline_with_llm
from tests.fakes import FakeEmbedder
from tests.live import serve
from tests.test_api import sse_events
from tests.test_observability import samples

QUESTION = "How can technical blueprints be sent?"


def answers_counted(client: TestClient, surface: str) -> float:
    return sum(
        value
        for (name, labels), value in samples(client).items()
        if name == "qa_answers_total" and ("surface", surface) in labels
    )


def stored_questions(client: TestClient, conversation_id: str) -> list[str]:
    response = client.get(f"/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return [m["question"] for m in response.json()["messages"]]


@pytest.fixture
def client(settings: Settings, fake_embedder: FakeEmbedder) -> Iterator[TestClient]:
    limited = settings.model_copy(
        update={"security": settings.security.model_copy(update={"max_streams": 1})}
    )
    app = create_app(limited, lambda s: QAPipeline.load(s, embedder_factory=lambda _: fake_embedder))
    with TestClient(app, client=("127.0.0.1", 50000)) as test_client:  # loopback may read /metrics
        yield test_client


def test_http_json_turn_is_stored_and_counted(client: TestClient) -> None:
    answer = client.post("/v1/chat", json={"message": QUESTION}).json()
    assert stored_questions(client, answer["conversation_id"]) == [QUESTION]
    assert answers_counted(client, "api") == 1


def test_http_sse_turn_is_stored_and_counted(client: TestClient) -> None:
    response = client.post("/v1/chat", json={"message": QUESTION, "stream": True})
    done: dict[str, Any] = next(data for name, data in sse_events(response.text) if name == "done")
    assert stored_questions(client, done["conversation_id"]) == [QUESTION]
    assert answers_counted(client, "api") == 1


@pytest.mark.parametrize("stream", [False, True])
def test_openai_turns_are_stored_and_counted(client: TestClient, stream: bool) -> None:
    body = {"model": "qa-article-bot", "messages": [{"role": "user", "content": QUESTION}], "stream": stream}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    if stream:
        chunks = [line[6:] for line in response.text.splitlines() if line.startswith("data: {")]
        conversation_id = httpx.Response(200, content=chunks[-1]).json()["conversation_id"]
    else:
        conversation_id = response.json()["conversation_id"]
    assert stored_questions(client, conversation_id) == [QUESTION]
    assert answers_counted(client, "openai") == 1


def test_openai_stream_takes_the_same_stream_slots(client: TestClient) -> None:
    slots = client.app.state.runtime.slots  # type: ignore[attr-defined]
    assert isinstance(slots, MemorySlots)
    release = slots.take("someone-else")  # the only slot (max_streams=1) is taken
    assert release is not None
    body = {"model": "qa-article-bot", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    refused = client.post("/v1/chat/completions", json=body)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert client.post("/v1/chat", json={"message": QUESTION, "stream": True}).status_code == 429
    release()
    assert client.post("/v1/chat/completions", json=body).status_code == 200


def test_the_official_openai_client_turn_is_counted(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: fake_embedder))
    with serve(app) as url:
        sdk = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        pieces = sdk.chat.completions.create(
            model="qa-article-bot", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
        metrics = httpx.get(f"{url}/metrics").text
    assert 'qa_answers_total{answerable="true",mode="extractive",surface="openai"} 1.0' in metrics


@pytest.mark.integration
def test_cli_turn_is_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    for name, value in (
        ("QA_CORPUS_DIR", settings.corpus_dir),
        ("QA_INDEX_DIR", settings.index_dir),
        ("QA_DATABASE_URL", settings.database_url),
        ("QA_EMBEDDING__BACKEND", "torch"),
    ):
        monkeypatch.setenv(name, str(value))
    get_settings.cache_clear()
    result = CliRunner().invoke(cli_app, ["ask", QUESTION, "--json"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    answer = httpx.Response(200, content=result.stdout).json()

    async def stored() -> list[str]:
        store = await SQLStore(settings.database_url).open()
        try:
            conversation = await store.conversation(answer["conversation_id"], CLI_OWNER)  # the CLI's own
        finally:
            await store.close()
        return [m.question for m in conversation.messages]

    assert asyncio.run(stored()) == [QUESTION]


async def test_an_llm_fault_falls_back_on_the_evidence_already_retrieved(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    def broken(payload: dict[str, Any]) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": "bad request"}})

    pipeline = pipeline_with_llm(settings, fake_embedder, ScriptedLLM([broken]))
    answer = await pipeline.answer(QUESTION)
    assert answer.fallback_reason == "http_400" and answer.answerable
    assert pipeline.retrievals == 1
    events = [event async for event in pipeline.answer_stream(QUESTION)]
    assert events and pipeline.retrievals == 2  # one more question, one more retrieval


async def test_a_follow_up_rewritten_by_the_model_is_retrieved_once_even_when_the_answer_fails(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    from qa.contract import Turn

    rewrite = ScriptedLLM(
        [
            lambda p: completion("How can technical blueprints be sent to North Korea?"),
            lambda p: httpx.Response(400, json={"error": {"message": "no"}}),
        ]
    )
    pipeline = pipeline_with_llm(settings, fake_embedder, rewrite)
    history = [Turn(role="user", content="What could Russia give North Korea?")]
    answer = await pipeline.answer("And the blueprints?", history)
    assert answer.fallback_reason == "http_400"
    assert pipeline.retrievals == 1 and len(rewrite.requests) == 2
