# ruff: noqa: E501  (Markdown table templates read better unwrapped)
"""Run every benchmark and write ``benchmarks/results.md`` (``make bench``).

Each benchmark runs in its own process (so memory figures are its own) and stores JSON in
``benchmarks/results/``; the Markdown table is rendered from those files, so a long run done
separately (the 1e6-vector scale benchmark) is included as long as its JSON is there.

    python benchmarks/run.py                 # everything, scale at 1e5 and 1e6 (long: HNSW build)
    python benchmarks/run.py --skip-scale    # keep the stored scale figures
    python benchmarks/run.py --render-only   # only re-render results.md from the JSON files
    python benchmarks/run.py --tiny --results /tmp/x   # seconds; what the test runs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.common import RESULTS  # noqa: E402
from qa.config import IndexSettings  # noqa: E402

TARGETS = "issue 7 targets on this 2-core machine"


def commands(
    results: Path, tiny: bool, scale_sizes: list[str], milvus_uri: str | None = None
) -> dict[str, list[str]]:
    def script(name: str) -> list[str]:
        return [sys.executable, str(HERE / f"bench_{name}.py"), "--out", str(results / f"{name}.json")]

    milvus = ["--milvus-uri", milvus_uri] if milvus_uri else []
    if tiny:
        # Reuse the ONNX export the test session already made instead of exporting per script.
        cache = ["--model-cache", str(HERE.parent / "index" / "models")]
        return {
            "embed": [*script("embed"), "--texts", "32", "--batch-sizes", "8", "--threads", "1", *cache],
            "answer": [*script("answer"), "--rounds", "1", "--threads", "2", *cache],
            "server": [*script("server"), "--rounds", "1", "--requests", "20", "--concurrency", "4", *cache],
            "scale": [*script("scale"), "--sizes", "2000", "--queries", "10", "--ef-search", "16"],
            "build": [
                *script("build"),
                "--pages",
                "1",
                "--raw-texts",
                "64",
                "--questions",
                "5",
                *cache,
                *milvus,
            ],
            "cluster": [
                *script("cluster"),
                "--replicas",
                "1",
                "--requests",
                "16",
                "--sequential",
                "3",
                "--concurrency",
                "4",
            ],
        }
    return {
        "embed": script("embed"),
        "answer": script("answer"),
        "server": script("server"),
        "scale": [*script("scale"), "--sizes", *scale_sizes],
        # The whole python3.11-doc build is long (see docs/performance.md): run it on its own with
        # `python benchmarks/bench_build.py --all`; its JSON is rendered when present.
        "cluster": [*script("cluster"), *milvus],
    }


def load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def check(value: float | None, limit: float, higher_is_better: bool = False) -> str:
    if value is None:
        return "-"
    ok = value >= limit if higher_is_better else value <= limit
    return "✅" if ok else "❌"


def render(results: Path) -> str:
    answer, server, embed, scale = (load(results, n) for n in ("answer", "server", "embed", "scale"))
    build, cluster = load(results, "build"), load(results, "cluster")
    first = next((r for r in (answer, server, embed, scale, build, cluster) if r), None)
    lines = ["# Benchmark results", ""]
    if first:
        m = first["machine"]
        versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        lines += [
            "| machine | |",
            "| --- | --- |",
            f"| CPU | {m['cpu']} |",
            f"| cores | {m['cores']} |",
            f"| RAM | {m['ram_gb']} GB |",
            f"| OS | {m['os']} |",
            f"| Python | {m['python']} |",
            f"| versions | {versions} |",
            "",
            "The machine is shared: each section gives the 1-minute load average when its figures were",
            "written; a load above the core count means other jobs were competing for the CPU.",
            "",
        ]
    rows: list[str] = []
    if answer:
        a = answer["answer"]
        rows += [
            f"| in-process answer p50 (warm) | {a['p50_ms']} ms | ≤ 5 ms | {check(a['p50_ms'], 5)} |",
            f"| in-process answer p95 (warm) | {a['p95_ms']} ms | ≤ 10 ms | {check(a['p95_ms'], 10)} |",
        ]
    if server:
        c1 = server["http_concurrency_1"]
        loaded = next(
            v for k, v in server.items() if k.startswith("http_concurrency_") and k != "http_concurrency_1"
        )
        rows += [
            f"| HTTP answer p50, concurrency 1 | {c1['p50_ms']} ms | ≤ 5 ms | {check(c1['p50_ms'], 5)} |",
            f"| HTTP throughput, concurrency {loaded['clients']} | {loaded['answers_per_s']} answers/s, "
            f"{loaded['errors']} errors | ≥ 150/s, 0 errors | "
            f"{check(loaded['answers_per_s'], 150, True) if loaded['errors'] == 0 else '❌'} |",
            f"| server peak RSS | {server['peak_rss_mb']} MB | ≤ 800 MB | {check(server['peak_rss_mb'], 800)} |",
            f"| server cold start to /readyz (index built) | {server['cold_start_to_ready_s']} s | ≤ 10 s | "
            f"{check(server['cold_start_to_ready_s'], 10)} |",
        ]
    if scale:
        default_ef = f"efSearch={IndexSettings().hnsw_ef_search}"
        for row in scale["rows"]:
            if (
                row["vectors"] >= 1_000_000
                and row["index"].startswith("HNSW")
                and row["index"].endswith(default_ef)
            ):
                rows.append(
                    f"| 1e6 vectors, HNSW ({default_ef}, the default) search p50, 1 thread | {row['p50_ms']} ms | ≤ 2 ms | "
                    f"{check(row['p50_ms'], 2)} |"
                )
                rows.append(
                    f"| 1e6 vectors, HNSW ({default_ef}) recall@10 | {row['recall_at_10']} | ≥ 0.95 | "
                    f"{check(row['recall_at_10'], 0.95, True)} |"
                )
    if rows:
        lines += [
            f"## Targets ({TARGETS})",
            "",
            "| measure | measured | target | |",
            "| --- | --- | --- | --- |",
        ]
        lines += [*rows, ""]
    if answer:
        t = answer[next(k for k in answer if k.startswith("answers_per_s_"))]
        threads = next(k for k in answer if k.startswith("answers_per_s_")).split("_")[3]
        lines += [
            f"## Article Q&A in process (`python benchmarks/bench_answer.py`, load {answer['machine']['load_avg_1m']})",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| corpus | {answer['corpus']['documents']} document, {answer['corpus']['sentences']} sentences, "
            f"{answer['corpus']['chunks']} chunks |",
            f"| index build, first (`qa index build`, incl. one-off ONNX export) | {answer['index_build_first_s']} s |",
            f"| index build, export cached | {answer['index_build_cached_model_s']} s |",
            f"| pipeline load (model + index) | {answer['pipeline_load_s']} s |",
            f"| answer p50 / p95 / mean ({answer['answer']['n']} asks, {answer['questions']} dev questions) | "
            f"{answer['answer']['p50_ms']} / {answer['answer']['p95_ms']} / {answer['answer']['mean_ms']} ms |",
            f"| of which question embedding p50 | {answer['embed_question']['p50_ms']} ms |",
            f"| answers/s with {threads} threads, query batching on / off | "
            f"{t['with_query_batching']} / {t['without_query_batching']} |",
            f"| peak RSS of this process | {answer['peak_rss_mb']} MB |",
            "",
        ]
    if server:
        loaded = next(
            v for k, v in server.items() if k.startswith("http_concurrency_") and k != "http_concurrency_1"
        )
        c1 = server["http_concurrency_1"]
        lines += [
            f"## HTTP server (`python benchmarks/bench_server.py`, load {server['machine']['load_avg_1m']})",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| cold start to ready | {server['cold_start_to_ready_s']} s |",
            f"| `POST /v1/chat` concurrency 1: p50 / p95 | {c1['p50_ms']} / {c1['p95_ms']} ms ({c1['n']} requests, "
            f"{c1['errors']} errors) |",
            f"| concurrency {loaded['clients']}: throughput | {loaded['answers_per_s']} answers/s "
            f"({loaded['requests']} requests, {loaded['errors']} errors) |",
            f"| concurrency {loaded['clients']}: latency p50 / p95 | {loaded['latency']['p50_ms']} / "
            f"{loaded['latency']['p95_ms']} ms |",
            f"| RSS when ready / peak | {server['rss_when_ready_mb']} / {server['peak_rss_mb']} MB |",
        ]
        if "server_cpu_ms_per_answer" in c1:  # results written before the CPU was recorded lack it
            lines.append(
                f"| server CPU per answer (all threads), concurrency 1 / {loaded['clients']} | "
                f"{c1['server_cpu_ms_per_answer']} / {loaded['server_cpu_ms_per_answer']} ms |"
            )
        lines.append("")
    if embed:
        lines += [
            f"## Embedding (`python benchmarks/bench_embed.py`, load {embed['machine']['load_avg_1m']})",
            "",
            f"{embed['texts']} article sentences; one-off ONNX export (with its check against PyTorch) took "
            f"{embed['onnx_export_s']} s; "
            f"min cosine ONNX vs PyTorch {embed['min_cosine_onnx_vs_torch']}.",
            "",
            "| backend | threads | batch size | sentences/s |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['backend']} | {r['threads']} | {r['batch_size']} | {r['sentences_per_s']} |"
            for r in embed["throughput"]
        ]
        q = embed["query_latency_1_thread_default"]
        lines += [
            "",
            f"One question at a time, p50: ONNX {q['onnx']['p50_ms']} ms, PyTorch {q['torch']['p50_ms']} ms.",
            "",
        ]
    if scale:
        lines += [
            f"## Vector search at scale (`python benchmarks/bench_scale.py`, load {scale['machine']['load_avg_1m']})",
            "",
            f"{scale['data']}; dimension {scale['dimension']}; {scale['queries']} queries, one at a time on "
            "one thread; recall@10 against exact search; indexes loaded memory-mapped.",
            "",
            "| vectors | index | build s | p50 ms | p95 ms | recall@10 | file MB | RSS on load MB | RSS after searches MB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['vectors']:,} | {r['index']} | {r['build_s']} | {r['p50_ms']} | {r['p95_ms']} | "
            f"{r['recall_at_10']} | {r['file_mb']} | {r['rss_added_on_load_mb']} | "
            f"{r.get('rss_added_after_search_mb', '-')} |"
            for r in scale["rows"]
        ]
        lines.append("")
    lines += render_scale_out(build, cluster)
    return "\n".join(lines)


def render_scale_out(build: dict[str, Any] | None, cluster: dict[str, Any] | None) -> list[str]:
    """The issue 13 sections: replicas behind nginx per backend, and the big index build."""
    lines: list[str] = []
    if cluster:
        lines += [
            f"## Replicas behind nginx (`python benchmarks/bench_cluster.py`, load {cluster['machine']['load_avg_1m']})",
            "",
            "| backend | replicas | per question p50 / p95 | concurrency | answers/s | p50 / p95 under load | errors |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in cluster["rows"]:
            one, many = row["per_question"], row["concurrent"]
            lines.append(
                f"| {row['backend']} | {row['replicas']} | {one['p50_ms']} / {one['p95_ms']} ms | "
                f"{many['clients']} | {many['answers_per_s']} | {many['latency']['p50_ms']} / "
                f"{many['latency']['p95_ms']} ms | {many['errors']} |"
            )
        lines.append("")
    if build:
        b = build["faiss_build"]
        lines += [
            f"## Index build (`python benchmarks/bench_build.py`, load {build['machine']['load_avg_1m']})",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| corpus | {build['pages']} python3.11-doc pages: {b['documents']} documents, {b['sentences']} "
            f"sentences, {b['chunks']} chunks |",
            f"| FAISS build time | {b['seconds']} s ({b['sentences_per_s']} sentences/s) |",
            f"| embedding throughput in the build / raw ONNX on all cores | {b['embedding_texts_per_s']} / "
            f"{build['raw_onnx_texts_per_s_all_cores']} texts/s ({round(100 * b['share_of_raw_throughput'])} %) |",
        ]
        if "share_of_raw_on_build_texts" in b:  # measured since the raw ceiling uses the build's texts
            lines.append(
                f"| the same against raw ONNX on the build's own texts | "
                f"{build['raw_onnx_texts_per_s_build_texts']} texts/s "
                f"({round(100 * b['share_of_raw_on_build_texts'])} %) |"
            )
        lines += [
            f"| peak RSS, index size | {b['peak_rss_mb']} MB, {b['index_mb']} MB |",
            f"| answer p50 / p95, FAISS | {build['faiss_answer']['p50_ms']} / {build['faiss_answer']['p95_ms']} ms |",
        ]
        if "milvus_answer" in build:
            m = build["milvus_fill"]
            lines += [
                f"| Milvus fill (vectors copied from the FAISS build) | {m['seconds']} s"
                + (f", {m['data_mb']} MB on disk |" if m.get("data_mb") else " |"),
                f"| answer p50 / p95, Milvus | {build['milvus_answer']['p50_ms']} / "
                f"{build['milvus_answer']['p95_ms']} ms |",
            ]
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="Where the JSON files go.")
    parser.add_argument("--markdown", type=Path, default=None, help="Default: <results>/../results.md")
    parser.add_argument("--tiny", action="store_true", help="Tiny sizes: checks the scripts run.")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--scale-sizes", nargs="+", default=["100000", "1000000"])
    parser.add_argument(
        "--only", nargs="+", choices=["embed", "answer", "server", "scale", "build", "cluster"], default=None
    )
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument(
        "--milvus-uri", default=None, help="A running Milvus server (else each script starts one)."
    )
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    if not args.render_only:
        for name, command in commands(args.results, args.tiny, args.scale_sizes, args.milvus_uri).items():
            if (args.only and name not in args.only) or (name == "scale" and args.skip_scale):
                continue
            print(f"== {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    markdown = args.markdown or args.results.parent / "results.md"
    markdown.write_text(render(args.results))
    print(f"wrote {markdown}", file=sys.stderr)


if __name__ == "__main__":
    main()
