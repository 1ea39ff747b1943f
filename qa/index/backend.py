"""The search backend protocol: what retrieval asks of an index, whichever engine holds it.

Retrieval needs four things: the best chunks for a question vector, the best chunks by BM25,
the best sentences (alone or read in context) for a vector, and the stored vectors of given
sentences so it can score them exactly. ``FaissSearch`` answers from local files (the embedded
default); ``qa.index.milvus.MilvusSearch`` from a Milvus server shared by every replica.
Ids are positions in the loaded ``SearchIndex``: chunk positions and global sentence ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import faiss
import numpy as np

from qa.embedding.base import Vectors
from qa.index.lexical import LexicalIndex, top_positions

# Vector set name -> FaissSearch field. Sentence and context rows are sentence ids; chunk rows
# are chunk positions.
VECTOR_SETS = {"sentences": "sentence_vectors", "contexts": "context_vectors", "chunks": "chunk_vectors"}


class SearchBackend(Protocol):
    """Nearest neighbours and BM25 over one loaded index (ids as in ``SearchIndex``)."""

    def dense(self, name: str, vector: Vectors, k: int) -> list[int]:
        """Ids of the ``k`` rows of vector set ``name`` most similar to ``vector``, best first."""
        ...

    def bm25_chunks(self, query_tokens: list[str], k: int) -> list[int]:
        """Positions of the ``k`` best chunks by BM25 over the query's tokens, best first.

        Only chunks sharing a term with the query (score > 0) are returned.
        """
        ...

    def vectors(self, name: str, ids: list[int]) -> Vectors:
        """The stored (normalised) vectors of rows ``ids`` of vector set ``name``, in that order."""
        ...


@dataclass(frozen=True, slots=True)
class FaissSearch:
    """``SearchBackend`` over FAISS indexes and a bm25s index loaded from a local build."""

    chunk_vectors: faiss.Index
    sentence_vectors: faiss.Index
    context_vectors: faiss.Index
    chunk_bm25: LexicalIndex

    def index(self, name: str) -> faiss.Index:
        """One of the ``VECTOR_SETS`` by name."""
        index: faiss.Index = getattr(self, VECTOR_SETS[name])
        return index

    def dense(self, name: str, vector: Vectors, k: int) -> list[int]:
        index = self.index(name)
        k = min(k, index.ntotal)
        if k <= 0:
            return []
        _, ids = index.search(vector, k)
        return [int(i) for i in ids[0] if i >= 0]

    def bm25_chunks(self, query_tokens: list[str], k: int) -> list[int]:
        scores = self.chunk_bm25.scores(query_tokens)
        return [int(i) for i in top_positions(scores, min(k, len(scores))) if scores[i] > 0]

    def vectors(self, name: str, ids: list[int]) -> Vectors:
        index = self.index(name)
        if not ids:
            return np.zeros((0, index.d), dtype=np.float32)
        rows = index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
        return np.asarray(rows, dtype=np.float32)
