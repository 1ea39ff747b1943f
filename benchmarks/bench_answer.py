"""Index build time and in-process answer latency on the dev questions (model warm).

Builds the index for the corpus with ``qa index build`` in a fresh index directory, twice: the
first build includes the one-off ONNX export of the model, the second reuses the cached export
(what a rebuild costs). Then loads the pipeline in this process and times ``QAPipeline.ask`` on
every dev question, ``--rounds`` times after a warm-up round, and reports the share of the time
spent embedding the question. Peak RSS is this process's high-water mark (no torch is loaded:
the ONNX path does not need it).

    python benchmarks/bench_answer.py --rounds 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    REPO,
    peak_rss_mb,
    questions,
    summary_ms,
    write_result,
)


def qa_command() -> list[str]:
    return [sys.executable, "-m", "qa.cli"]


def timed_build(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([*qa_command(), "index", "build"], env=env, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - started


def environment(corpus: Path, index: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"QA_CORPUS_DIR": str(corpus), "QA_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1"})
    return env


def _throughput(pipeline: Any, asked: list[str], args: argparse.Namespace) -> float:
    """Answers per second with ``args.threads`` threads asking at once (best of three runs)."""
    work = asked * max(1, args.rounds)
    best = 0.0
    with ThreadPoolExecutor(args.threads) as pool:
        for _ in range(3):
            started = time.perf_counter()
            list(pool.map(pipeline.ask, work))
            best = max(best, len(work) / (time.perf_counter() - started))
    return round(best, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    parser.add_argument("--threads", type=int, default=16, help="Concurrent askers for throughput.")
    parser.add_argument("--keep-index", type=Path, default=None, help="Build here and keep it.")
    parser.add_argument("--model-cache", type=Path, default=None, help="QA_EMBEDDING__CACHE_DIR to use.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="qa-bench-answer-") as tmp:
        index_dir = args.keep_index or Path(tmp) / "index"
        shutil.rmtree(index_dir, ignore_errors=True)
        env = environment(args.corpus, index_dir)
        if args.model_cache:
            env["QA_EMBEDDING__CACHE_DIR"] = str(args.model_cache)
        first_build = timed_build(env)
        rebuild = timed_build(env)
        for key in ("QA_CORPUS_DIR", "QA_INDEX_DIR", "QA_EMBEDDING__CACHE_DIR"):
            if key in env:
                os.environ[key] = env[key]
        from qa.config import Settings
        from qa.pipeline import QAPipeline

        settings = Settings()
        started = time.perf_counter()
        pipeline = QAPipeline.load(settings)
        load_s = time.perf_counter() - started
        asked = questions()
        for question in asked:  # warm-up
            pipeline.ask(question)
        answer_times: list[float] = []
        embed_times: list[float] = []
        for _ in range(args.rounds):
            for question in asked:
                started = time.perf_counter()
                pipeline.ask(question)
                answer_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                pipeline.retriever.embed_query(question)
                embed_times.append(time.perf_counter() - started)
        throughput = {
            "with_query_batching": _throughput(pipeline, asked, args),
        }
        # The same pipeline with every question embedded on its own, for the comparison.
        batching = pipeline.retriever._embedder
        pipeline.retriever._embedder = getattr(batching, "inner", batching)
        throughput["without_query_batching"] = _throughput(pipeline, asked, args)
        pipeline.retriever._embedder = batching
        counts = pipeline.index.manifest.counts.model_dump()
        result: dict[str, Any] = {
            "backend": settings.embedding.backend,
            "corpus": {k: counts[k] for k in ("documents", "sentences", "chunks")},
            "questions": len(asked),
            "rounds": args.rounds,
            "index_build_first_s": round(first_build, 2),
            "index_build_cached_model_s": round(rebuild, 2),
            "pipeline_load_s": round(load_s, 2),
            "answer": summary_ms(answer_times),
            "embed_question": summary_ms(embed_times),
            f"answers_per_s_{args.threads}_threads": throughput,
            "peak_rss_mb": peak_rss_mb(),
        }
    write_result("answer", result, args.out)


if __name__ == "__main__":
    main()
