"""The Milvus backend against a real Milvus Lite server: same store, same BM25, same eval figures."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa.config import EmbeddingSettings, IndexSettings, MilvusSettings, Settings
from qa.corpus import segmentation
from qa.corpus.chunking import build_chunks, context_texts, sentences_of
from qa.corpus.documents import Document, parse_document, read_document
from qa.embedding.base import Embedder
from qa.errors import IndexMissingError
from qa.eval import evaluate, load_items
from qa.index.build import current_generation, ensure_index, load_current
from qa.index.lexical import tokenize, tokenize_query
from qa.index.milvus import PART_CHARS, MilvusIndex
from qa.index.milvus_search import build_milvus
from qa.index.stored import StoredDocument
from qa.pipeline import QAPipeline
from tests.conftest import ARTICLE, REPO, make_settings
from tests.fakes import FakeEmbedder
from tests.milvus_server import new_prefix

pytestmark = pytest.mark.integration
QUESTIONS = REPO / "eval" / "article" / "questions.jsonl"
GRAPHLIB = Path("/usr/share/doc/python3.11/html/library/graphlib.html")


def milvus_settings(settings: Settings, uri: str, **index: object) -> Settings:
    return settings.model_copy(
        update={
            "index": IndexSettings(backend="milvus", **index),  # type: ignore[arg-type]
            "milvus": MilvusSettings(uri=uri, collection_prefix=new_prefix()),
        }
    )


@pytest.fixture(scope="module")
def milvus_pipeline(
    milvus_uri: str, real_settings: Settings, real_embedder: Embedder
) -> Iterator[QAPipeline]:
    settings = milvus_settings(real_settings, milvus_uri)
    pipeline = QAPipeline.load(settings, embedder_factory=lambda _: real_embedder)  # builds: none yet
    yield pipeline
    MilvusIndex(settings).drop()


def test_milvus_holds_every_document_sentence_and_chunk_with_its_spans(
    milvus_pipeline: QAPipeline, real_pipeline: QAPipeline
) -> None:
    loaded, local = milvus_pipeline.index, real_pipeline.index
    assert loaded.documents == local.documents
    assert loaded.sentences == local.sentences
    assert loaded.chunks == local.chunks
    for sentence in loaded.sentences:  # citations verify against what Milvus returned
        assert loaded.documents[sentence.doc_id].text[sentence.start : sentence.end] == sentence.text
    assert loaded.generation.startswith("milvus-1-")


def test_bm25_in_milvus_ranks_chunks_like_bm25s(
    milvus_pipeline: QAPipeline, real_pipeline: QAPipeline
) -> None:
    questions = [item.q for item in load_items(QUESTIONS)][:80]
    same_best = 0
    for question in questions:
        tokens = list(tokenize_query(question))
        ours = real_pipeline.index.search.bm25_chunks(tokens, 16)
        theirs = milvus_pipeline.index.search.bm25_chunks(tokens, 16)
        # Milvus hands the score back negated; a wrong sign would put the worst match first.
        assert set(theirs[:5]) & set(ours[:5]) or not ours, question
        same_best += bool(ours) and ours[0] == theirs[0]
    assert same_best >= 0.8 * sum(
        bool(real_pipeline.index.search.bm25_chunks(list(tokenize_query(q)), 1)) for q in questions
    )


def test_dense_search_and_stored_vectors_match_faiss(
    milvus_pipeline: QAPipeline, real_pipeline: QAPipeline
) -> None:
    vector = real_pipeline.retriever.embed_query("What did Putin show Kim?")
    for name in ("chunks", "sentences", "contexts"):
        assert milvus_pipeline.index.search.dense(name, vector, 5) == real_pipeline.index.search.dense(
            name, vector, 5
        )
    ids = [0, 3, 7]
    for name in ("sentences", "contexts"):
        theirs = milvus_pipeline.index.search.vectors(name, ids)
        ours = real_pipeline.index.search.vectors(name, ids)
        assert theirs.shape == ours.shape and abs(theirs - ours).max() < 1e-5


def test_the_article_eval_agrees_within_two_points_on_both_backends(
    milvus_pipeline: QAPipeline, real_pipeline: QAPipeline
) -> None:
    items = load_items(QUESTIONS)
    faiss_figures = evaluate(real_pipeline, items).metrics()
    milvus_figures = evaluate(milvus_pipeline, items).metrics()
    print("faiss", faiss_figures, "\nmilvus", milvus_figures)
    compared = ("answer_accuracy", "citation_any", "citation_first", "refused_unanswerable", "quote_validity")
    for metric in compared:
        on_faiss, on_milvus = faiss_figures[metric], milvus_figures[metric]
        assert on_faiss is not None and on_milvus is not None, metric
        assert abs(on_faiss - on_milvus) <= 0.02, (metric, on_faiss, on_milvus)
    assert milvus_figures["quote_validity"] == 1.0


def test_a_document_written_by_anyone_changes_the_generation_and_is_loaded(
    milvus_uri: str, tmp_path: Path, real_embedder: Embedder
) -> None:
    settings = milvus_settings(Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index"), milvus_uri)
    writer = MilvusIndex(settings, real_embedder.dimension)
    writer.create(real_embedder.dimension)
    empty = current_generation(settings)
    text = (
        "The Zorblax lighthouse on Kelvin Island was painted teal in 1931.\n\nIts keeper was Ansel Myrberg."
    )
    writer.add_document(parse_document("lighthouse", text, "lighthouse.txt"), real_embedder)
    added = current_generation(settings)
    assert added != empty
    index = load_current(settings, real_embedder.dimension)
    assert list(index.documents) == ["lighthouse"] and index.generation == added
    assert [s.text for s in index.sentences][-1] == "Its keeper was Ansel Myrberg."
    assert writer.remove_document("lighthouse") and not writer.remove_document("lighthouse")
    assert current_generation(settings) == empty
    assert load_current(settings, real_embedder.dimension).documents == {}
    writer.drop()


def test_a_milvus_failure_is_a_503_not_a_traceback(
    milvus_uri: str, tmp_path: Path, real_embedder: Embedder
) -> None:
    from fastapi.testclient import TestClient

    from qa.api.app import create_app
    from tests.conftest import make_settings

    settings = milvus_settings(make_settings(tmp_path), milvus_uri)
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: real_embedder))
    with TestClient(app) as client:
        assert client.post("/v1/chat", json={"message": "Where did Kim travel?"}).status_code == 200
        MilvusIndex(settings).drop()  # the collections vanish under a running replica
        response = client.post("/v1/chat", json={"message": "Where did Kim travel?"})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "search_unavailable"
        assert "Traceback" not in response.text and milvus_uri not in response.text


def test_the_cli_fills_milvus_and_adds_and_removes_documents(
    milvus_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from qa.cli import app
    from qa.config import get_settings
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    prefix = new_prefix()
    for name, value in {
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_EMBEDDING__CACHE_DIR": str(REPO / "index" / "models"),  # the session's ONNX export
        "QA_INDEX__BACKEND": "milvus",
        "QA_MILVUS__URI": milvus_uri,
        "QA_MILVUS__COLLECTION_PREFIX": prefix,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        built = runner.invoke(app, ["index", "build"])
        assert built.exit_code == 0, built.output
        assert "1 documents, 1 written (1 embedded)" in built.output
        again = runner.invoke(app, ["index", "build"])
        assert "1 written" not in again.output and "1 unchanged" in again.output
        note = tmp_path / "lighthouse.txt"
        note.write_text("The Zorblax lighthouse on Kelvin Island was painted teal in 1931.")
        added = runner.invoke(app, ["index", "add", str(note)])
        assert added.exit_code == 0 and "1 added" in added.output, added.output
        assert "2 documents" in runner.invoke(app, ["index", "status"]).output
        assert not (settings.corpus_dir / "lighthouse.txt").exists()  # Milvus holds it, not the disk
        removed = runner.invoke(app, ["index", "remove", "lighthouse"])
        assert removed.exit_code == 0 and "1 removed" in removed.output, removed.output
        gone = runner.invoke(app, ["index", "remove", "lighthouse"])
        assert gone.exit_code == 1 and "No document" in gone.output
    finally:
        MilvusIndex(get_settings()).drop()
        get_settings.cache_clear()


@pytest.mark.skipif(not GRAPHLIB.is_file(), reason="python3.11-doc is not installed")
def test_a_page_with_sections_is_embedded_alike_on_both_backends(
    milvus_uri: str, tmp_path: Path, real_embedder: Embedder
) -> None:
    """Both backends embed a sentence under its title and section (contextual headers)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copyfile(GRAPHLIB, corpus / "library-graphlib.html")
    local = Settings(
        corpus_dir=corpus, index_dir=tmp_path / "index", database_url=f"sqlite:///{tmp_path / 'qa.db'}"
    )
    remote = milvus_settings(local, milvus_uri)
    on_faiss = QAPipeline.load(local, embedder_factory=lambda _: real_embedder).index
    on_milvus = QAPipeline.load(remote, embedder_factory=lambda _: real_embedder).index
    try:
        assert on_milvus.sentences == on_faiss.sentences
        sentences, document = on_faiss.sentences, on_faiss.documents["library-graphlib"]
        expected = real_embedder.embed(context_texts(sentences, document.title))
        ids = [s.sentence_id for s in sentences]
        sectioned = [s.sentence_id for s in sentences if s.section and s.section != document.title]
        assert len(sectioned) > 20
        for index in (on_faiss, on_milvus):
            contexts = index.search.vectors("contexts", ids)
            assert np.abs(contexts - expected).max() < 1e-4
            # Under a section the context is not the sentence alone.
            plain = index.search.vectors("sentences", sectioned)
            assert np.abs(plain - contexts[sectioned]).max() > 0.05
        vector = real_embedder.embed(["What does TopologicalSorter.prepare() do?"])
        for name in ("chunks", "sentences", "contexts"):
            assert on_milvus.search.dense(name, vector, 5) == on_faiss.search.dense(name, vector, 5)
    finally:
        MilvusIndex(remote).drop()


# -- documents stored by an older format or another model ---------------------------------------


def wrapping_markdown() -> str:
    """A Markdown page whose stored JSON spans several parts, with a fragment format 5 joins."""
    lines = ["# Text wrapping", "", "## width", "", "(default: 70) The maximum length of wrapped lines.", ""]
    for n in range(1, 121):
        lines += [
            f"## Setting {n}",
            "",
            f"Setting {n} tunes margin rule {n} of the wrapper. (see note {n}) It is read once at start.",
            "",
        ]
    return "\n".join(lines)


UPLOADED = parse_document("wrapping", wrapping_markdown(), "wrapping.md", markdown=True)


def store_as_before_stamps(milvus: MilvusIndex, document: Document, embedder: Embedder) -> int:
    """Write ``document``'s rows as the code before index stamps did; returns its part count.

    The documents rows hold the bare content hash and are keyed ``<doc_id>:<n>``; the sentences
    are split as format 4 split them (a parenthesised fragment is a sentence of its own) and
    embedded without context.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segmentation, "_join_fragments", lambda text, spans: spans)
        sentences = sentences_of([document])
    chunks = build_chunks([document], sentences, 3, 1)
    vectors = embedder.embed([s.text for s in sentences])
    chunk_vectors = embedder.embed([c.text for c in chunks])
    doc_id = document.doc_id
    milvus.create(embedder.dimension)
    milvus.client.insert(
        milvus.sentences,
        [
            {"pk": f"{doc_id}:{n}", "doc_id": doc_id, "vector": v.tolist(), "context": v.tolist()}
            for n, v in enumerate(vectors)
        ],
    )
    milvus.client.insert(
        milvus.chunks,
        [
            {
                "pk": c.chunk_id,
                "doc_id": doc_id,
                "vector": v.tolist(),
                "terms": " ".join(tokenize([c.text])[0]),
            }
            for c, v in zip(chunks, chunk_vectors, strict=True)
        ],
    )
    payload = StoredDocument.of(document, sentences, chunks).to_json()
    parts = [payload[i : i + PART_CHARS] for i in range(0, len(payload), PART_CHARS)]
    milvus.client.insert(
        milvus.documents,
        [
            {
                "pk": f"{doc_id}:{n}",
                "doc_id": doc_id,
                "sha256": document.sha256,
                "part": n,
                "parts": len(parts),
                "payload": part,
                "dummy": [0.0, 0.0],
            }
            for n, part in enumerate(parts)
        ],
    )
    return len(parts)


def rows_of(milvus: MilvusIndex, collection: str, doc_id: str) -> int:
    found = milvus.client.query(collection, filter=f'doc_id == "{doc_id}"', output_fields=["count(*)"])
    return int(found[0]["count(*)"])


def assert_stored_exactly(milvus: MilvusIndex, documents: list[Document]) -> None:
    """Each document current, as the current code splits it, with one row per part, sentence and
    chunk: nothing of an older version left behind."""
    assert milvus.stale_documents() == []
    assert milvus.stored_stamps() == {d.doc_id: milvus.stamp_of(d) for d in documents}
    for document in documents:
        sentences = sentences_of([document])
        chunks = build_chunks([document], sentences, 3, 1)
        expected = StoredDocument.of(replace(document, blocks=()), sentences, chunks)  # as stored
        assert milvus.stored_document(document.doc_id) == expected
        parts = -(-len(expected.to_json()) // PART_CHARS)
        assert rows_of(milvus, milvus.documents, document.doc_id) == parts
        assert rows_of(milvus, milvus.sentences, document.doc_id) == len(sentences)
        assert rows_of(milvus, milvus.chunks, document.doc_id) == len(chunks)


def test_documents_an_older_format_stored_are_indexed_again_at_start(
    milvus_uri: str, tmp_path: Path, real_embedder: Embedder
) -> None:
    settings = milvus_settings(make_settings(tmp_path), milvus_uri)  # the corpus: the article
    article = read_document(ARTICLE)
    milvus = MilvusIndex(settings, real_embedder.dimension)
    try:
        store_as_before_stamps(milvus, article, real_embedder)
        # UPLOADED came over HTTP: no corpus file, Milvus holds its only copy.
        assert store_as_before_stamps(milvus, UPLOADED, real_embedder) > 1
        assert milvus.stale_documents() == ["kim-russia-visit", "wrapping"]
        older = load_current(settings, real_embedder.dimension)  # still readable as it was
        assert "(default: 70)" in [s.text for s in older.sentences]

        pipeline = QAPipeline.load(settings, embedder_factory=lambda _: real_embedder)

        assert_stored_exactly(milvus, [article, UPLOADED])
        index = pipeline.index
        assert index.documents["wrapping"].text == UPLOADED.text
        assert index.generation == current_generation(settings) != older.generation
        texts = [s.text for s in index.sentences]
        assert "(default: 70)" not in texts
        assert "(default: 70) The maximum length of wrapped lines." in texts
        vector = real_embedder.embed(
            ["Text wrapping › width\n(default: 70) The maximum length of wrapped lines."]
        )
        joined = texts.index("(default: 70) The maximum length of wrapped lines.")
        assert abs(index.search.vectors("contexts", [joined]) - vector).max() < 1e-4  # in context now
        for question, doc_id in [
            ("What is the maximum length of wrapped lines?", "wrapping"),
            ("Where did Kim travel?", "kim-russia-visit"),
        ]:
            answer = pipeline.ask(question)
            assert answer.answerable and doc_id in {c.doc_id for c in answer.citations}, question
            for citation in answer.citations:
                document = pipeline.document(citation.doc_id)
                assert document.text[citation.start : citation.end] == citation.quote
    finally:
        milvus.drop()


def test_with_auto_build_off_stale_documents_are_reported_and_qa_index_build_fixes_them(
    milvus_uri: str, tmp_path: Path
) -> None:
    embedder = FakeEmbedder()
    settings = milvus_settings(make_settings(tmp_path), milvus_uri, auto_build=False)
    milvus = MilvusIndex(settings, embedder.dimension)
    older_model = settings.model_copy(update={"embedding": EmbeddingSettings(model_id="older-model")})
    lighthouse = parse_document("lighthouse", "The Zorblax lighthouse was painted teal.", "lighthouse.txt")
    try:
        build_milvus(older_model, embedder)  # the article, from the corpus, under another model
        MilvusIndex(older_model, embedder.dimension).add_document(lighthouse, embedder)
        store_as_before_stamps(milvus, UPLOADED, embedder)
        assert milvus.stale_documents() == ["kim-russia-visit", "lighthouse", "wrapping"]
        stamps = milvus.stored_stamps()

        with pytest.raises(IndexMissingError) as refused:
            ensure_index(settings, embedder)
        message = refused.value.message
        assert "\n" not in message and message == (
            f"The index in Milvus at {milvus_uri} (prefix {settings.milvus.collection_prefix!r}) is "
            "stale (3 documents indexed under another format version, embedding model or chunking); "
            "run `qa index build`."
        )
        assert milvus.stored_stamps() == stamps  # refused, not touched

        done = build_milvus(settings, embedder)  # `qa index build`
        assert done["written"] == 1 and done["reindexed"] == 2
        assert_stored_exactly(milvus, [read_document(ARTICLE), lighthouse, UPLOADED])
        assert set(ensure_index(settings, embedder).documents) == {
            "kim-russia-visit",
            "lighthouse",
            "wrapping",
        }
    finally:
        milvus.drop()


class InjectedFailure(Exception):
    pass


@pytest.mark.parametrize("failing", ["sentences", "chunks", "later parts", "part 0", "cleanup"])
def test_a_reindex_failing_midway_loses_no_document(
    failing: str, milvus_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = FakeEmbedder()
    settings = milvus_settings(make_settings(tmp_path), milvus_uri)
    article = read_document(ARTICLE)
    milvus = MilvusIndex(settings, embedder.dimension)
    upsert, delete_superseded = MilvusIndex._upsert, MilvusIndex._delete_superseded

    def failing_upsert(self: MilvusIndex, collection: str, rows: list[dict[str, object]]) -> None:
        part = rows[0].get("part") if rows else None
        point = {
            self.sentences: "sentences",
            self.chunks: "chunks",
            self.documents: "part 0" if part == 0 else "later parts",
        }[collection]
        if rows and point == failing and rows[0]["doc_id"] == "wrapping":
            raise InjectedFailure(point)
        upsert(self, collection, rows)

    def failing_cleanup(
        self: MilvusIndex, doc_id: str, stamp: str, sentence_keys: set[str], chunk_keys: set[str]
    ) -> None:
        if failing == "cleanup" and doc_id == "wrapping":
            raise InjectedFailure("cleanup")
        delete_superseded(self, doc_id, stamp, sentence_keys, chunk_keys)

    try:
        store_as_before_stamps(milvus, article, embedder)
        assert store_as_before_stamps(milvus, UPLOADED, embedder) > 1
        with monkeypatch.context() as patch:
            patch.setattr(MilvusIndex, "_upsert", failing_upsert)
            patch.setattr(MilvusIndex, "_delete_superseded", failing_cleanup)
            with pytest.raises(InjectedFailure):
                ensure_index(settings, embedder)

        after = load_current(settings, embedder.dimension)
        assert {d: after.documents[d].text for d in after.documents} == {
            "kim-russia-visit": article.text,
            "wrapping": UPLOADED.text,
        }
        # A document row still means its vectors are there: every loaded key has its row.
        ids = [s.sentence_id for s in after.sentences]
        assert after.search.vectors("sentences", ids).shape == (len(ids), embedder.dimension)
        keys = [c.chunk_id for c in after.chunks]
        assert len(milvus.client.query(milvus.chunks, filter=f"pk in {json.dumps(keys)}")) == len(keys)
        # The article was done before the failure; the page stays stale until a run completes it.
        assert milvus.stale_documents() == ([] if failing == "cleanup" else ["wrapping"])
        if failing == "cleanup":
            milvus.add_document(UPLOADED, embedder)  # the next write of the page clears what is left
        else:
            ensure_index(settings, embedder)
        assert_stored_exactly(milvus, [article, UPLOADED])
    finally:
        milvus.drop()


def test_a_write_never_filters_the_vector_collections(
    milvus_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter on doc_id reads a whole collection: done for each document it made a fill quadratic."""
    embedder = FakeEmbedder()
    settings = milvus_settings(make_settings(tmp_path), milvus_uri)
    milvus = MilvusIndex(settings, embedder.dimension)
    milvus.create(embedder.dimension)
    filtered: list[str] = []

    def recording(name: str) -> None:
        method = getattr(milvus.client, name)

        def call(collection: str, **kwargs: object) -> object:
            if kwargs.get("filter") and collection != milvus.documents:
                filtered.append(collection)
            return method(collection, **kwargs)

        monkeypatch.setattr(milvus.client, name, call)

    for name in ("delete", "query", "query_iterator"):
        recording(name)
    sentences = [f"Lamp {n} of the Zorblax lighthouse burns whale oil." for n in range(12)]
    longer = parse_document("lighthouse", " ".join(sentences), "lighthouse.txt")
    shorter = parse_document("lighthouse", " ".join(sentences[:4]), "lighthouse.txt")
    keeper = parse_document("keeper", "Ansel Myrberg kept it.", "keeper.txt")
    try:
        milvus.add_document(longer, embedder)  # new
        milvus.add_document(longer, embedder)  # the same again
        milvus.add_document(keeper, embedder)
        assert filtered == []
        milvus.add_document(shorter, embedder)  # leaves sentences and chunks past its own
        assert filtered == []  # found by primary key, not by filtering
        monkeypatch.undo()
        assert_stored_exactly(milvus, [keeper, shorter])
        milvus.add_document(longer, embedder)
        assert_stored_exactly(milvus, [keeper, longer])
    finally:
        milvus.drop()


def test_every_write_leaves_nothing_unflushed(
    milvus_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Milvus Lite searches unflushed rows one by one in Python, for every question: a corpus
    filled without a flush made each answer cost 1.2-1.6 s on 80 python-doc pages (35 ms flushed)."""
    from pymilvus import MilvusClient

    from qa.index.ingest import add_documents, remove_document
    from qa.index.uploads import add_upload, remove_upload

    embedder = FakeEmbedder()
    settings = milvus_settings(make_settings(tmp_path), milvus_uri)
    unflushed: set[str] = set()

    def recording(name: str) -> None:
        method = getattr(MilvusClient, name)

        def call(client: MilvusClient, collection: str, *args: object, **kwargs: object) -> object:
            result = method(client, collection, *args, **kwargs)
            if name == "flush":
                unflushed.discard(collection)
            else:
                unflushed.add(collection)
            return result

        monkeypatch.setattr(MilvusClient, name, call)

    for name in ("insert", "upsert", "delete", "flush"):
        recording(name)
    milvus = MilvusIndex(settings, embedder.dimension)
    note = tmp_path / "lighthouse.txt"
    note.write_text("The Zorblax lighthouse on Kelvin Island was painted teal in 1931.")
    try:
        build_milvus(settings, embedder)
        assert unflushed == set()
        milvus.add_document(read_document(note), embedder)  # as a store filled before flushes were
        assert unflushed == {milvus.documents, milvus.sentences, milvus.chunks}
        build_milvus(settings, embedder)  # writes nothing, flushes anyway
        assert unflushed == set()
        remove_document(settings, embedder, "lighthouse")
        assert unflushed == set()
        add_documents(settings, embedder, [note])
        assert unflushed == set()
        add_upload(settings, embedder, "keeper.txt", b"Ansel Myrberg kept the Zorblax lighthouse.")
        assert unflushed == set()
        remove_upload(settings, embedder, "keeper")
        assert unflushed == set()
        assert sorted(milvus.stored_stamps()) == ["kim-russia-visit", "lighthouse"]
    finally:
        monkeypatch.undo()
        milvus.drop()
