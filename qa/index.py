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
from qa.config import Settings
from qa.documents import Document, corpus_checksums, load_corpus
from qa.embedding import Embedder, Vectors
from qa.errors import IndexCorruptError, IndexMissingError
from qa.lexical import LexicalIndex

FORMAT_VERSION = 2
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


def settings_fingerprint(settings: Settings) -> dict[str, Any]:
    """The settings an index depends on; a change in any of them makes the index stale."""
    return {
        "model_id": settings.embedding.model_id,
        "chunking": settings.chunking.model_dump(),
        "format_version": FORMAT_VERSION,
    }


def _embed_in_batches(
    embedder: Embedder, texts: list[str], batch: int, stage: str, progress: Progress
) -> Vectors:
    parts: list[Vectors] = []
    progress(stage, 0, len(texts))
    for first in range(0, len(texts), batch):
        parts.append(embedder.embed(texts[first : first + batch]))
        progress(stage, min(first + batch, len(texts)), len(texts))
    if not parts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.vstack(parts)


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


def build_index(settings: Settings, embedder: Embedder, progress: Progress | None = None) -> Path:
    """Build the index for the corpus and atomically make it ``current``; returns its path."""
    progress = progress or _no_progress
    documents = load_corpus(settings.corpus_dir)
    sentences = sentences_of(documents)
    chunks = build_chunks(
        documents, sentences, settings.chunking.sentences_per_chunk, settings.chunking.overlap
    )
    batch = settings.embedding.batch_size
    sentence_vectors = _embed_in_batches(
        embedder, [s.text for s in sentences], batch, "Embedding sentences", progress
    )
    context_vectors = _embed_in_batches(
        embedder, context_texts(sentences), batch, "Embedding sentences in context", progress
    )
    chunk_vectors = _embed_in_batches(embedder, [c.text for c in chunks], batch, "Embedding chunks", progress)
    chunk_index = faiss.IndexFlatIP(embedder.dimension)
    chunk_index.add(chunk_vectors)
    sentence_index = faiss.IndexFlatIP(embedder.dimension)
    sentence_index.add(sentence_vectors)
    context_index = faiss.IndexFlatIP(embedder.dimension)
    context_index.add(context_vectors)

    root = settings.index_dir
    root.mkdir(parents=True, exist_ok=True)
    build = root / f"build-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    staging = root / f".{build.name}.tmp"
    staging.mkdir()
    try:
        faiss.write_index(chunk_index, str(staging / "chunks.faiss"))
        faiss.write_index(sentence_index, str(staging / "sentences.faiss"))
        faiss.write_index(context_index, str(staging / "contexts.faiss"))
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
            },
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


def load_index(index_dir: Path) -> SearchIndex:
    """Load the current build, checking every file; corruption names the file and the fix."""
    path = current_path(index_dir)
    manifest = read_manifest(index_dir)
    counts = manifest.get("counts", {})

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
    chunk_vectors = guarded("chunks.faiss", lambda f: faiss.read_index(str(f)))
    sentence_vectors = guarded("sentences.faiss", lambda f: faiss.read_index(str(f)))
    context_vectors = guarded("contexts.faiss", lambda f: faiss.read_index(str(f)))
    chunk_bm25 = guarded("bm25-chunks", LexicalIndex.load)

    checks = {
        "store.json": len(documents) == counts.get("documents")
        and len(sentences) == counts.get("sentences")
        and len(chunks) == counts.get("chunks"),
        "chunks.faiss": chunk_vectors.ntotal == len(chunks) and chunk_vectors.d == manifest.get("dimension"),
        "sentences.faiss": sentence_vectors.ntotal == len(sentences)
        and sentence_vectors.d == manifest.get("dimension"),
        "contexts.faiss": context_vectors.ntotal == len(sentences)
        and context_vectors.d == manifest.get("dimension"),
        "bm25-chunks": chunk_bm25.size == len(chunks),
    }
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
        chunk_vectors=chunk_vectors,
        sentence_vectors=sentence_vectors,
        context_vectors=context_vectors,
        chunk_bm25=chunk_bm25,
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
        build_index(settings, embedder, progress)
    return load_index(settings.index_dir)
