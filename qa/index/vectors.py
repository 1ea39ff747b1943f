"""FAISS index type by size: exact search for small corpora, HNSW beyond a threshold.

Below ``hnsw_threshold`` vectors (20,000) an exact inner-product scan (``IndexFlatIP``) is both
fastest to build and fast enough (about a millisecond on one thread); at 1e5 vectors it already
takes 5-15 ms per query here. Above it, HNSW keeps a query well under 2 ms at 1e6 vectors with
recall@10 >= 0.95 (``benchmarks/bench_scale.py``; figures in benchmarks/results/scale.json).
The chosen type and its parameters go into the manifest, and files are memory-mapped on load
where FAISS can (flat codes, HNSW storage), so worker processes share one copy of the vectors
through the page cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss

from qa.config import IndexSettings
from qa.embedding.base import Vectors


def choose_params(count: int, settings: IndexSettings) -> dict[str, Any]:
    """The index type and parameters for ``count`` vectors (recorded in the manifest)."""
    if count < settings.hnsw_threshold:
        return {"type": "flat"}
    return {
        "type": "hnsw",
        "M": settings.hnsw_m,
        "ef_construction": settings.hnsw_ef_construction,
        "ef_search": settings.hnsw_ef_search,
    }


def build_vector_index(vectors: Vectors, dimension: int, params: dict[str, Any]) -> faiss.Index:
    """An inner-product index over normalised ``vectors`` (so scores are cosines)."""
    index: faiss.Index
    if params["type"] == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, int(params["M"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(params["ef_construction"])
        index.hnsw.efSearch = int(params["ef_search"])
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(vectors)
    return index


def read_vector_index(path: Path, params: dict[str, Any] | None, mmap: bool, ef_search: int | None) -> Any:
    """Load an index written by ``faiss.write_index``, memory-mapped when ``mmap``.

    ``ef_search`` (``QA_INDEX__HNSW_EF_SEARCH``) overrides the build-time value for HNSW: it
    trades recall for speed at query time and needs no rebuild.
    """
    flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
    index: Any = faiss.read_index(str(path), flags)  # already the concrete class (IndexHNSWFlat...)
    if params and params.get("type") == "hnsw":
        index.hnsw.efSearch = int(ef_search or params["ef_search"])
    return index
