"""Vector search at scale: synthetic vectors, exact (flat) vs HNSW, one search thread.

No text is embedded: the vectors are *clustered* synthetic data (normalised points around
random centres, a stand-in for the topical structure of real embeddings). Uniform random noise
would make every neighbour almost equally far and recall meaningless. Queries are fresh points
from the same distribution. For each size we report build time, search p50/p95 for one query
on one thread, recall@10 of HNSW against exact search at several ``efSearch`` values, the file
size and the resident memory added by loading the index memory-mapped (as the server does).

    python benchmarks/bench_scale.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import peak_rss_mb, rss_mb, summary_ms, write_result
from qa.config import IndexSettings
from qa.index.vectors import build_vector_index, choose_params, read_vector_index


def clustered(count: int, dimension: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Normalised points around ``clusters`` random centres (spread comparable to real embeddings)."""
    centres = rng.standard_normal((clusters, dimension), dtype=np.float32)
    out = np.empty((count, dimension), dtype=np.float32)
    step = 100_000
    for first in range(0, count, step):
        n = min(step, count - first)
        labels = rng.integers(0, clusters, n)
        out[first : first + n] = centres[labels] + 0.9 * rng.standard_normal((n, dimension), dtype=np.float32)
    faiss.normalize_L2(out)
    return out


def timed_searches(index: Any, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    faiss.omp_set_num_threads(1)
    times, found = [], []
    for row in range(len(queries)):
        started = time.perf_counter()
        _, ids = index.search(queries[row : row + 1], k)
        times.append(time.perf_counter() - started)
        found.append(ids[0])
    return times, np.asarray(found)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = sum(len(set(f[:k]) & set(t[:k])) for f, t in zip(found, truth, strict=True))
    return round(hits / (k * len(truth)), 4)


def run_size(count: int, args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    clusters = max(10, count // 1000)
    data = clustered(count, args.dimension, clusters, rng)
    queries = clustered(args.queries, args.dimension, clusters, np.random.default_rng(7))
    # Same centres as the data (same seed), new points: queries land in the data's clusters.
    queries = queries[: args.queries]
    rows: list[dict[str, Any]] = []

    faiss.omp_set_num_threads(args.build_threads)
    started = time.perf_counter()
    flat = build_vector_index(data, args.dimension, {"type": "flat"})
    flat_build = time.perf_counter() - started
    _, truth = flat.search(queries, 10)  # exact ground truth (batched, all threads)
    flat_path = workdir / f"flat-{count}.faiss"
    faiss.write_index(flat, str(flat_path))
    del flat
    gc.collect()
    before = rss_mb()
    flat = read_vector_index(flat_path, {"type": "flat"}, mmap=True, ef_search=None)
    flat_added = round(rss_mb() - before, 1)
    times, found = timed_searches(flat, queries, 10)
    rows.append(
        {
            "vectors": count,
            "index": "flat (exact)",
            "build_s": round(flat_build, 2),
            **summary_ms(times),
            "recall_at_10": recall_at(found, truth, 10),
            "file_mb": round(flat_path.stat().st_size / 1024**2, 1),
            "rss_added_on_load_mb": flat_added,
            # Pages of the mapped file that searches touched (shared page cache, not private heap).
            "rss_added_after_search_mb": round(rss_mb() - before, 1),
        }
    )
    del flat

    settings = IndexSettings(
        hnsw_threshold=1, hnsw_m=args.m, hnsw_ef_construction=args.ef_construction, hnsw_ef_search=64
    )
    params = choose_params(count, settings)
    faiss.omp_set_num_threads(args.build_threads)
    started = time.perf_counter()
    hnsw = build_vector_index(data, args.dimension, params)
    hnsw_build = time.perf_counter() - started
    hnsw_path = workdir / f"hnsw-{count}.faiss"
    faiss.write_index(hnsw, str(hnsw_path))
    del hnsw, data
    gc.collect()
    before = rss_mb()
    loaded = read_vector_index(hnsw_path, params, mmap=True, ef_search=64)
    added = round(rss_mb() - before, 1)
    for ef in args.ef_search:
        loaded.hnsw.efSearch = ef
        times, found = timed_searches(loaded, queries, 10)
        rows.append(
            {
                "vectors": count,
                "index": f"HNSW M={args.m} efC={args.ef_construction} efSearch={ef}",
                "build_s": round(hnsw_build, 2),
                **summary_ms(times),
                "recall_at_10": recall_at(found, truth, 10),
                "file_mb": round(hnsw_path.stat().st_size / 1024**2, 1),
                "rss_added_on_load_mb": added,
                "rss_added_after_search_mb": round(rss_mb() - before, 1),
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--m", type=int, default=IndexSettings().hnsw_m)
    parser.add_argument("--ef-construction", type=int, default=IndexSettings().hnsw_ef_construction)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-scale-") as tmp:
        for count in args.sizes:
            rows += run_size(count, args, Path(tmp))
    write_result(
        "scale",
        {
            "data": "clustered synthetic vectors (count/1000 centres, gaussian spread), L2-normalised",
            "dimension": args.dimension,
            "queries": args.queries,
            "search_threads": 1,
            "build_threads": args.build_threads,
            # This process held the data, the exact index and the HNSW build at once.
            "process_peak_rss_mb": peak_rss_mb(),
            "rows": rows,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
