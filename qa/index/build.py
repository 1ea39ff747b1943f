"""Building an index for the corpus: segment, chunk, embed (reusing unchanged documents), publish."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from qa import __version__
from qa.config import Settings
from qa.corpus.chunking import (
    Chunk,
    Sentence,
    build_chunks,
    context_texts,
    search_text,
    sentences_of,
)
from qa.corpus.documents import Document, OnSkip, corpus_checksums, load_corpus
from qa.embedding.base import Embedder, Vectors
from qa.errors import IndexMissingError, NotReadyError
from qa.index.lexical import LexicalIndex
from qa.index.load import SearchIndex, load_index
from qa.index.manifest import (
    Counts,
    Manifest,
    current_path,
    settings_fingerprint,
    staleness,
)
from qa.index.reuse import VectorReuse
from qa.index.storage import publish_build
from qa.index.vectors import build_vector_index, choose_params

Progress = Callable[[str, int, int], None]  # (stage, done, total)

log = logging.getLogger("qa.index")


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _positions_by_doc(doc_ids: list[str]) -> dict[str, list[int]]:
    positions: dict[str, list[int]] = {}
    for position, doc_id in enumerate(doc_ids):
        positions.setdefault(doc_id, []).append(position)
    return positions


def _vectors_with_reuse(
    settings: Settings,
    embedder: Embedder,
    documents: list[Document],
    sentences: list[Sentence],
    chunks: list[Chunk],
    reuse: VectorReuse,
    progress: Progress,
) -> tuple[dict[str, Vectors], int]:
    """Every vector set, copied for unchanged documents; also returns how many were reused.

    Documents to embed are streamed: their texts are gathered a few documents at a time into
    one large embedding call (every core busy, batches sorted by length) and the progress
    callback hears after each document, so memory for texts stays bounded by one such group.
    """
    rows_by_doc = {
        "sentences": _positions_by_doc([s.doc_id for s in sentences]),
        "chunks": _positions_by_doc([c.doc_id for c in chunks]),
    }
    rows_by_doc["contexts"] = rows_by_doc["sentences"]
    sizes = {"sentences": len(sentences), "contexts": len(sentences), "chunks": len(chunks)}
    vectors = {name: np.zeros((size, embedder.dimension), dtype=np.float32) for name, size in sizes.items()}
    to_embed: list[Document] = []
    reused = 0
    for document in documents:
        rows = {name: rows_by_doc[name].get(document.doc_id, []) for name in sizes}
        found = reuse.vectors(document, len(rows["sentences"]), len(rows["chunks"]))
        if found is None:
            to_embed.append(document)
            continue
        reused += 1
        for name in sizes:
            vectors[name][rows[name]] = found[name]

    step = settings.embedding.batch_size * 16
    pending: list[tuple[str, int, str]] = []  # (vector set, row, text)

    def flush() -> None:
        if pending:
            embedded = embedder.embed([text for _, _, text in pending])
            for (name, row, _), vector in zip(pending, embedded, strict=True):
                vectors[name][row] = vector
            pending.clear()

    progress("Embedding documents", 0, len(to_embed))
    for done, document in enumerate(to_embed, start=1):
        sentence_rows = rows_by_doc["sentences"].get(document.doc_id, [])
        own = [sentences[i] for i in sentence_rows]
        for row, sentence, context in zip(
            sentence_rows, own, context_texts(own, document.title), strict=True
        ):
            pending.append(("sentences", row, sentence.text))
            pending.append(("contexts", row, context))
        pending.extend(
            ("chunks", row, search_text(chunks[row]))
            for row in rows_by_doc["chunks"].get(document.doc_id, [])
        )
        if len(pending) >= step:
            flush()
        progress("Embedding documents", done, len(to_embed))
    flush()
    return vectors, reused


def build_index(
    settings: Settings,
    embedder: Embedder,
    progress: Progress | None = None,
    *,
    reuse: bool = False,
    on_skip: OnSkip | None = None,
) -> Path:
    """Build the index for the corpus and atomically make it ``current``; returns its path.

    ``reuse`` copies the vectors of documents whose content is unchanged from the current
    build instead of embedding them again. ``on_skip`` makes bad files skipped (and reported
    to it, and listed in the manifest) rather than fatal.
    """
    progress = progress or _no_progress
    skipped: dict[str, str] = {}

    def skip(path: Path, reason: str) -> None:
        skipped[path.name] = reason
        if on_skip is not None:
            on_skip(path, reason)

    documents = load_corpus(settings.corpus_dir, skip if on_skip is not None else None)
    sentences = sentences_of(documents)
    chunks = build_chunks(
        documents, sentences, settings.chunking.sentences_per_chunk, settings.chunking.overlap
    )
    previous = VectorReuse.of_current(settings, embedder.dimension) if reuse else VectorReuse(None)
    vectors, reused = _vectors_with_reuse(
        settings, embedder, documents, sentences, chunks, previous, progress
    )
    del previous  # drop the old build's memory before building the new FAISS indexes
    params = {name: choose_params(len(rows), settings.index) for name, rows in vectors.items()}
    indexes = {
        name: build_vector_index(rows, embedder.dimension, params[name]) for name, rows in vectors.items()
    }

    def write(staging: Path) -> None:
        for name, index in indexes.items():
            faiss.write_index(index, str(staging / f"{name}.faiss"))
        (staging / "bm25-chunks").mkdir()
        LexicalIndex.build([search_text(c) for c in chunks]).save(staging / "bm25-chunks")
        store = {
            # Blocks only serve segmentation; each sentence and chunk records its kind and section.
            "documents": [asdict(replace(d, blocks=())) for d in documents],
            "sentences": [asdict(s) for s in sentences],
            "chunks": [asdict(c) for c in chunks],
        }
        (staging / "store.json").write_text(json.dumps(store, ensure_ascii=False))
        manifest = Manifest(
            **settings_fingerprint(settings),
            dimension=embedder.dimension,
            corpus=corpus_checksums(settings.corpus_dir),
            counts=Counts(
                documents=len(documents),
                sentences=len(sentences),
                chunks=len(chunks),
                reused_documents=reused,
                embedded_documents=len(documents) - reused,
            ),
            vector_index=params,
            skipped=skipped,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            qa_version=__version__,
        )
        # The manifest is written last: a directory without one was never finished.
        (staging / "manifest.json").write_text(manifest.model_dump_json(indent=2))

    return publish_build(settings.index_dir, write)


def stage_log() -> Progress:
    """Progress as ``qa.index`` log lines: one when a stage starts and one when it is done."""
    started: set[str] = set()
    finished: set[str] = set()

    def report(stage: str, done: int, total: int) -> None:
        if stage not in started:
            started.add(stage)
            log.info("index build: %s (%d)", stage, total)
        if done >= total and stage not in finished:
            finished.add(stage)
            log.info("index build: %s done", stage)

    return report


def ensure_index(settings: Settings, embedder: Embedder, progress: Progress | None = None) -> SearchIndex:
    """Load the index, first (re)building it when it is missing or stale and auto-build is on.

    An implicit build is announced on the ``qa.index`` logger (start, each stage unless
    ``progress`` is given, end), so a first start-up never looks hung. A corrupt index is
    refused rather than silently replaced: someone should look at why.
    With Milvus (``QA_INDEX__BACKEND=milvus``) the collections are built from the corpus only
    when they do not exist yet: afterwards they, not a local directory, hold the documents, and
    only documents stored under another format version, model or chunking are indexed again.
    """
    if settings.index.backend == "milvus":
        return _ensure_milvus(settings, embedder, progress)
    try:
        reason = staleness(settings)
    except IndexMissingError:
        if not settings.index.auto_build:
            raise
        reason = "missing"
    if reason is not None:
        if not settings.index.auto_build:
            raise IndexMissingError(
                f"The index in {settings.index_dir} is stale ({reason}); run `qa index build`."
            )
        log.info("Building the index in %s (%s); this takes a few seconds.", settings.index_dir, reason)
        started = time.perf_counter()
        build_index(settings, embedder, progress or stage_log(), reuse=True)
        log.info("Index built in %.1f s.", time.perf_counter() - started)
    return load_index(settings.index_dir, settings.index)


def _ensure_milvus(settings: Settings, embedder: Embedder, progress: Progress | None) -> SearchIndex:
    from qa.index.milvus import MilvusIndex
    from qa.index.milvus_search import build_milvus, load_milvus_index, reindex_stale

    milvus = MilvusIndex(settings, embedder.dimension)
    where = f"Milvus at {settings.milvus.uri} (prefix {settings.milvus.collection_prefix!r})"
    if not milvus.exists():
        if not settings.index.auto_build:
            raise IndexMissingError(f"No index in {where}; run `qa index build`.")
        build_milvus(settings, embedder, progress)
    elif stale := milvus.stale_documents():
        documents = f"{len(stale)} document{'s' if len(stale) != 1 else ''}"
        reason = f"{documents} indexed under another format version, embedding model or chunking"
        if not settings.index.auto_build:
            raise IndexMissingError(f"The index in {where} is stale ({reason}); run `qa index build`.")
        log.info("Re-indexing %s: %s.", where, reason)
        started = time.perf_counter()
        reindex_stale(milvus, embedder, settings.corpus_dir, progress or stage_log())
        log.info("Re-indexed in %.1f s.", time.perf_counter() - started)
    return load_milvus_index(settings, embedder.dimension, milvus)


def current_generation(settings: Settings) -> str | None:
    """The name of what a fresh load would serve now (compare with ``SearchIndex.generation``).

    FAISS: the build ``current`` points at; Milvus: the documents' fingerprint. None when there
    is nothing to load (yet).
    """
    if settings.index.backend == "milvus":
        from qa.index.milvus import MilvusIndex

        milvus = MilvusIndex(settings)
        try:
            return milvus.fingerprint()
        finally:
            milvus.close()
    try:
        return current_path(settings.index_dir).name
    except NotReadyError:
        return None


def load_current(settings: Settings, dimension: int) -> SearchIndex:
    """Load what is current in the configured backend, building nothing."""
    if settings.index.backend == "milvus":
        from qa.index.milvus_search import load_milvus_index

        return load_milvus_index(settings, dimension)
    return load_index(settings.index_dir, settings.index)
