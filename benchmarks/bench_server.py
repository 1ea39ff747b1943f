"""The HTTP server: cold start to ready, latency at concurrency 1, throughput at 16, RSS.

Starts ``qa serve`` (uvicorn, one process) on a free loopback port over an index built
beforehand, and measures from process start until ``GET /readyz`` answers 200 (imports, model
and index load). Then ``POST /v1/chat`` with the dev questions: one client in sequence (latency
p50/p95, stdlib ``http.client``), then ``--concurrency`` clients at once (httpx, asyncio:
throughput and errors). The load generator runs on the same machine and takes CPU from the
server, so throughput here is a lower bound.
Peak RSS is the server's high-water mark (VmHWM) at the end. Each phase also records the server
process's CPU time per answer (user + system, all threads): on a machine shared with other work
the latencies move with the load, the CPU an answer costs much less.

    python benchmarks/bench_server.py --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, cpu_seconds, peak_rss_mb, questions, rss_mb, summary_ms, write_result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "qa.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    # The server logs a line per request: into a file, since an unread pipe fills up and blocks it.
    with log.open("wb") as sink:
        return subprocess.Popen(command, env=env, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)


def wait_ready(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=2.0) as client:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                if client.get(f"{base}/readyz").status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    raise RuntimeError("server not ready in time")


def sequential(port: int, asked: list[str], rounds: int, server_pid: int) -> tuple[list[float], int, float]:
    """One client, one keep-alive connection, one request at a time: latencies, errors, and the
    server's CPU seconds for them (after the warm-up pass).

    The standard library's ``http.client`` is used here because it adds the least client-side
    time (httpx adds ~0.4 ms per request), so the figure is the server's.
    """
    times: list[float] = []
    errors = 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}

    def ask(question: str) -> int:
        connection.request("POST", "/v1/chat", json.dumps({"message": question}), headers)
        response = connection.getresponse()
        response.read()
        return response.status

    try:
        for question in asked:  # warm-up
            ask(question)
        before = cpu_seconds(server_pid)
        for _ in range(rounds):
            for question in asked:
                started = time.perf_counter()
                status = ask(question)
                times.append(time.perf_counter() - started)
                errors += status != 200
        cpu_s = cpu_seconds(server_pid) - before
    finally:
        connection.close()
    return times, errors, cpu_s


async def concurrent(base: str, asked: list[str], clients: int, total: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    counter = iter(range(total))
    times: list[float] = []
    statuses: dict[str, int] = {}

    async def worker(client: httpx.AsyncClient) -> None:
        for number in counter:
            started = time.perf_counter()
            try:
                response = await client.post("/v1/chat", json={"message": asked[number % len(asked)]})
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            times.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        wall = time.perf_counter() - started
    errors = sum(n for status, n in statuses.items() if status != "200")
    return {
        "clients": clients,
        "requests": total,
        "answers_per_s": round(total / wall, 1),
        "errors": errors,
        "statuses": statuses,
        "latency": summary_ms(times),
    }


def build_index(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "qa.cli", "index", "build"], env=env, cwd=REPO, check=True, capture_output=True
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10, help="Sequential passes over the dev questions.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000, help="Requests in the concurrent phase.")
    parser.add_argument("--index-dir", type=Path, default=None, help="A built index (else one is built).")
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    parser.add_argument("--model-cache", type=Path, default=None, help="QA_EMBEDDING__CACHE_DIR to use.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    asked = questions()
    with tempfile.TemporaryDirectory(prefix="qa-bench-server-") as tmp:
        env = dict(os.environ)
        index_dir = args.index_dir or Path(tmp) / "index"
        env.update(
            {
                "QA_CORPUS_DIR": str(args.corpus),
                "QA_INDEX_DIR": str(index_dir),
                "QA_DATABASE_URL": f"sqlite:///{tmp}/qa.db",
                "HF_HUB_OFFLINE": "1",
            }
        )
        if args.model_cache:
            env["QA_EMBEDDING__CACHE_DIR"] = str(args.model_cache)
        # A load test from one loopback client must not be throttled by per-IP rate limits
        # (issue 4's middleware); on a branch without them these variables are ignored.
        env.setdefault("QA_SECURITY__RATE_LIMIT_PER_IP", "1000000/minute")
        if args.index_dir is None:
            build_index(env)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "server.log"
        process = start_server(env, port, log)
        try:
            cold_start = wait_ready(base, process, log)
            rss_ready = rss_mb(process.pid)
            times, errors, cpu_s = sequential(port, asked, args.rounds, process.pid)
            before = cpu_seconds(process.pid)
            loaded = asyncio.run(concurrent(base, asked, args.concurrency, args.requests))
            loaded["server_cpu_ms_per_answer"] = round(
                1000 * (cpu_seconds(process.pid) - before) / args.requests, 2
            )
            result = {
                "cold_start_to_ready_s": round(cold_start, 2),
                "http_concurrency_1": {
                    **summary_ms(times),
                    "errors": errors,
                    "server_cpu_ms_per_answer": round(1000 * cpu_s / len(times), 2),
                },
                f"http_concurrency_{args.concurrency}": loaded,
                "rss_when_ready_mb": rss_ready,
                "rss_end_mb": rss_mb(process.pid),
                "peak_rss_mb": peak_rss_mb(process.pid),
            }
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    write_result("server", result, args.out)


if __name__ == "__main__":
    main()
