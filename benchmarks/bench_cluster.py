"""Replicas behind nginx: answer latency and throughput with FAISS and with Milvus, 1 and 2 replicas.

Each configuration is a real deployment in miniature (tests/cluster.py): ``qa serve`` replicas
on 127.0.0.1 behind nginx (``deploy/nginx.conf``), sharing PostgreSQL and Redis, and for the
Milvus backend a Milvus Lite server (``milvus-lite server``). Through nginx we send the dev
questions one at a time (p50/p95 per question), then ``--concurrency`` clients at once
(answers/s, p50/p95, errors). Load generator, nginx, replicas and Milvus share this machine's
cores, so the figures are lower bounds for a real deployment.

    python benchmarks/bench_cluster.py                    # FAISS and Milvus, 1 and 2 replicas
    python benchmarks/bench_cluster.py --requests 16 --sequential 4 --replicas 2   # tiny
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ARTICLE, questions, summary_ms, write_result

ADMIN_KEY = "bench-cluster-key"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def sequential(url: str, asked: list[str]) -> dict[str, float]:
    times = []
    with httpx.Client(timeout=60, headers=AUTH) as client:
        for question in asked:
            started = time.perf_counter()
            client.post(f"{url}/v1/chat", json={"message": question}).raise_for_status()
            times.append(time.perf_counter() - started)
    return summary_ms(times)


async def concurrent(url: str, asked: list[str], requests: int, clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for number in counter:
            started = time.perf_counter()
            try:
                response = await client.post("/v1/chat", json={"message": asked[number % len(asked)]})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=AUTH, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": requests,
        "errors": errors,
        "answers_per_s": round((requests - errors) / elapsed, 1),
        "latency": summary_ms(latencies),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", nargs="+", choices=["faiss", "milvus"], default=["faiss", "milvus"])
    parser.add_argument("--replicas", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sequential", type=int, default=None, help="Questions asked one at a time.")
    parser.add_argument("--milvus-uri", default=None, help="Use this Milvus server (else start one).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from tests.cluster import start_cluster
    from tests.milvus_server import milvus_server, new_prefix

    asked = questions()
    one_by_one = asked[: args.sequential] if args.sequential else asked
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-cluster-") as tmp:
        root = Path(tmp)
        corpus = root / "corpus"
        corpus.mkdir()
        (corpus / ARTICLE.name).write_text(ARTICLE.read_text())
        with contextlib.ExitStack() as stack:
            milvus_uri = args.milvus_uri or stack.enter_context(
                milvus_server(root / "milvus", root / "milvus.log")
            )
            for backend in args.backends:
                for replicas in args.replicas:
                    env = {"QA_ADMIN_KEYS": ADMIN_KEY, "QA_INDEX__BACKEND": backend}
                    # Throughput is the point here: the per-IP limit would stop one load generator.
                    env["QA_SECURITY__RATE_LIMIT_PER_KEY"] = "1000000/minute"
                    if backend == "milvus":
                        env.update(QA_MILVUS__URI=milvus_uri, QA_MILVUS__COLLECTION_PREFIX=new_prefix())
                    name = f"{backend}-{replicas}"
                    print(f"== {name}", file=sys.stderr, flush=True)
                    with start_cluster(root / name, corpus, replicas=replicas, env=env) as cluster:
                        sequential(cluster.url, asked[:8])  # warm-up: every replica, every cache
                        rows.append(
                            {
                                "backend": backend,
                                "replicas": replicas,
                                "per_question": sequential(cluster.url, one_by_one),
                                "concurrent": asyncio.run(
                                    concurrent(cluster.url, asked, args.requests, args.concurrency)
                                ),
                            }
                        )
    write_result("cluster", {"rows": rows, "questions": len(asked)}, args.out)


if __name__ == "__main__":
    main()
