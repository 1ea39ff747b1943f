"""The HTTP contract, on a pipeline built with the fake embedder (fast)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient


def sse_events(body: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_chat_answers_with_verifiable_citations(fake_client: TestClient) -> None:
    response = fake_client.post("/v1/chat", json={"message": "How can technical blueprints be sent?"})
    assert response.status_code == 200
    body = response.json()
    assert body["answerable"] is True and body["mode"] == "extractive"
    assert body["conversation_id"].startswith("c_") and body["message_id"].startswith("m_")
    document = fake_client.get(f"/v1/documents/{body['citations'][0]['doc_id']}").json()
    for citation in body["citations"]:
        assert document["text"][citation["start"] : citation["end"]] == citation["quote"]
        assert f"[{citation['id']}]" in body["answer"]
    assert "dispatched online" in body["answer"]


def test_conversation_id_is_issued_by_the_server_and_echoed(fake_client: TestClient) -> None:
    first = fake_client.post("/v1/chat", json={"message": "Who was the visit a jolt for?"}).json()
    issued = first["conversation_id"]
    assert issued.startswith("c_") and len(issued) >= 32  # unguessable, not sequential
    body = fake_client.post(
        "/v1/chat", json={"message": "Who was the visit a jolt for?", "conversation_id": issued}
    ).json()
    assert body["conversation_id"] == issued
    # A client-chosen id is not a silent new conversation.
    chosen = fake_client.post(
        "/v1/chat", json={"message": "Who was the visit a jolt for?", "conversation_id": "c_mine"}
    )
    assert chosen.status_code == 404 and chosen.json()["error"]["code"] == "not_found"


def test_streaming_sends_meta_deltas_citations_done(fake_client: TestClient) -> None:
    response = fake_client.post(
        "/v1/chat", json={"message": "How can technical blueprints be sent?", "stream": True}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-2:] == ["citations", "done"]
    assert "delta" in names
    done = events[-1][1]
    streamed = "".join(str(data["text"]) for name, data in events if name == "delta")
    assert streamed.strip() == str(done["answer"]).strip()
    assert events[-2][1]["citations"] == done["citations"]


def test_search_returns_chunks_with_spans(fake_client: TestClient) -> None:
    results = fake_client.post("/v1/search", json={"query": "technical blueprints", "k": 3}).json()["results"]
    assert 1 <= len(results) <= 3
    text = fake_client.get("/v1/documents/kim-russia-visit").json()["text"]
    for hit in results:
        assert text[hit["start"] : hit["end"]] == hit["text"]
    assert "blueprints" in results[0]["text"]


def test_documents_list_and_detail(fake_client: TestClient) -> None:
    listing = fake_client.get("/v1/documents").json()["documents"]
    assert [d["doc_id"] for d in listing] == ["kim-russia-visit"]
    detail = fake_client.get("/v1/documents/kim-russia-visit").json()
    # The article's first line is its headline (issue 14), not its cut-off first sentence.
    assert detail["title"] == "Kim Jong-un’s six-day Russia tour ends with questions about arms deals"
    assert detail["text"].startswith(detail["title"] + "\nSEOUL, South Korea —")
    assert len(detail["text"]) == listing[0]["chars"]


def test_health_and_readiness(fake_client: TestClient) -> None:
    assert fake_client.get("/healthz").json() == {"status": "ok"}
    assert fake_client.get("/readyz").json()["status"] == "ready"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("post", "/v1/chat", {"json": {"message": ""}}, 422, "invalid_request"),
        ("post", "/v1/chat", {"json": {"message": "   \n\t "}}, 422, "invalid_request"),
        ("post", "/v1/chat", {"json": {"message": "x" * 2001}}, 422, "invalid_request"),
        ("post", "/v1/chat", {"json": {"message": 42}}, 422, "invalid_request"),
        ("post", "/v1/chat", {"json": {}}, 422, "invalid_request"),
        ("post", "/v1/chat", {"json": ["a list"]}, 422, "invalid_request"),
        (
            "post",
            "/v1/chat",
            {"content": b'{"message": ', "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
        ),
        ("post", "/v1/chat", {"json": {"message": "hi", "stream": True, "history": "no"}}, 422, None),
        ("post", "/v1/search", {"json": {"query": "Kim", "k": 0}}, 422, "invalid_request"),
        ("post", "/v1/search", {"json": {"query": "Kim", "k": 51}}, 422, "invalid_request"),
        ("post", "/v1/search", {"json": {"query": " "}}, 422, "invalid_request"),
        ("get", "/v1/documents/no-such-doc", {}, 404, "not_found"),
        ("get", "/no/such/route", {}, 404, "not_found"),
        ("get", "/v1/chat", {}, 405, "method_not_allowed"),
    ],
)
def test_bad_input_gets_a_json_4xx(
    fake_client: TestClient,
    method: str,
    path: str,
    kwargs: dict[str, object],
    status: int,
    code: str | None,
) -> None:
    response = getattr(fake_client, method)(path, **kwargs)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"] and "Traceback" not in response.text
    if code:
        assert error["code"] == code


def test_message_of_exactly_the_limit_is_accepted(fake_client: TestClient) -> None:
    question = ("What did Kim see on the frigate? " * 70)[:2000]
    assert fake_client.post("/v1/chat", json={"message": question}).status_code == 200


def test_openapi_docs_are_served(fake_client: TestClient) -> None:
    assert fake_client.get("/docs").status_code == 200
    paths = fake_client.get("/openapi.json").json()["paths"]
    assert {"/v1/chat", "/v1/search", "/v1/documents", "/v1/documents/{doc_id}"} <= set(paths)
