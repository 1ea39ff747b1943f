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
from qa.index.backend import VECTOR_SETS, FaissSearch, SearchBackend
from qa.index.lexical import LexicalIndex
from qa.index.manifest import Manifest, corrupt_message, current_path, read_manifest
from qa.index.vectors import read_vector_index


@dataclass(frozen=True, slots=True)
class SearchIndex:
    """Everything retrieval needs: the texts and spans in memory, search through ``search``.

    ``generation`` names what was loaded (a FAISS build directory, or the Milvus documents'
    fingerprint), so a server can tell when another process published something newer.
    """

    path: Path
    manifest: Manifest
    documents: dict[str, Document]
    sentences: list[Sentence]
    chunks: list[Chunk]
    search: SearchBackend
    generation: str = ""

    def _faiss(self) -> FaissSearch:
        if not isinstance(self.search, FaissSearch):
            raise TypeError("this index is not held in FAISS")
        return self.search

    def vectors(self, name: str) -> faiss.Index:
        """One of the FAISS ``VECTOR_SETS`` by name (FAISS backend only)."""
        return self._faiss().index(name)

    @property
    def chunk_vectors(self) -> faiss.Index:
        return self._faiss().chunk_vectors

    @property
    def sentence_vectors(self) -> faiss.Index:
        return self._faiss().sentence_vectors

    @property
    def context_vectors(self) -> faiss.Index:
        return self._faiss().context_vectors

    @property
    def chunk_bm25(self) -> LexicalIndex:
        return self._faiss().chunk_bm25


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
    search = FaissSearch(
        chunk_bm25=chunk_bm25, **{field: loaded[name] for name, field in VECTOR_SETS.items()}
    )
    return SearchIndex(
        path=path,
        manifest=manifest,
        documents=documents,
        sentences=sentences,
        chunks=chunks,
        search=search,
        generation=path.name,
    )
