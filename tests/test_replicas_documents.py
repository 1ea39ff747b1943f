"""Two replicas sharing one Milvus server: a document uploaded through one is cited by the other,
and once removed through either, by neither. Each replica is its own app, runtime, pipeline and
Milvus connection, served over real HTTP on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from qa.api.app import create_app
from qa.config import IndexSettings, MilvusSettings
from qa.embedding.base import Embedder
from qa.index.milvus import MilvusIndex
from qa.pipeline import QAPipeline
from tests.conftest import make_settings
from tests.live import serve
from tests.milvus_server import new_prefix
from tests.test_documents_api import ADMIN, LIGHTHOUSE, cited, upload, wait_until

pytestmark = pytest.mark.integration
QUESTION = "What colour was the Zorblax lighthouse on Kelvin Island painted?"


def test_a_document_uploaded_through_one_replica_is_cited_by_the_other(
    milvus_uri: str, tmp_path: Path, real_embedder: Embedder
) -> None:
    milvus = MilvusSettings(uri=milvus_uri, collection_prefix=new_prefix())
    index = IndexSettings(backend="milvus", reload_interval_s=0.5)

    def replica(name: str) -> httpx.Client:
        # Separate corpus and index directories: nothing shared but the Milvus server.
        settings = make_settings(tmp_path / name, index=index, milvus=milvus, admin_keys="admin-secret")
        app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: real_embedder))
        return app  # type: ignore[return-value]

    first_app, second_app = replica("a"), replica("b")
    try:
        # The first replica builds the collections from its corpus; the second only reads them.
        with (
            serve(first_app) as first_url,  # type: ignore[arg-type]
            serve(second_app) as second_url,  # type: ignore[arg-type]
            httpx.Client(base_url=first_url, timeout=60) as first,
            httpx.Client(base_url=second_url, timeout=60) as second,
        ):
            assert "lighthouse" not in cited(second, QUESTION)
            response = upload(first, "lighthouse.txt", LIGHTHOUSE.encode())
            assert response.status_code == 201, response.text
            assert response.json()["status"] == "added" and response.json()["documents"] == 2
            assert cited(first, QUESTION) == {"lighthouse"}  # at once where it was uploaded
            assert wait_until(lambda: cited(second, QUESTION) == {"lighthouse"})
            quote = second.post("/v1/chat", json={"message": QUESTION}, headers=ADMIN).json()["citations"][0]
            text = second.get("/v1/documents/lighthouse", headers=ADMIN).json()["text"]
            assert text[quote["start"] : quote["end"]] == quote["quote"]

            removed = second.delete("/v1/documents/lighthouse", headers=ADMIN)
            assert removed.status_code == 200, removed.text
            assert "lighthouse" not in cited(second, QUESTION)
            assert wait_until(lambda: "lighthouse" not in cited(first, QUESTION))
            assert wait_until(lambda: first.get("/v1/documents/lighthouse", headers=ADMIN).status_code == 404)
    finally:
        settings = make_settings(tmp_path / "a", index=index, milvus=milvus)
        MilvusIndex(settings).drop()
