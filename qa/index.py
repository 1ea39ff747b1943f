"""Building, persisting and loading the search index.

Layout under ``QA_INDEX_DIR`` (generated, never hand-edited)::

    index/current -> build-<id>/      symlink, swapped atomically when a build completes
    index/build-<id>/manifest.json    model, dimension, chunking, corpus checksums, format version
                     store.json       documents, sentences and chunks with their spans
                     chunks.faiss     inner-product index of normalised chunk embeddings
                     sentences.faiss  inner-product index of sentence embeddings (ids = sentence ids)
                     contexts.faiss   the same for each sentence read with the one before it
                     bm25-chunks/     bm25s index over the chunks

Readers resolve ``current`` once, so a rebuild never exposes a half-written index.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa import __version__
from qa.chunking import Chunk, Sentence, build_chunks, sentences_of
from qa.config import IndexSettings, Settings
from qa.documents import Document, OnSkip, corpus_checksums, load_corpus
from qa.embedding import Embedder, Vectors
from qa.errors import IndexCorruptError, IndexMissingError, NotReadyError
from qa.lexical import LexicalIndex
from qa.vector_index import build_vector_index, choose_params, read_vector_index

FORMAT_VERSION = 3
CURRENT = "current"
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class SearchIndex:
    """Everything retrieval needs, loaded in memory."""

    path: Path
    manifest: dict[str, Any]
    documents: dict[str, Document]
    sentences: list[Sentence]
    chunks: list[Chunk]
    chunk_vectors: faiss.Index
    sentence_vectors: faiss.Index
    context_vectors: faiss.Index
    chunk_bm25: LexicalIndex

    def vectors(self, name: str) -> faiss.Index:
        """One of the ``VECTOR_SETS`` by name."""
        index: faiss.Index = getattr(self, VECTOR_SETS[name])
        return index


# Name -> SearchIndex field. Sentence and context rows are sentence ids; chunk rows chunk positions.
VECTOR_SETS = {"sentences": "sentence_vectors", "contexts": "context_vectors", "chunks": "chunk_vectors"}


def settings_fingerprint(settings: Settings) -> dict[str, Any]:
    """The settings an index depends on; a change in any of them makes the index stale."""
    return {
        "model_id": settings.embedding.model_id,
        "chunking": settings.chunking.model_dump(),
        "format_version": FORMAT_VERSION,
    }


def context_texts(sentences: list[Sentence]) -> list[str]:
    """Each sentence preceded by the one before it in its document.

    "“They have 2 million workers…,” he said." means little alone; read after "Chun In-bum …
    said Pyongyang's arms complex should not be underestimated." it matches "arms industry".
    """
    texts = []
    for position, sentence in enumerate(sentences):
        previous = sentences[position - 1] if position else None
        if previous is not None and previous.doc_id == sentence.doc_id:
            texts.append(f"{previous.text} {sentence.text}")
        else:
            texts.append(sentence.text)
    return texts


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
            expected = settings_fingerprint(settings)
            if (
                any(manifest.get(k) != v for k, v in expected.items())
                or manifest.get("dimension") != dimension
            ):
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
        "chunks": [c.text for c in chunks],
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

    root = settings.index_dir
    root.mkdir(parents=True, exist_ok=True)
    build = root / f"build-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    staging = root / f".{build.name}.tmp"
    staging.mkdir()
    try:
        for name, index in indexes.items():
            faiss.write_index(index, str(staging / f"{name}.faiss"))
        (staging / "bm25-chunks").mkdir()
        LexicalIndex.build([c.text for c in chunks]).save(staging / "bm25-chunks")
        store = {
            "documents": [asdict(d) for d in documents],
            "sentences": [asdict(s) for s in sentences],
            "chunks": [asdict(c) for c in chunks],
        }
        (staging / "store.json").write_text(json.dumps(store, ensure_ascii=False))
        manifest = {
            **settings_fingerprint(settings),
            "dimension": embedder.dimension,
            "corpus": corpus_checksums(settings.corpus_dir),
            "counts": {
                "documents": len(documents),
                "sentences": len(sentences),
                "chunks": len(chunks),
                "reused_documents": reused,
                "embedded_documents": len(documents) - reused,
            },
            "vector_index": params,
            "skipped": skipped,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "qa_version": __version__,
        }
        # The manifest is written last: a directory without one was never finished.
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        staging.rename(build)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _point_current_at(root, build)
    _remove_old_builds(root, keep=build)
    return build


def _point_current_at(root: Path, build: Path) -> None:
    link = root / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
    link.symlink_to(build.name)
    os.replace(link, root / CURRENT)  # atomic on POSIX


def _remove_old_builds(root: Path, keep: Path) -> None:
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink() and entry.name.startswith(("build-", ".build-")):
            if entry.name != keep.name:
                shutil.rmtree(entry, ignore_errors=True)


def current_path(index_dir: Path) -> Path:
    """The directory of the current build, or ``IndexMissingError`` naming the fix."""
    link = index_dir / CURRENT
    target = link.resolve() if link.is_symlink() else link
    if not (target / "manifest.json").is_file():
        raise IndexMissingError(f"No index in {index_dir}; run `qa index build` to create it.")
    return target


def read_manifest(index_dir: Path) -> dict[str, Any]:
    path = current_path(index_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
        return manifest
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(_corrupt(path)) from exc


def _corrupt(path: Path) -> str:
    return f"Index file {path} is corrupt; run `qa index build` to rebuild the index."


def staleness(settings: Settings) -> str | None:
    """Why the current index no longer matches the corpus and settings, or None if it does."""
    manifest = read_manifest(settings.index_dir)
    expected = settings_fingerprint(settings)
    for key, value in expected.items():
        if manifest.get(key) != value:
            return f"{key} changed"
    if manifest.get("corpus") != corpus_checksums(settings.corpus_dir):
        return "corpus changed"
    return None


def load_index(index_dir: Path, settings: IndexSettings | None = None) -> SearchIndex:
    """Load the current build, checking every file; corruption names the file and the fix.

    Vector files are memory-mapped unless ``settings.mmap`` is off.
    """
    settings = settings or IndexSettings()
    path = current_path(index_dir)
    manifest = read_manifest(index_dir)
    counts = manifest.get("counts", {})
    params = manifest.get("vector_index") or {}

    def guarded(name: str, load: Callable[[Path], Any]) -> Any:
        file = path / name
        try:
            return load(file)
        except Exception as exc:  # any failure to parse means the file is unusable
            raise IndexCorruptError(_corrupt(file)) from exc

    store = guarded("store.json", lambda f: json.loads(f.read_text()))
    try:
        documents = {d["doc_id"]: Document(**d) for d in store["documents"]}
        sentences = [Sentence(**s) for s in store["sentences"]]
        chunks = [Chunk(**{**c, "sentence_ids": tuple(c["sentence_ids"])}) for c in store["chunks"]]
    except (KeyError, TypeError) as exc:
        raise IndexCorruptError(_corrupt(path / "store.json")) from exc
    ef_search = settings.hnsw_ef_search

    def reader(name: str) -> Callable[[Path], faiss.Index]:
        return lambda file: read_vector_index(file, params.get(name), settings.mmap, ef_search)

    loaded = {name: guarded(f"{name}.faiss", reader(name)) for name in VECTOR_SETS}
    chunk_bm25 = guarded("bm25-chunks", LexicalIndex.load)

    checks = {
        "store.json": len(documents) == counts.get("documents")
        and len(sentences) == counts.get("sentences")
        and len(chunks) == counts.get("chunks"),
        "bm25-chunks": chunk_bm25.size == len(chunks),
    }
    for name, index in loaded.items():
        rows = len(chunks) if name == "chunks" else len(sentences)
        checks[f"{name}.faiss"] = index.ntotal == rows and index.d == manifest.get("dimension")
    for name, ok in checks.items():
        if not ok:
            raise IndexCorruptError(_corrupt(path / name))
    for sentence in sentences:
        document = documents.get(sentence.doc_id)
        if document is None or document.text[sentence.start : sentence.end] != sentence.text:
            raise IndexCorruptError(_corrupt(path / "store.json"))
    return SearchIndex(
        path=path,
        manifest=manifest,
        documents=documents,
        sentences=sentences,
        chunks=chunks,
        chunk_bm25=chunk_bm25,
        **{field: loaded[name] for name, field in VECTOR_SETS.items()},
    )


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
