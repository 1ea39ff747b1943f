"""Conversation ownership over HTTP (issue 12): each attack from the report, reproduced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from qa.api.app import create_app
from qa.api.deps import runtime_of
from qa.config import SecuritySettings, WidgetKey
from qa.contract import Answer
from qa.pipeline import QAPipeline
from qa.slack.bot import Where
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder

KEY_A, KEY_B, ADMIN = "sk_owner_a_123456", "sk_owner_b_654321", "sk_admin_999999"
WIDGET_KEY, SITE = "pk_widget_abcdef", "https://news.example.org"
QUESTION = {"message": "How can technical blueprints be sent?"}


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


@pytest.fixture
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path_factory.mktemp("owners"),
        api_keys=[KEY_A, KEY_B],
        admin_keys=[ADMIN],
        security=SecuritySettings(widget_keys=[WidgetKey(key=SecretStr(WIDGET_KEY), origins=[SITE])]),
    )
    embedder = FakeEmbedder()
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: embedder))
    with TestClient(app) as test_client:
        yield test_client


def test_another_key_can_neither_read_continue_nor_rate(client: TestClient) -> None:
    answer = client.post("/v1/chat", json=QUESTION, headers=auth(KEY_A)).json()
    conversation, message = answer["conversation_id"], answer["message_id"]
    assert client.get(f"/v1/conversations/{conversation}", headers=auth(KEY_A)).status_code == 200

    read = client.get(f"/v1/conversations/{conversation}", headers=auth(KEY_B))
    assert read.status_code == 404 and read.json()["error"]["code"] == "not_found"
    for stream in (False, True):
        append = client.post(
            "/v1/chat",
            json={**QUESTION, "conversation_id": conversation, "stream": stream},
            headers=auth(KEY_B),
        )
        assert append.status_code == 404, stream  # a JSON error, before any event is streamed
    openai = client.post(
        "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": QUESTION["message"]}],
            "conversation_id": conversation,
        },
        headers=auth(KEY_B),
    )
    assert openai.status_code == 404
    rated = client.post("/v1/feedback", json={"message_id": message, "rating": "down"}, headers=auth(KEY_B))
    assert rated.status_code == 404
    # Nothing was appended: the owner still sees exactly one message.
    stored = client.get(f"/v1/conversations/{conversation}", headers=auth(KEY_A)).json()
    assert [m["message_id"] for m in stored["messages"]] == [message]
    # The admin key reads anyone's conversation.
    assert client.get(f"/v1/conversations/{conversation}", headers=auth(ADMIN)).status_code == 200


def test_client_chosen_ids_are_not_new_conversations(client: TestClient) -> None:
    for stream in (False, True):
        chosen = client.post(
            "/v1/chat", json={**QUESTION, "conversation_id": "a", "stream": stream}, headers=auth(KEY_A)
        )
        assert chosen.status_code == 404
    assert client.get("/v1/conversations/a", headers=auth(ADMIN)).status_code == 404  # nothing created


def test_widget_conversations_belong_to_one_browser_session(client: TestClient) -> None:
    page = auth(WIDGET_KEY, Origin=SITE)
    first = client.post("/v1/chat", json=QUESTION, headers=page)
    session = first.headers["X-QA-Session"]
    assert len(session) == 43  # 256 random bits, issued by the server
    conversation = first.json()["conversation_id"]
    mine = {**page, "X-QA-Session": session}
    follow = client.post("/v1/chat", json={**QUESTION, "conversation_id": conversation}, headers=mine)
    assert follow.status_code == 200 and "X-QA-Session" not in follow.headers  # kept, not reissued
    assert client.get(f"/v1/conversations/{conversation}", headers=mine).status_code == 200

    # Everyone on the site holds the same public widget key: without the session, nothing.
    for stranger in (page, {**page, "X-QA-Session": "x" * 43}):
        assert client.get(f"/v1/conversations/{conversation}", headers=stranger).status_code == 404
        took = client.post("/v1/chat", json={**QUESTION, "conversation_id": conversation}, headers=stranger)
        assert took.status_code == 404
        rated = client.post(
            "/v1/feedback",
            json={"message_id": first.json()["message_id"], "rating": "down"},
            headers=stranger,
        )
        assert rated.status_code == 404
    # A server key is another principal too.
    assert client.get(f"/v1/conversations/{conversation}", headers=auth(KEY_A)).status_code == 404


def test_slack_conversations_are_readable_only_with_an_admin_key(client: TestClient) -> None:
    where = Where(team="T0TEAM", channel="D0PRIVATE", ts="1700000000.000100", thread_ts=None)
    runtime = runtime_of(client.app)  # type: ignore[arg-type]
    answer = Answer(
        answer="a [1].",
        answerable=False,
        citations=[],
        conversation_id=where.conversation_id,
        message_id="m_dm",
    )
    client.portal.call(runtime.store.record, "a private question", answer, where.owner)  # type: ignore[union-attr]

    path = f"/v1/conversations/{where.conversation_id}"  # predictable: slack-T0TEAM-D0PRIVATE-dm
    for headers in (auth(KEY_A), auth(WIDGET_KEY, Origin=SITE)):
        assert client.get(path, headers=headers).status_code == 404
        took = client.post(
            "/v1/chat", json={**QUESTION, "conversation_id": where.conversation_id}, headers=headers
        )
        assert took.status_code == 404
    admin = client.get(path, headers=auth(ADMIN))
    assert admin.status_code == 200 and admin.json()["messages"][0]["question"] == "a private question"


def test_last_rating_wins_and_says_so(client: TestClient) -> None:
    answer = client.post("/v1/chat", json=QUESTION, headers=auth(KEY_A)).json()
    body = {"message_id": answer["message_id"], "rating": "up"}
    first = client.post("/v1/feedback", json=body, headers=auth(KEY_A))
    second = client.post("/v1/feedback", json={**body, "rating": "down"}, headers=auth(KEY_A))
    assert (first.status_code, first.json()["replaced"]) == (201, False)
    assert (second.status_code, second.json()["replaced"]) == (201, True)
    runtime = runtime_of(client.app)  # type: ignore[arg-type]
    records = client.portal.call(runtime.store.feedback)  # type: ignore[union-attr]
    assert [(r.message_id, r.rating) for r in records] == [(answer["message_id"], "down")]
