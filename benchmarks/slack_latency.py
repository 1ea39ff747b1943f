"""Slack surface latency with the real model: how fast events are acknowledged and answered.

Slack wants an HTTP 200 within 3 seconds or it redelivers the event. This runs our app under
uvicorn with the real embedding model and index, a loopback stand-in for the Slack Web API
(``tests/slack_standin.py``), and sends signed ``app_mention`` events over HTTP:

* sequential: one question at a time, each waited for;
* burst: all questions at once from parallel senders (acks must stay fast while answers queue).

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/slack_latency.py``. Prints milliseconds.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.api.app import create_app  # noqa: E402
from qa.config import Settings, SlackSettings  # noqa: E402
from qa.pipeline import QAPipeline  # noqa: E402
from tests.live import serve  # noqa: E402
from tests.slack_standin import BOT_USER, SlackStandIn, event_body, mention, post_to_app  # noqa: E402

SECRET = "benchmark-signing-secret"
TOKEN = "xoxb-benchmark"


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    p50 = statistics.median(values)
    return f"{name:<28} n={len(values):<3} p50={p50:7.1f}  p95={p95:7.1f}  max={max(values):7.1f}"


def main() -> None:
    questions = [
        json.loads(line)["q"] for line in (REPO / "eval" / "dev_questions.jsonl").read_text().splitlines()
    ]
    slack = SlackStandIn(TOKEN)
    slack.start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            corpus_dir=REPO / "corpus",
            index_dir=Path(tmp) / "index",
            slack=SlackSettings(bot_token=TOKEN, signing_secret=SECRET, api_base_url=slack.api_url),  # type: ignore[arg-type]
        )
        pipeline = QAPipeline.load(settings)
        app = create_app(settings, lambda _: pipeline)
        with serve(app) as url:

            def ask(question: str, event_id: str) -> tuple[float, float, str]:
                message = slack.add_message("C0BENCH", "U0ASKER", f"<@{BOT_USER}> {question}")
                started = time.perf_counter()
                response = post_to_app(url, SECRET, event_body(mention("C0BENCH", message), event_id))
                assert response.status_code == 200
                return started, time.perf_counter() - started, message["ts"]

            def answered(ts: str) -> bool:
                return any(c.args.get("thread_ts") == ts for c in slack.calls_to("chat.postMessage"))

            ask("warm-up question about Kim", "EvWARM")  # first request runs auth.test
            slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) == 1)

            acks, answers = [], []
            for n, question in enumerate(questions):
                started, ack, ts = ask(question, f"EvSEQ{n}")
                slack.wait_for(lambda ts=ts: answered(ts))  # type: ignore[misc]
                acks.append(ack * 1000)
                answers.append((time.perf_counter() - started) * 1000)

            with ThreadPoolExecutor(max_workers=len(questions)) as pool:
                sent = list(pool.map(lambda pair: ask(pair[1], f"EvBURST{pair[0]}"), enumerate(questions)))
            burst_acks = [ack * 1000 for _, ack, _ in sent]
            finished: dict[str, float] = {}
            while len(finished) < len(sent):
                for started, _, ts in sent:
                    if ts not in finished and answered(ts):
                        finished[ts] = (time.perf_counter() - started) * 1000
                time.sleep(0.005)
    slack.stop()
    print(f"Slack events over HTTP, real model, {len(questions)} questions (ms)")
    print(summary("sequential: ack", acks))
    print(summary("sequential: answer posted", answers))
    print(summary("burst: ack", burst_acks))
    print(summary("burst: answer posted", list(finished.values())))


if __name__ == "__main__":
    main()
