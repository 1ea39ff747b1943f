"""Every benchmark script runs end to end at a tiny size (so they don't rot); no timing asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.embedding.base import Embedder
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_the_benchmark_suite_runs_at_a_tiny_size(
    real_embedder: Embedder, tmp_path: Path, milvus_uri: str
) -> None:
    # real_embedder guarantees the ONNX export the tiny run reuses exists in index/models.
    results = tmp_path / "results"
    command = [sys.executable, str(REPO / "benchmarks" / "run.py"), "--tiny", "--results", str(results)]
    command += ["--milvus-uri", milvus_uri]  # the session's Milvus Lite server
    done = subprocess.run(command, capture_output=True, text=True, timeout=1500, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]

    answer = json.loads((results / "answer.json").read_text())
    assert answer["answer"]["n"] == answer["questions"] == 24 and answer["answer"]["p50_ms"] > 0
    assert answer["backend"] == "onnx" and answer["corpus"]["documents"] == 1
    server = json.loads((results / "server.json").read_text())
    assert server["http_concurrency_1"]["errors"] == 0 and server["cold_start_to_ready_s"] > 0
    assert server["http_concurrency_4"]["errors"] == 0 and server["http_concurrency_4"]["requests"] == 20
    assert server["peak_rss_mb"] > 0
    embed = json.loads((results / "embed.json").read_text())
    assert embed["min_cosine_onnx_vs_torch"] >= 0.999
    assert {row["backend"] for row in embed["throughput"]} == {"onnx O2", "torch"}
    scale = json.loads((results / "scale.json").read_text())
    assert [row["index"].split()[0] for row in scale["rows"]] == ["flat", "HNSW"]
    assert scale["rows"][0]["recall_at_10"] == 1.0

    build = json.loads((results / "build.json").read_text())
    assert build["faiss_build"]["documents"] == 1 and build["faiss_build"]["texts_embedded"] > 0
    assert build["faiss_build"]["share_of_raw_throughput"] > 0 and build["faiss_answer"]["n"] == 5
    assert build["faiss_build"]["share_of_raw_on_build_texts"] > 0
    assert build["milvus_fill"]["data_mb"] is None  # an outside server's disk is not ours to measure
    assert build["milvus_fill"]["written"] == 1 and build["milvus_answer"]["n"] == 5
    cluster = json.loads((results / "cluster.json").read_text())
    assert [(r["backend"], r["replicas"]) for r in cluster["rows"]] == [("faiss", 1), ("milvus", 1)]
    assert all(r["concurrent"]["errors"] == 0 and r["concurrent"]["requests"] == 16 for r in cluster["rows"])

    markdown = (tmp_path / "results.md").read_text()
    assert markdown.count("\n## ") >= 7  # targets, answer, server, embedding, scale, replicas, build
    assert "| CPU |" in markdown and "in-process answer p50" in markdown
