"""Conversations and feedback over HTTP, and follow-up questions with the real model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qa.api.app import create_app
from qa.cli import app as cli_app
from qa.config import Settings, get_settings
from qa.contract import MAX_HISTORY_MESSAGES
from qa.pipeline import QAPipeline
from tests.fakes import FakeEmbedder
from tests.test_api import sse_events


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    # The CLI reads settings through the cached get_settings(); each test sets its own env.
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_conversation_is_stored_and_read_back(fake_client: TestClient) -> None:
    first = fake_client.post("/v1/chat", json={"message": "How can technical blueprints be sent?"}).json()
    conversation = first["conversation_id"]
    second = fake_client.post(
        "/v1/chat", json={"message": "Who was the visit a jolt for?", "conversation_id": conversation}
    ).json()
    stored = fake_client.get(f"/v1/conversations/{conversation}")
    assert stored.status_code == 200
    body = stored.json()
    assert body["conversation_id"] == conversation
    assert [m["message_id"] for m in body["messages"]] == [first["message_id"], second["message_id"]]
    assert body["messages"][0]["question"] == "How can technical blueprints be sent?"
    assert body["messages"][0]["answer"] == first["answer"]
    assert body["messages"][0]["citations"] == first["citations"]
    assert body["messages"][1]["mode"] == "extractive" and "retrieval" in body["messages"][1]["timings_ms"]


def test_unknown_conversation_is_404(fake_client: TestClient) -> None:
    response = fake_client.get("/v1/conversations/c_nobody")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_streamed_answers_are_stored_too(fake_client: TestClient) -> None:
    response = fake_client.post(
        "/v1/chat", json={"message": "How can technical blueprints be sent?", "stream": True}
    )
    answer = next(data for name, data in sse_events(response.text) if name == "done")
    stored = fake_client.get(f"/v1/conversations/{answer['conversation_id']}").json()
    assert stored["messages"][0]["message_id"] == answer["message_id"]


def test_feedback_is_stored_and_exported(fake_client: TestClient, settings: Settings) -> None:
    answer = fake_client.post("/v1/chat", json={"message": "Who was the visit a jolt for?"}).json()
    created = fake_client.post(
        "/v1/feedback", json={"message_id": answer["message_id"], "rating": "up", "comment": " spot on "}
    )
    assert created.status_code == 201
    assert created.json() == {
        "message_id": answer["message_id"],
        "rating": "up",
        "source": "api",
        "replaced": False,
    }
    # Rating again replaces the earlier rating: one per answer and rater, the last one counts.
    again = fake_client.post("/v1/feedback", json={"message_id": answer["message_id"], "rating": "down"})
    assert again.status_code == 201 and again.json()["replaced"] is True
    other = fake_client.post("/v1/chat", json={"message": "How can technical blueprints be sent?"}).json()
    fake_client.post(
        "/v1/feedback", json={"message_id": other["message_id"], "rating": "up", "comment": "ok"}
    )

    runner = CliRunner()
    env = {"QA_DATABASE_URL": settings.database_url}
    jsonl = runner.invoke(cli_app, ["feedback", "export", "--format", "jsonl"], env=env)
    assert jsonl.exit_code == 0, jsonl.output
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [(r["rating"], r["comment"]) for r in rows] == [("down", None), ("up", "ok")]
    assert rows[0]["answer"] == answer["answer"] and rows[0]["question"] == "Who was the visit a jolt for?"

    csv_out = runner.invoke(cli_app, ["feedback", "export", "--format", "csv"], env=env)
    assert csv_out.exit_code == 0
    lines = csv_out.stdout.splitlines()
    assert lines[0].startswith("message_id,conversation_id,rating") and len(lines) == 3


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"message_id": "m_unknown", "rating": "up"}, 404),
        ({"message_id": "m_x", "rating": "meh"}, 422),
        ({"message_id": "m_x", "rating": "up", "comment": "x" * 2001}, 422),
        ({"message_id": "m x", "rating": "up"}, 422),
    ],
)
def test_bad_feedback_is_a_4xx(fake_client: TestClient, body: dict[str, object], status: int) -> None:
    response = fake_client.post("/v1/feedback", json=body)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"code", "message"}


def test_export_without_a_database_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app, ["feedback", "export"], env={"QA_DATABASE_URL": f"sqlite:///{tmp_path}/none.db"}
    )
    assert result.exit_code == 1 and "No database" in result.output


def test_too_long_history_is_rejected(fake_client: TestClient) -> None:
    history = [{"role": "user", "content": "hi"}] * (MAX_HISTORY_MESSAGES + 1)
    response = fake_client.post("/v1/chat", json={"message": "Where did Kim travel?", "history": history})
    assert response.status_code == 422 and "history" in response.json()["error"]["message"]


def test_history_beyond_the_configured_turns_keeps_the_latest(
    fake_client: TestClient, settings: Settings
) -> None:
    filler = [{"role": "user", "content": "Tell me about the weather."}] * MAX_HISTORY_MESSAGES
    recent = [{"role": "user", "content": "Who is Chun In-bum?"}]
    body = {"message": "What did he say about the triad?", "history": filler[: -len(recent)] + recent}
    answer = fake_client.post("/v1/chat", json=body).json()
    assert settings.max_history_messages < MAX_HISTORY_MESSAGES
    assert answer["answerable"] and "triad" in answer["answer"].lower()


def test_conversations_survive_a_restart(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    def loader(s: Settings) -> QAPipeline:
        return QAPipeline.load(s, embedder_factory=lambda _: fake_embedder)

    with TestClient(create_app(settings, loader)) as client:
        answer = client.post("/v1/chat", json={"message": "Who was the visit a jolt for?"}).json()
    with TestClient(create_app(settings, loader)) as client:
        stored = client.get(f"/v1/conversations/{answer['conversation_id']}").json()
    assert stored["messages"][0]["answer"] == answer["answer"]


@pytest.mark.integration
def test_follow_up_uses_stored_history(real_client: TestClient) -> None:
    first = real_client.post("/v1/chat", json={"message": "Who is Chun In-bum?"}).json()
    assert "retired South Korean general" in first["answer"]
    follow = real_client.post(
        "/v1/chat",
        json={"message": "What did he say about the triad?", "conversation_id": first["conversation_id"]},
    ).json()
    assert follow["answerable"] is True
    quotes = [c["quote"] for c in follow["citations"]]
    assert any("would want the triad" in q for q in quotes), quotes
    # Alone, the same words are not enough to single out his quote.
    alone = real_client.post("/v1/chat", json={"message": "What did he say about the triad?"}).json()
    assert not all("would want the triad" in c["quote"] for c in alone["citations"])
