"""The search index: manifest, build + atomic publish, load + verify, vector sets, BM25, ingestion."""

from qa.index.backend import VECTOR_SETS
from qa.index.build import Progress, build_index, ensure_index
from qa.index.load import SearchIndex, load_index
from qa.index.manifest import Manifest, current_path, read_manifest, staleness

__all__ = [
    "VECTOR_SETS",
    "Manifest",
    "Progress",
    "SearchIndex",
    "build_index",
    "current_path",
    "ensure_index",
    "load_index",
    "read_manifest",
    "staleness",
]
