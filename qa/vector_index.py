"""FAISS index type by size: exact search for small corpora, HNSW beyond a threshold.

Below ``hnsw_threshold`` vectors an exact inner-product scan (``IndexFlatIP``) is both fastest
to build and fast enough (a few hundred microseconds at 1e5 x 384). Above it, HNSW keeps a
query at about a millisecond at 1e6 vectors with recall@10 >= 0.95 (see
``benchmarks/bench_scale.py``). The chosen type and its parameters go into the manifest, and
files are memory-mapped on load where FAISS can (flat codes, HNSW storage), so several worker
processes share one copy of the vectors through the page cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss

from qa.config import IndexSettings
from qa.embedding import Vectors


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
    index = faiss.read_index(str(path), flags)
    if params and params.get("type") == "hnsw":
        hnsw_index: Any = faiss.downcast_index(index)
        hnsw_index.hnsw.efSearch = int(ef_search or params["ef_search"])
        return hnsw_index
    return index
