"""Loading the current build into memory, checking every file against the manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss

from qa.config import IndexSettings
from qa.corpus.chunking import Chunk, Sentence
from qa.corpus.documents import Document
from qa.errors import IndexCorruptError
from qa.index.lexical import LexicalIndex
from qa.index.manifest import Manifest, corrupt_message, current_path, read_manifest
from qa.index.vectors import read_vector_index

# Name -> SearchIndex field. Sentence and context rows are sentence ids; chunk rows chunk positions.
VECTOR_SETS = {"sentences": "sentence_vectors", "contexts": "context_vectors", "chunks": "chunk_vectors"}


@dataclass(frozen=True, slots=True)
class SearchIndex:
    """Everything retrieval needs, loaded in memory."""

    path: Path
    manifest: Manifest
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


def load_index(index_dir: Path, settings: IndexSettings | None = None) -> SearchIndex:
    """Load the current build, checking every file; corruption names the file and the fix.

    Vector files are memory-mapped unless ``settings.mmap`` is off.
    """
    settings = settings or IndexSettings()
    path = current_path(index_dir)
    manifest = read_manifest(index_dir)
    counts = manifest.counts
    params = manifest.vector_index

    def guarded(name: str, load: Callable[[Path], Any]) -> Any:
        file = path / name
        try:
            return load(file)
        except Exception as exc:  # any failure to parse means the file is unusable
            raise IndexCorruptError(corrupt_message(file)) from exc

    store = guarded("store.json", lambda f: json.loads(f.read_text()))
    try:
        documents = {d["doc_id"]: Document(**{**d, "blocks": ()}) for d in store["documents"]}
        sentences = [Sentence(**s) for s in store["sentences"]]
        chunks = [Chunk(**{**c, "sentence_ids": tuple(c["sentence_ids"])}) for c in store["chunks"]]
    except (KeyError, TypeError) as exc:
        raise IndexCorruptError(corrupt_message(path / "store.json")) from exc
    ef_search = settings.hnsw_ef_search

    def reader(name: str) -> Callable[[Path], faiss.Index]:
        return lambda file: read_vector_index(file, params.get(name), settings.mmap, ef_search)

    loaded = {name: guarded(f"{name}.faiss", reader(name)) for name in VECTOR_SETS}
    chunk_bm25 = guarded("bm25-chunks", LexicalIndex.load)

    checks = {
        "store.json": len(documents) == counts.documents
        and len(sentences) == counts.sentences
        and len(chunks) == counts.chunks,
        "bm25-chunks": chunk_bm25.size == len(chunks),
    }
    for name, index in loaded.items():
        rows = len(chunks) if name == "chunks" else len(sentences)
        checks[f"{name}.faiss"] = index.ntotal == rows and index.d == manifest.dimension
    for name, ok in checks.items():
        if not ok:
            raise IndexCorruptError(corrupt_message(path / name))
    for sentence in sentences:
        document = documents.get(sentence.doc_id)
        if document is None or document.text[sentence.start : sentence.end] != sentence.text:
            raise IndexCorruptError(corrupt_message(path / "store.json"))
    return SearchIndex(
        path=path,
        manifest=manifest,
        documents=documents,
        sentences=sentences,
        chunks=chunks,
        chunk_bm25=chunk_bm25,
        **{field: loaded[name] for name, field in VECTOR_SETS.items()},
    )
