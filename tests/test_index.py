"""Index build, persistence, staleness and corruption handling (fake embedder: fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.config import ChunkingSettings, IndexSettings, Settings
from qa.errors import CorpusError, IndexCorruptError, IndexMissingError
from qa.index import build_index, ensure_index, load_index, read_manifest, staleness
from qa.pipeline import QAPipeline
from tests.fakes import FakeEmbedder


def test_manifest_records_model_chunking_and_corpus(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    build_index(settings, fake_embedder)
    manifest = read_manifest(settings.index_dir)
    assert manifest.model_id == settings.embedding.model_id
    assert manifest.dimension == fake_embedder.dimension
    assert manifest.chunking == settings.chunking.model_dump()
    assert set(manifest.corpus) == {"kim-russia-visit.txt"}
    assert manifest.format_version >= 1
    assert staleness(settings) is None


def test_every_sentence_and_chunk_span_is_exact(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    build_index(settings, fake_embedder)
    index = load_index(settings.index_dir)
    text = index.documents["kim-russia-visit"].text
    assert all(text[s.start : s.end] == s.text for s in index.sentences)
    for chunk in index.chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        members = [index.sentences[i] for i in chunk.sentence_ids]
        assert len({m.paragraph for m in members}) == 1
        assert len(members) <= settings.chunking.sentences_per_chunk


def test_rebuild_swaps_atomically_and_removes_the_old_build(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    first = build_index(settings, fake_embedder)
    second = build_index(settings, fake_embedder)
    assert first != second and not first.exists()
    assert (settings.index_dir / "current").resolve() == second
    assert not list(settings.index_dir.glob(".*tmp"))


def test_failed_build_leaves_the_current_index_untouched(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    build_index(settings, fake_embedder)
    before = (settings.index_dir / "current").resolve()
    (settings.corpus_dir / "broken.txt").write_bytes(b"\xff\xfe not utf-8 \xc3")
    with pytest.raises(CorpusError, match=r"broken\.txt"):
        build_index(settings, fake_embedder)
    assert (settings.index_dir / "current").resolve() == before
    assert load_index(settings.index_dir).manifest.counts.documents == 1


def test_corpus_change_makes_the_index_stale_and_startup_rebuilds(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    build_index(settings, fake_embedder)
    (settings.corpus_dir / "note.md").write_text("---\ntitle: A note\n---\nThe sky is green today.\n")
    assert staleness(settings) == "corpus changed"
    index = ensure_index(settings, fake_embedder)
    assert index.documents["note"].title == "A note"
    assert index.documents["note"].text == "The sky is green today."  # front matter removed


def test_settings_change_makes_the_index_stale(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    build_index(settings, fake_embedder)
    changed = settings.model_copy(update={"chunking": ChunkingSettings(sentences_per_chunk=2, overlap=0)})
    assert staleness(changed) == "chunking changed"


def test_missing_index_without_auto_build_names_the_fix(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    strict = settings.model_copy(update={"index": IndexSettings(auto_build=False)})
    with pytest.raises(IndexMissingError, match="qa index build"):
        ensure_index(strict, fake_embedder)


@pytest.mark.parametrize(
    "victim", ["chunks.faiss", "sentences.faiss", "contexts.faiss", "store.json", "manifest.json"]
)
def test_corrupt_file_is_refused_naming_file_and_fix(
    settings: Settings, fake_embedder: FakeEmbedder, victim: str
) -> None:
    build = build_index(settings, fake_embedder)
    (build / victim).write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError) as failure:
        ensure_index(settings, fake_embedder)
    assert victim in failure.value.message and "qa index build" in failure.value.message


def test_truncated_store_is_detected(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    build = build_index(settings, fake_embedder)
    store = json.loads((build / "store.json").read_text())
    store["chunks"] = store["chunks"][:-1]
    (build / "store.json").write_text(json.dumps(store))
    with pytest.raises(IndexCorruptError, match=r"store\.json"):
        load_index(settings.index_dir)


def test_corrupt_index_fails_readiness_without_leaking_paths(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    build = build_index(settings, fake_embedder)
    (build / "chunks.faiss").write_bytes(b"garbage")
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: fake_embedder))
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "qa index build" in ready.json()["detail"]
        assert client.get("/healthz").status_code == 200
        chat = client.post("/v1/chat", json={"message": "Who is Chun In-bum?"})
        assert chat.status_code == 503 and chat.json()["error"]["code"] == "index_corrupt"
        for response in (ready, chat):
            assert str(settings.index_dir) not in response.text and "Traceback" not in response.text


def test_unreadable_corpus_fails_readiness(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    settings = Settings(corpus_dir=tmp_path / "nowhere", index_dir=tmp_path / "index")
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: fake_embedder))
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "corpus" in ready.json()["detail"] and str(tmp_path) not in ready.text


def test_title_comes_from_front_matter_or_first_line(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# Heading here\n\nBody sentence one. Body two.\n")
    (corpus / "b.txt").write_text('---\ntitle: "Front matter title"\n---\nText.\n')
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    index = ensure_index(settings, fake_embedder)
    assert index.documents["a"].title == "Heading here"
    assert index.documents["b"].title == "Front matter title"
    assert all(index.documents[s.doc_id].text[s.start : s.end] == s.text for s in index.sentences)
