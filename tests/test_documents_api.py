"""Documents over HTTP with the FAISS backend: admin-only uploads and removals, served at once,
noticed by a second server on the same disk, and bad files refused with a reason."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from fpdf import FPDF

from qa.api.app import create_app
from qa.config import IndexSettings, Settings
from qa.embedding.base import Vectors
from qa.pipeline import QAPipeline
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder
from tests.live import serve

ADMIN = {"Authorization": "Bearer admin-secret"}
LIGHTHOUSE = (
    "The Zorblax lighthouse on Kelvin Island was painted teal in 1931.\n\n"
    "Its keeper, Ansel Myrberg, lit the lamp every night for forty years."
)


class ExplodingEmbedder(FakeEmbedder):
    """Fails on any text mentioning "detonate": an ingestion that breaks half-way."""

    def embed(self, texts: list[str]) -> Vectors:
        if any("detonate" in t for t in texts):
            raise RuntimeError("embedding failed")
        return super().embed(texts)


def admin_settings(root: Path, **overrides: object) -> Settings:
    overrides.setdefault("index", IndexSettings(reload_interval_s=0.2))
    return make_settings(root, admin_keys="admin-secret", **overrides)


def client_for(settings: Settings) -> TestClient:
    embedder = ExplodingEmbedder()
    return TestClient(create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: embedder)))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with client_for(admin_settings(tmp_path)) as test_client:
        yield test_client


def cited(client: TestClient | httpx.Client, question: str) -> set[str]:
    body = client.post("/v1/chat", json={"message": question}, headers=ADMIN).json()
    return {c["doc_id"] for c in body["citations"]}


def upload(client: TestClient | httpx.Client, name: str, data: bytes, headers: dict[str, str] = ADMIN) -> Any:
    response: Any = client.post("/v1/documents", files={"file": (name, data)}, headers=headers)
    return response  # TestClient's and httpx's Response types differ; both have what tests read


def test_an_uploaded_document_is_answered_from_at_once_and_a_removed_one_no_longer(
    client: TestClient,
) -> None:
    question = "What colour was the Zorblax lighthouse on Kelvin Island painted?"
    assert "lighthouse" not in cited(client, question)
    response = upload(client, "lighthouse.txt", LIGHTHOUSE.encode())
    assert response.status_code == 201, response.text
    assert response.json() == {"doc_id": "lighthouse", "status": "added", "sentences": None, "documents": 2}
    assert cited(client, question) == {"lighthouse"}
    assert client.get("/v1/documents/lighthouse", headers=ADMIN).json()["text"] == LIGHTHOUSE
    assert upload(client, "lighthouse.txt", LIGHTHOUSE.encode()).json()["status"] == "unchanged"

    removed = client.delete("/v1/documents/lighthouse", headers=ADMIN)
    assert removed.status_code == 200 and removed.json()["status"] == "removed"
    assert "lighthouse" not in cited(client, question)
    assert client.get("/v1/documents/lighthouse", headers=ADMIN).status_code == 404
    missing = client.delete("/v1/documents/lighthouse", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_pdf_upload_is_extracted(client: TestClient) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "The Quillon observatory opened in 1887 on Mount Veska.")
    response = upload(client, "observatory.pdf", bytes(pdf.output()))
    assert response.status_code == 201, response.text
    assert "observatory" in cited(client, "When did the Quillon observatory open on Mount Veska?")


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("notes.docx", b"PK\x03\x04", 415, "unsupported_media_type"),
        ("noext", b"text", 415, "unsupported_media_type"),
        ("../../etc/passwd.txt", b"\xff\xfe not utf-8 \xff", 422, "invalid_document"),
        ("-rf.txt", b"text", 422, "invalid_document"),
        ("empty.txt", b"   \n\n  ", 422, "invalid_document"),
        ("broken.pdf", b"%PDF-1.4 this is not a pdf", 422, "invalid_document"),
    ],
)
def test_bad_files_get_a_4xx_with_a_reason(
    client: TestClient, name: str, data: bytes, status: int, code: str
) -> None:
    response = upload(client, name, data)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert "/tmp" not in error["message"] and "qa-upload" not in error["message"]
    assert len(client.get("/v1/documents", headers=ADMIN).json()["documents"]) == 1


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    with client_for(admin_settings(tmp_path, max_upload_bytes=2048)) as small:
        response = upload(small, "big.txt", b"word " * 1000)
        assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
        huge = upload(small, "huge.txt", b"word " * 40_000)  # past the body limit itself
        assert huge.status_code == 413


def test_only_an_admin_key_may_change_documents(tmp_path: Path) -> None:
    settings = admin_settings(tmp_path, api_keys="server-key")
    with client_for(settings) as keyed:
        assert upload(keyed, "a.txt", b"Some text.", headers={}).status_code == 401
        server = upload(keyed, "a.txt", b"Some text.", headers={"Authorization": "Bearer server-key"})
        assert server.status_code == 403 and server.json()["error"]["code"] == "forbidden"
        assert (
            keyed.delete(
                "/v1/documents/kim-russia-visit", headers={"Authorization": "Bearer server-key"}
            ).status_code
            == 403
        )
        assert upload(keyed, "a.txt", b"Some text.").status_code == 201  # the admin key also passes /v1
    with client_for(make_settings(tmp_path / "open")) as open_service:  # no admin key configured
        refused = upload(open_service, "a.txt", b"Some text.")
        assert refused.status_code == 403 and "disabled" in refused.json()["error"]["message"]


def test_a_failed_ingestion_leaves_the_previous_documents_answering(client: TestClient) -> None:
    before = client.get("/v1/documents", headers=ADMIN).json()
    response = upload(client, "bomb.txt", b"Engineers detonate the old dam at noon.")
    assert response.status_code == 500 and "embedding failed" not in response.text
    assert client.get("/v1/documents", headers=ADMIN).json() == before
    assert "kim-russia-visit" in cited(client, "Where did Kim Jong-un travel?")
    assert upload(client, "lighthouse.txt", LIGHTHOUSE.encode()).status_code == 201  # still works after


def test_another_server_on_the_same_disk_picks_up_the_change(tmp_path: Path) -> None:
    settings = admin_settings(tmp_path)
    question = "What colour was the Zorblax lighthouse on Kelvin Island painted?"
    with (
        client_for(settings) as first,
        serve(client_for(settings).app) as url,  # type: ignore[arg-type]
        httpx.Client(base_url=url, timeout=30) as other,
    ):
        assert upload(first, "lighthouse.txt", LIGHTHOUSE.encode()).status_code == 201
        assert wait_until(lambda: cited(other, question) == {"lighthouse"})
        assert first.delete("/v1/documents/lighthouse", headers=ADMIN).status_code == 200
        assert wait_until(lambda: "lighthouse" not in cited(other, question))


def wait_until(condition: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_answers_in_flight_during_uploads_and_removals_all_succeed(tmp_path: Path) -> None:
    settings = admin_settings(tmp_path)
    questions = ["Where did Kim Jong-un travel?", "What did Putin show Kim?", "Who is Chun In-bum?"]
    app = client_for(settings).app  # served by uvicorn only: one lifespan, one event loop
    with (
        serve(app) as url,  # type: ignore[arg-type]
        httpx.Client(base_url=url, timeout=60, headers=ADMIN) as http,
    ):
        statuses: list[int] = []
        done = threading.Event()

        def ask_repeatedly() -> None:
            with httpx.Client(base_url=url, timeout=60, headers=ADMIN) as asker:
                while not done.is_set():
                    for question in questions:
                        statuses.append(asker.post("/v1/chat", json={"message": question}).status_code)

        askers = [threading.Thread(target=ask_repeatedly) for _ in range(4)]
        for thread in askers:
            thread.start()
        try:
            for round_ in range(3):
                text = LIGHTHOUSE.replace("1931", str(1931 + round_)).encode()
                assert upload(http, "lighthouse.txt", text).status_code == 201
                assert http.delete("/v1/documents/lighthouse").status_code == 200
        finally:
            done.set()
            for thread in askers:
                thread.join(60)
        assert statuses and set(statuses) == {200}, set(statuses)
        assert app.state.runtime.reloads >= 6  # type: ignore[attr-defined]
