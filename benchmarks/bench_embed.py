"""Embedding throughput for indexing real text, and the ONNX/PyTorch comparison.

Texts are the article's sentences (repeated to ``--texts``). For ONNX Runtime (the default
backend) we report sentences/s at several batch sizes and thread counts, so the default batch
size is chosen on evidence; for PyTorch the same at its best-known settings. Both backends also
embed every dev question one at a time (query latency p50), and the ONNX vectors are compared
with PyTorch's (minimum cosine over all sentences and questions; must be >= 0.999).

    python benchmarks/bench_embed.py --texts 2048
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ARTICLE, questions, summary_ms, write_result


def sentences(count: int) -> list[str]:
    from qa.corpus.documents import parse_document
    from qa.corpus.segmentation import split_sentences

    document = parse_document("article", ARTICLE.read_text(encoding="utf-8"), ARTICLE.name)
    texts = [document.text[s.start : s.end] for s in split_sentences(document.text)]
    return (texts * (count // len(texts) + 1))[:count]


def throughput(embedder: Any, texts: list[str]) -> float:
    embedder.embed(texts[:64])  # warm-up
    started = time.perf_counter()
    embedder.embed(texts)
    return round(len(texts) / (time.perf_counter() - started), 1)


def query_latency(embedder: Any, asked: list[str], rounds: int) -> dict[str, float]:
    for question in asked:
        embedder.embed([question])
    times = []
    for _ in range(rounds):
        for question in asked:
            started = time.perf_counter()
            embedder.embed([question])
            times.append(time.perf_counter() - started)
    return summary_ms(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32, 64, 128])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 0], help="0 = all cores")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model-cache", type=Path, default=None, help="Reuse exports here (else export).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from qa.config import EmbeddingSettings
    from qa.embedding.onnx import OnnxEmbedder
    from qa.embedding.onnx_export import exported_model_dir
    from qa.embedding.torch_model import SentenceTransformerEmbedder, resolve_model_path

    texts = sentences(args.texts)
    asked = questions()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-embed-") as tmp:
        base = EmbeddingSettings()
        started = time.perf_counter()
        cache = args.model_cache or Path(tmp)
        exported = exported_model_dir(resolve_model_path(base), cache, base.onnx_optimization)
        export_s = time.perf_counter() - started
        onnx_default = OnnxEmbedder(exported, base)
        for threads in args.threads:
            for batch in args.batch_sizes:
                settings = base.model_copy(update={"batch_size": batch, "threads": threads})
                embedder = OnnxEmbedder(exported, settings)
                rows.append(
                    {
                        "backend": f"onnx {base.onnx_optimization}",
                        "threads": threads or "all",
                        "batch_size": batch,
                        "sentences_per_s": throughput(embedder, texts),
                    }
                )
                print(rows[-1], file=sys.stderr, flush=True)
        torch_settings = base.model_copy(update={"backend": "torch", "threads": 0})
        torch_embedder = SentenceTransformerEmbedder(torch_settings)
        rows.append(
            {
                "backend": "torch",
                "threads": "all",
                "batch_size": base.batch_size,
                "sentences_per_s": throughput(torch_embedder, texts),
            }
        )
        unique = list(dict.fromkeys(texts)) + asked
        cosine = float(np.min(np.sum(onnx_default.embed(unique) * torch_embedder.embed(unique), axis=1)))
        latency = {
            "onnx": query_latency(onnx_default, asked, args.rounds),
            "torch": query_latency(torch_embedder, asked, args.rounds),
        }
    best = max(rows, key=lambda r: r["sentences_per_s"])
    write_result(
        "embed",
        {
            "texts": len(texts),
            "onnx_export_s": round(export_s, 2) if args.model_cache is None else None,
            "throughput": rows,
            "best": best,
            "query_latency_1_thread_default": latency,
            "min_cosine_onnx_vs_torch": round(cosine, 6),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
