"""``SearchBackend`` over Milvus, loading and building a Milvus-held index."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from cachetools import LRUCache

from qa import __version__
from qa.config import Settings
from qa.corpus.documents import Document, OnSkip, corpus_files, load_corpus, read_document
from qa.embedding.base import Embedder, Vectors
from qa.errors import CorpusError
from qa.index.load import SearchIndex
from qa.index.manifest import Counts, Manifest, settings_fingerprint
from qa.index.milvus import MilvusIndex, MilvusUnavailableError
from qa.index.stored import fingerprint

Progress = Callable[[str, int, int], None]

# Vector set -> (collection attribute of MilvusIndex, vector field).
_FIELDS = {
    "chunks": ("chunks", "vector"),
    "sentences": ("sentences", "vector"),
    "contexts": ("sentences", "context"),
}


class MilvusSearch:
    """Dense and BM25 search in Milvus, ids mapped to the positions of one loaded ``SearchIndex``.

    Rows of documents added after the load (by this or another replica) are not in the maps and
    are skipped until the next reload, so every id handed out is one the loaded index knows.
    """

    def __init__(self, milvus: MilvusIndex, sentence_keys: list[str], chunk_keys: list[str]) -> None:
        self._milvus = milvus
        self._sentence_ids = {key: n for n, key in enumerate(sentence_keys)}
        self._sentence_keys = sentence_keys
        self._chunk_ids = {key: n for n, key in enumerate(chunk_keys)}
        # Sentence vectors of recent candidates: a popular question's sentences are fetched once.
        self._cache: LRUCache[int, tuple[Vectors, Vectors]] = LRUCache(maxsize=20_000)
        self._lock = threading.Lock()
        self.dimension = milvus.dimension or 0

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """A Milvus call; a failure becomes a 503 naming the search service, never a traceback."""
        try:
            return method(*args, **kwargs)
        except Exception as exc:  # pymilvus raises MilvusException and raw gRPC errors alike
            raise MilvusUnavailableError(f"Milvus call failed: {_first_line(exc)}") from exc

    def _ids(self, name: str) -> dict[str, int]:
        return self._chunk_ids if name == "chunks" else self._sentence_ids

    def dense(self, name: str, vector: Vectors, k: int) -> list[int]:
        collection, field = _FIELDS[name]
        ids = self._ids(name)
        if k <= 0 or not ids:
            return []
        hits = self._call(
            self._milvus.client.search,
            getattr(self._milvus, collection),
            data=[vector[0].tolist()],
            anns_field=field,
            limit=k,
            output_fields=["pk"],
            search_params={"metric_type": "IP"},
        )[0]
        # Inner product: larger is closer, and Milvus returns hits best first.
        keys = [_key(hit) for hit in hits]
        return [ids[key] for key in keys if key in ids]

    def bm25_chunks(self, query_tokens: list[str], k: int) -> list[int]:
        if k <= 0 or not query_tokens or not self._chunk_ids:
            return []
        hits = self._call(
            self._milvus.client.search,
            self._milvus.chunks,
            data=[" ".join(query_tokens)],
            anns_field="sparse",
            limit=k,
            output_fields=["pk"],
            search_params={"metric_type": "BM25"},
        )[0]
        # Milvus returns the BM25 score negated as the distance (measured: -0.61 ranks above
        # -0.47), hits sorted by it ascending. Sort explicitly on the score, ties by position as
        # the FAISS backend breaks them, rather than trust the server's order.
        scored = [(-float(hit["distance"]), self._chunk_ids.get(_key(hit))) for hit in hits]
        ranked = sorted((s for s in scored if s[1] is not None and s[0] > 0), key=lambda s: (-s[0], s[1]))
        return [position for _, position in ranked if position is not None]

    def vectors(self, name: str, ids: list[int]) -> Vectors:
        if name == "chunks":
            raise ValueError("chunk vectors are not looked up by id")
        with self._lock:
            missing = [i for i in ids if i not in self._cache]
        if missing:
            self._fetch(missing)
        column = 0 if name == "sentences" else 1
        with self._lock:
            rows = [self._cache[i][column] if i in self._cache else None for i in ids]
        if any(r is None for r in rows):  # evicted meanwhile by a burst of other questions
            self._fetch([i for i, r in zip(ids, rows, strict=True) if r is None])
            with self._lock:
                rows = [self._cache[i][column] for i in ids]
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([r for r in rows if r is not None]).astype(np.float32, copy=False)

    def _fetch(self, ids: list[int]) -> None:
        keys = [self._sentence_keys[i] for i in ids]
        found = self._call(
            self._milvus.client.query,
            self._milvus.sentences,
            filter=f"pk in {_string_list(keys)}",
            output_fields=["pk", "vector", "context"],
        )
        with self._lock:
            for row in found:
                sentence_id = self._sentence_ids.get(str(row["pk"]))
                if sentence_id is not None:
                    self._cache[sentence_id] = (
                        np.asarray(row["vector"], dtype=np.float32),
                        np.asarray(row["context"], dtype=np.float32),
                    )


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _key(hit: Any) -> str:
    return str(hit["pk"] if "pk" in hit else hit["id"])


def _string_list(keys: list[str]) -> str:
    import json

    return json.dumps(keys)


def load_milvus_index(settings: Settings, dimension: int, milvus: MilvusIndex | None = None) -> SearchIndex:
    """Every complete document in Milvus, with search going to Milvus."""
    milvus = milvus or MilvusIndex(settings, dimension)
    milvus.dimension = dimension
    documents, sentences, chunks, stamps = milvus.load_store()
    sentence_keys: list[str] = []
    counters: dict[str, int] = {}
    for sentence in sentences:
        n = counters.get(sentence.doc_id, 0)
        counters[sentence.doc_id] = n + 1
        sentence_keys.append(f"{sentence.doc_id}:{n}")
    search = MilvusSearch(milvus, sentence_keys, [c.chunk_id for c in chunks])
    manifest = Manifest(
        **settings_fingerprint(settings),
        dimension=dimension,
        corpus=stamps,
        counts=Counts(documents=len(documents), sentences=len(sentences), chunks=len(chunks)),
        vector_index={"all": {"type": "milvus", "uri": settings.milvus.uri}},
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        qa_version=__version__,
    )
    return SearchIndex(
        path=Path(settings.milvus.collection_prefix),
        manifest=manifest,
        documents=documents,
        sentences=sentences,
        chunks=chunks,
        search=search,
        generation=fingerprint(stamps),
    )


def build_milvus(
    settings: Settings,
    embedder: Embedder,
    progress: Progress | None = None,
    on_skip: OnSkip | None = None,
) -> dict[str, Any]:
    """Put every corpus document into Milvus, embedding only new, changed or stale ones.

    Documents already in Milvus but not in the corpus directory are kept: with Milvus the
    collections, not one machine's directory, are the truth (documents may have been uploaded
    through any replica); ``qa index remove`` or ``DELETE /v1/documents/{id}`` removes them.
    Those indexed under another format version, model or chunking are indexed again from their
    stored text (``reindex_stale``).
    """
    from qa.corpus.chunking import build_chunks, sentences_of
    from qa.index.reuse import VectorReuse

    milvus = MilvusIndex(settings, embedder.dimension)
    # A local FAISS build of the same corpus lends its vectors: moving to Milvus re-embeds nothing.
    local = VectorReuse.of_current(settings, embedder.dimension)
    chunking = settings.chunking
    try:
        milvus.create(embedder.dimension)
        stored = milvus.stored_stamps()
        documents = load_corpus(settings.corpus_dir, on_skip)
        embedded = written = 0
        for done, document in enumerate(documents, start=1):
            if stored.get(document.doc_id) != milvus.stamp_of(document):
                sentences = sentences_of([document])
                chunks = build_chunks([document], sentences, chunking.sentences_per_chunk, chunking.overlap)
                vectors = local.vectors(document, len(sentences), len(chunks))
                milvus.add_document(document, embedder, vectors)
                embedded += vectors is None
                written += 1
            if progress is not None:
                progress("Embedding documents", done, len(documents))
        reindexed = reindex_stale(milvus, embedder, settings.corpus_dir, progress)
        # Even when nothing was written: a store filled before builds flushed is fixed this way.
        milvus.flush()
        return {
            "documents": len(documents),
            "embedded": embedded,
            "written": written,
            "unchanged": len(documents) - written,
            "reindexed": len(reindexed),
        }
    finally:
        milvus.close()


def reindex_stale(
    milvus: MilvusIndex, embedder: Embedder, corpus_dir: Path, progress: Progress | None = None
) -> list[str]:
    """Index every stale stored document again (split and embedded anew); returns their ids.

    A stale document was indexed under another format version, embedding model or chunking
    (its stamp says so). Its source is its corpus file when that holds the same content (read as
    the current code reads it), else its stored text, split again from the blocks its stored
    sentences came from: documents added over HTTP have no file. Each is replaced the way
    ``MilvusIndex.add_document`` replaces a document, so a failure leaves the rest stale, never
    lost, and the next run carries on.
    """
    stale = milvus.stale_documents()
    files = {path.stem: path for path in corpus_files(corpus_dir)} if corpus_dir.is_dir() else {}
    for done, doc_id in enumerate(stale, start=1):
        stored = milvus.stored_document(doc_id)
        if stored is not None:  # None: removed meanwhile
            document = _same_file(files.get(doc_id), stored.document) or stored.to_split_again()
            milvus.add_document(document, embedder)
        if progress is not None:
            progress("Re-indexing stale documents", done, len(stale))
    if stale:
        milvus.flush()
    return stale


def _same_file(path: Path | None, stored: Document) -> Document | None:
    """The corpus file's document when it holds the stored document's content, else None."""
    if path is None:
        return None
    try:
        document = read_document(path, stored.doc_id)
    except CorpusError:
        return None
    return document if document.sha256 == stored.sha256 else None
