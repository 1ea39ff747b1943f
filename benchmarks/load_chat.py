"""Bounded async load test for ``POST /v1/chat`` against uvicorn on 127.0.0.1.

    .venv/bin/python benchmarks/load_chat.py --requests 5000 --concurrency 32

Starts ``qa serve`` on a free loopback port (temporary database and index,
an API key, rate limits lifted) unless ``--url`` points at a running server. The workload cycles
through the dev questions; every third request continues an earlier conversation by id (so the
stored history is read and written) and every tenth streams over SSE. Every answer is checked
against the public contract: the model validates, each citation's quote equals the document text
at ``[start, end)``, markers and citations match, refusals carry no citations. Prints latency
percentiles and exits 1 on any 5xx, any non-200 or any invalid answer.

    .venv/bin/python benchmarks/load_chat.py --requests 2000 --concurrency 32 --hostile 0.05

``--hostile SHARE`` mixes in hostile requests (issue 12), in turn: a lone surrogate (422 expected),
an oversized body (413), a wrong API key (401) and a stalled stream (the reader pauses 2 s after
the headers, then reads on: its answer must arrive whole). It then also requires 0 5xx, 0 failed
innocent requests, every hostile request answered as expected, and (when it started the server)
as many stored messages as answers sent; the figures go to ``benchmarks/results/load_hostile.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from qa.contract import Answer

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))  # benchmarks.common, when run as a script
MARKER = re.compile(r"\[(\d+)\]")


HOSTILE_KINDS = ("surrogate", "oversized", "bad_auth", "stalled_stream")
EXPECTED_STATUS = {"surrogate": 422, "oversized": 413, "bad_auth": 401, "stalled_stream": 200}


@dataclass
class Report:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    invalid: list[str] = field(default_factory=list)
    refusals: int = 0
    elapsed_s: float = 0.0
    answers: int = 0  # complete, valid answers received (innocent and stalled streams)
    innocent: int = 0
    hostile: Counter[str] = field(default_factory=Counter)
    hostile_unexpected: list[str] = field(default_factory=list)
    stored_messages: int | None = None  # read from the database when this script started the server

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def ok(self) -> bool:
        if self.hostile:
            stored_ok = self.stored_messages is None or self.stored_messages == self.answers
            return not self.invalid and not self.hostile_unexpected and self.server_errors == 0 and stored_ok
        return not self.invalid and set(self.statuses) <= {200}

    def figures(self) -> dict[str, object]:
        return {
            "requests": len(self.latencies_ms),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_errors_5xx": self.server_errors,
            "innocent_requests": self.innocent,
            "innocent_failures": len(self.invalid),
            "hostile_requests": dict(self.hostile),
            "hostile_unexpected": len(self.hostile_unexpected),
            "answers_sent": self.answers,
            "stored_messages": self.stored_messages,
            "refusals": self.refusals,
            "latency_ms": {
                "p50": round(self.percentile(0.50), 1),
                "p95": round(self.percentile(0.95), 1),
                "p99": round(self.percentile(0.99), 1),
            },
            "throughput_rps": round(len(self.latencies_ms) / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "elapsed_s": round(self.elapsed_s, 1),
        }

    def summary(self) -> str:
        n = len(self.latencies_ms)
        return "\n".join(
            [
                f"requests {n}, statuses {dict(sorted(self.statuses.items()))}, 5xx {self.server_errors}, "
                f"invalid answers {len(self.invalid)}, refusals {self.refusals}",
                f"latency ms: p50 {self.percentile(0.50):.1f}  p95 {self.percentile(0.95):.1f}  "
                f"p99 {self.percentile(0.99):.1f}  mean {statistics.fmean(self.latencies_ms or [0]):.1f}  "
                f"max {max(self.latencies_ms or [0]):.1f}",
                f"throughput {n / self.elapsed_s:.1f} req/s over {self.elapsed_s:.1f} s",
                *([self._hostile_line()] if self.hostile else []),
            ]
        )

    def _hostile_line(self) -> str:
        stored = "n/a" if self.stored_messages is None else self.stored_messages
        return (
            f"innocent {self.innocent} (failed {len(self.invalid)}), hostile {dict(self.hostile)} "
            f"(unexpected {len(self.hostile_unexpected)}), answers sent {self.answers}, "
            f"stored messages {stored}"
        )


def check_answer(payload: dict[str, object], documents: dict[str, str]) -> str | None:
    """Why the answer breaks the contract, or None."""
    try:
        answer = Answer.model_validate(payload)
    except ValueError as exc:
        return f"schema: {exc}"
    if not answer.answerable:
        return "refusal with citations" if answer.citations else None
    if not answer.citations:
        return "answer without citations"
    for citation in answer.citations:
        text = documents.get(citation.doc_id)
        if text is None or text[citation.start : citation.end] != citation.quote:
            return f"citation {citation.id} does not match the document"
    if {int(m) for m in MARKER.findall(answer.answer)} != {c.id for c in answer.citations}:
        return "markers and citations differ"
    return None


def sse_done(body: str) -> dict[str, object] | None:
    for block in body.replace("\r\n", "\n").split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines.get("event") == "done":
            data: dict[str, object] = json.loads(lines["data"])
            return data
    return None


def load_questions() -> list[str]:
    lines = (REPO / "eval" / "dev_questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["q"] for line in lines if line.strip()]


async def run_load(
    url: str, requests: int, concurrency: int, api_key: str | None = None, hostile: float = 0.0
) -> Report:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    questions = load_questions()
    report = Report()
    # Every k-th request is hostile (k = 1/share), so the mix is the same on every run.
    every = round(1 / hostile) if hostile > 0 else 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
        listing = (await client.get("/v1/documents")).json()["documents"]
        documents = {
            d["doc_id"]: (await client.get(f"/v1/documents/{d['doc_id']}")).json()["text"] for d in listing
        }
        conversations: list[str] = []
        next_index = 0

        def accept(n: int, payload: dict[str, object] | None) -> bool:
            problem = "stream without done event" if payload is None else check_answer(payload, documents)
            if problem:
                report.invalid.append(f"#{n}: {problem}")
                return False
            assert payload is not None
            report.answers += 1
            report.refusals += payload["answerable"] is False
            if len(conversations) < 64:
                conversations.append(str(payload["conversation_id"]))
            return True

        async def attack(n: int, kind: str) -> None:
            report.hostile[kind] += 1
            started = time.perf_counter()
            question = questions[n % len(questions)]
            try:
                if kind == "surrogate":
                    raw = json.dumps({"message": f"{question} \ud800"}).encode()  # JSON-escaped
                    response = await client.post(
                        "/v1/chat", content=raw, headers={"Content-Type": "application/json"}
                    )
                elif kind == "oversized":
                    response = await client.post("/v1/chat", json={"message": "x" * 200_000})
                elif kind == "bad_auth":
                    response = await client.post(
                        "/v1/chat", json={"message": question}, headers={"Authorization": "Bearer sk_wrong"}
                    )
                else:  # a reader that stalls after the headers, then reads on
                    body = {"message": question, "stream": True}
                    async with client.stream("POST", "/v1/chat", json=body) as response:
                        await asyncio.sleep(2.0)
                        text = (await response.aread()).decode()
                    if response.status_code == 200 and not accept(n, sse_done(text)):
                        report.hostile_unexpected.append(f"#{n} {kind}: answer incomplete")
            except httpx.TransportError as exc:
                report.statuses[0] += 1
                report.hostile_unexpected.append(f"#{n} {kind}: transport error {exc!r}")
                return
            report.latencies_ms.append((time.perf_counter() - started) * 1000)
            report.statuses[response.status_code] += 1
            if response.status_code != EXPECTED_STATUS[kind]:
                report.hostile_unexpected.append(f"#{n} {kind}: HTTP {response.status_code}")

        async def one(n: int) -> None:
            if every and n % every == every // 2:
                await attack(n, HOSTILE_KINDS[(n // every) % len(HOSTILE_KINDS)])
                return
            report.innocent += 1
            body: dict[str, object] = {"message": questions[n % len(questions)]}
            if n % 3 == 2 and conversations:
                body["conversation_id"] = conversations[n % len(conversations)]
            stream = n % 10 == 9
            body["stream"] = stream
            started = time.perf_counter()
            try:
                response = await client.post("/v1/chat", json=body)
            except httpx.TransportError as exc:
                report.invalid.append(f"#{n}: transport error {exc!r}")
                report.statuses[0] += 1
                return
            report.latencies_ms.append((time.perf_counter() - started) * 1000)
            report.statuses[response.status_code] += 1
            if response.status_code != 200:
                report.invalid.append(f"#{n}: HTTP {response.status_code} {response.text[:200]}")
                return
            accept(n, sse_done(response.text) if stream else response.json())

        async def worker() -> None:
            nonlocal next_index
            while next_index < requests:
                n = next_index
                next_index += 1
                await one(n)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        report.elapsed_s = time.perf_counter() - started
    return report


def stored_messages(database: Path) -> int:
    db = sqlite3.connect(database)
    try:
        count: int = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        return count
    finally:
        db.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(workdir: Path, api_key: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "QA_CORPUS_DIR": str(REPO / "corpus"),
        "QA_INDEX_DIR": str(workdir / "index"),
        "QA_DATABASE_URL": f"sqlite:///{workdir / 'qa.db'}",
        "QA_API_KEYS": api_key,
        "QA_SECURITY__RATE_LIMIT_PER_KEY": "1000000/minute",
        "QA_SECURITY__RATE_LIMIT_PER_IP": "1000000/minute",  # wrong-key attempts count per IP
        "QA_SECURITY__MAX_STREAMS_PER_CLIENT": "64",
        "QA_OBSERVABILITY__LOG_LEVEL": "WARNING",
        "QA_SECURITY__KEEP_ALIVE_TIMEOUT_S": "30",  # the load client's pool keeps connections
    }
    # `qa serve` itself, so the run covers its uvicorn options (h11 limits, timeouts, proxy trust).
    command = [sys.executable, "-m", "qa.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit("server did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--url", help="A running server (default: start one on loopback).")
    parser.add_argument("--api-key", default=os.environ.get("QA_LOAD_API_KEY"))
    parser.add_argument("--hostile", type=float, default=0.0, help="Share of hostile requests, e.g. 0.05.")
    parser.add_argument("--out", type=Path, help="Results file (default with --hostile: load_hostile.json).")
    args = parser.parse_args()

    if args.url:
        report = asyncio.run(run_load(args.url, args.requests, args.concurrency, args.api_key, args.hostile))
    else:
        api_key = secrets.token_urlsafe(24)
        with tempfile.TemporaryDirectory(prefix="qa-load-") as tmp:
            process, url = start_server(Path(tmp), api_key)
            try:
                report = asyncio.run(run_load(url, args.requests, args.concurrency, api_key, args.hostile))
            finally:
                process.terminate()  # SIGTERM: uvicorn's graceful shutdown
                process.wait(timeout=60)
            # After shutdown every queued write has landed: the count is final.
            report.stored_messages = stored_messages(Path(tmp) / "qa.db")
            server_log = (Path(tmp) / "server.log").read_text(errors="replace")
            if server_log.strip():
                print("server log (tail):\n" + server_log[-3000:])
    print(report.summary())
    for problem in (report.invalid + report.hostile_unexpected)[:10]:
        print("  ", problem)
    if args.hostile or args.out:
        from benchmarks.common import write_result

        config = {"requests": args.requests, "concurrency": args.concurrency, "hostile_share": args.hostile}
        out = args.out or (RESULTS / "load_hostile.json" if args.hostile else None)
        write_result("load_hostile" if args.hostile else "load", {"config": config, **report.figures()}, out)
    sys.exit(0 if report.ok() else 1)


if __name__ == "__main__":
    main()
