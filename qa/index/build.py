"""Building an index for the corpus: segment, chunk, embed (reusing unchanged documents), publish."""

from __future__ import annotations

import json
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
from qa.index.load import VECTOR_SETS, SearchIndex, load_index
from qa.index.manifest import Counts, Manifest, read_manifest, settings_fingerprint, staleness
from qa.index.storage import publish_build
from qa.index.vectors import build_vector_index, choose_params

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _embed_in_batches(
    embedder: Embedder, texts: list[str], batch: int, stage: str, progress: Progress
) -> Vectors:
    parts: list[Vectors] = []
    # Several model batches per call: the embedder sorts a call's texts by length, so padding
    # costs less, and the progress bar still moves often.
    step = batch * 8
    progress(stage, 0, len(texts))
    for first in range(0, len(texts), step):
        parts.append(embedder.embed(texts[first : first + step]))
        progress(stage, min(first + step, len(texts)), len(texts))
    if not parts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.vstack(parts)


class _Reuse:
    """Vectors of the current build, looked up by document content, for incremental builds.

    Sentences and chunks are a pure function of a document's text and the chunking settings
    (both checked), so a document whose content hash is unchanged has exactly the sentences and
    chunks it had, and its vectors can be copied instead of recomputed.
    """

    def __init__(self, index: SearchIndex | None) -> None:
        self._index = index
        self._sentences: dict[str, list[int]] = {}
        self._chunks: dict[str, list[int]] = {}
        self._by_hash: dict[str, Document] = {}
        if index is None:
            return
        for document in index.documents.values():
            self._by_hash[document.sha256] = document
        for sentence in index.sentences:
            self._sentences.setdefault(sentence.doc_id, []).append(sentence.sentence_id)
        for position, chunk in enumerate(index.chunks):
            self._chunks.setdefault(chunk.doc_id, []).append(position)

    @classmethod
    def of_current(cls, settings: Settings, dimension: int) -> _Reuse:
        """The current build if it was made with the same model and chunking, else nothing."""
        try:
            manifest = read_manifest(settings.index_dir)
            if manifest.fingerprint() != settings_fingerprint(settings) or manifest.dimension != dimension:
                return cls(None)
            return cls(load_index(settings.index_dir, settings.index))
        except NotReadyError:  # missing or corrupt: build from scratch
            return cls(None)

    def vectors(self, document: Document, sentences: int, chunks: int) -> dict[str, Vectors] | None:
        """Every vector set's rows for an unchanged document, or None when it must be embedded."""
        old = self._by_hash.get(document.sha256)
        if self._index is None or old is None or old.text != document.text:
            return None
        sentence_ids = self._sentences.get(old.doc_id, [])
        chunk_ids = self._chunks.get(old.doc_id, [])
        if len(sentence_ids) != sentences or len(chunk_ids) != chunks:
            return None
        return {
            name: _reconstruct(self._index.vectors(name), chunk_ids if name == "chunks" else sentence_ids)
            for name in VECTOR_SETS
        }


def _reconstruct(index: faiss.Index, ids: list[int]) -> Vectors:
    if not ids:
        return np.zeros((0, index.d), dtype=np.float32)
    return np.asarray(index.reconstruct_batch(np.asarray(ids, dtype=np.int64)), dtype=np.float32)


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
    reuse: _Reuse,
    progress: Progress,
) -> tuple[dict[str, Vectors], int]:
    """Every vector set, copied for unchanged documents; also returns how many were reused."""
    texts = {
        "sentences": [s.text for s in sentences],
        "contexts": context_texts(sentences),
        "chunks": [search_text(c) for c in chunks],
    }
    stages = {
        "sentences": "Embedding sentences",
        "contexts": "Embedding sentences in context",
        "chunks": "Embedding chunks",
    }
    rows_by_doc = {
        "sentences": _positions_by_doc([s.doc_id for s in sentences]),
        "chunks": _positions_by_doc([c.doc_id for c in chunks]),
    }
    rows_by_doc["contexts"] = rows_by_doc["sentences"]
    vectors = {name: np.zeros((len(texts[name]), embedder.dimension), dtype=np.float32) for name in texts}
    missing: dict[str, list[int]] = {name: [] for name in texts}
    reused = 0
    for document in documents:
        rows = {name: rows_by_doc[name].get(document.doc_id, []) for name in texts}
        found = reuse.vectors(document, len(rows["sentences"]), len(rows["chunks"]))
        if found is None:
            for name in texts:
                missing[name] += rows[name]
            continue
        reused += 1
        for name in texts:
            vectors[name][rows[name]] = found[name]
    batch = settings.embedding.batch_size
    for name, positions in missing.items():
        if positions:
            vectors[name][positions] = _embed_in_batches(
                embedder, [texts[name][i] for i in positions], batch, stages[name], progress
            )
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
    previous = _Reuse.of_current(settings, embedder.dimension) if reuse else _Reuse(None)
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


def ensure_index(settings: Settings, embedder: Embedder, progress: Progress | None = None) -> SearchIndex:
    """Load the index, first (re)building it when it is missing or stale and auto-build is on.

    A corrupt index is refused rather than silently replaced: someone should look at why.
    """
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
        build_index(settings, embedder, progress, reuse=True)
    return load_index(settings.index_dir, settings.index)
