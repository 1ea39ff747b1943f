"""Faults: a locked or unwritable database, the index removed while serving, clients hanging up
mid-stream, and shutdown with answers in flight. Each degrades or fails clearly; nothing stored
earlier is lost."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.config import IndexSettings, Settings
from qa.contract import Answer, Turn
from qa.pipeline import QAPipeline
from qa.storage.sql import database_path
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder
from tests.live import serve
from tests.test_observability import samples

QUESTION = {"message": "How can technical blueprints be sent?"}


def fake_loader(embedder: FakeEmbedder) -> Callable[[Settings], QAPipeline]:
    return lambda s: QAPipeline.load(s, embedder_factory=lambda _: embedder)


class SlowPipeline(QAPipeline):
    """Takes ``delay`` seconds per answer (on the event loop, so it can be cancelled)."""

    delay = 0.5
    loop: asyncio.AbstractEventLoop | None = None

    async def answer(
        self, question: str, history: list[Turn] | None = None, conversation_id: str | None = None
    ) -> Answer:
        SlowPipeline.loop = asyncio.get_running_loop()
        await asyncio.sleep(self.delay)
        return await super().answer(question, history, conversation_id)


def slow_loader(embedder: FakeEmbedder) -> Callable[[Settings], QAPipeline]:
    return lambda s: SlowPipeline.load(s, embedder_factory=lambda _: embedder)


def test_locked_database_degrades_and_keeps_what_was_stored(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_busy_timeout_s=0.1)
    with TestClient(create_app(settings, fake_loader(FakeEmbedder())), client=LOOPBACK) as client:
        before = client.post("/v1/chat", json=QUESTION).json()
        conversation = before["conversation_id"]
        blocker = sqlite3.connect(database_path(settings.database_url), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            during = client.post("/v1/chat", json={**QUESTION, "conversation_id": conversation})
            assert during.status_code == 200 and during.json()["answerable"] is True  # still answers
            feedback = client.post("/v1/feedback", json={"message_id": before["message_id"], "rating": "up"})
            assert feedback.status_code == 503
            assert feedback.json()["error"] == {
                "code": "storage_unavailable",
                "message": "Conversation storage is unavailable right now; try again shortly.",
            }
            # WAL: readers are not blocked by the writer holding the lock.
            assert client.get(f"/v1/conversations/{conversation}").status_code == 200
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        errors = samples(client)
        assert errors[("qa_store_errors_total", (("operation", "record"),))] == 1
        stored = client.get(f"/v1/conversations/{conversation}").json()["messages"]
        assert [m["message_id"] for m in stored] == [before["message_id"]]
        assert (
            client.post("/v1/feedback", json={"message_id": before["message_id"], "rating": "up"}).status_code
            == 201
        )


def test_unwritable_database_serves_answers_and_says_storage_is_down(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the database directory should be")
    settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path}/blocked/qa.db")
    with TestClient(create_app(settings, fake_loader(FakeEmbedder())), client=LOOPBACK) as client:
        answer = client.post("/v1/chat", json=QUESTION)
        assert answer.status_code == 200 and answer.json()["answerable"] is True
        conversation = client.get(f"/v1/conversations/{answer.json()['conversation_id']}")
        assert conversation.status_code == 503
        assert conversation.json()["error"]["code"] == "storage_unavailable"
        assert str(tmp_path) not in conversation.text  # no internal paths
        assert client.get("/readyz").status_code == 200  # answering still works


def test_index_removed_while_running(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    settings = make_settings(tmp_path, index=IndexSettings(auto_build=False))
    QAPipeline.load(make_settings(tmp_path), embedder_factory=lambda _: embedder)  # build it once
    with TestClient(create_app(settings, fake_loader(embedder)), client=LOOPBACK) as client:
        stored = client.post("/v1/chat", json=QUESTION).json()
        shutil.rmtree(settings.index_dir)
        # The loaded index lives in memory: answers go on.
        again = client.post("/v1/chat", json={**QUESTION, "conversation_id": stored["conversation_id"]})
        assert again.status_code == 200 and again.json()["answer"] == stored["answer"]
    # After a restart without the index: a clear 503 naming the fix; conversations still readable.
    with TestClient(create_app(settings, fake_loader(embedder)), client=LOOPBACK) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "qa index build" in ready.json()["detail"]
        chat = client.post("/v1/chat", json=QUESTION)
        assert chat.status_code == 503 and chat.json()["error"]["code"] == "index_missing"
        history = client.get(f"/v1/conversations/{stored['conversation_id']}")
        assert history.status_code == 200 and len(history.json()["messages"]) == 2


async def _tasks(loop: asyncio.AbstractEventLoop) -> int:
    return len(asyncio.all_tasks(loop))


def _count_tasks(loop: asyncio.AbstractEventLoop) -> int:
    return asyncio.run_coroutine_threadsafe(_tasks(loop), loop).result(timeout=10)


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_client_disconnect_mid_stream_leaks_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = create_app(settings, slow_loader(FakeEmbedder()))
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        kept = client.post("/v1/chat", json=QUESTION).json()  # stored before the fault
        # One whole stream first: sse-starlette starts a per-loop shutdown watcher task once.
        assert "event: done" in client.post("/v1/chat", json={**QUESTION, "stream": True}).text
        assert SlowPipeline.loop is not None
        baseline = _count_tasks(SlowPipeline.loop)
        for _ in range(3):
            body = {**QUESTION, "stream": True, "conversation_id": kept["conversation_id"]}
            with client.stream("POST", "/v1/chat", json=body) as response:
                assert response.status_code == 200  # headers are out; the answer is still coming
            # leaving the block closes the connection mid-stream
        slots = app.state.runtime.slots
        assert _wait_for(lambda: slots.active == 0)
        assert _wait_for(lambda: _count_tasks(SlowPipeline.loop) <= baseline)  # type: ignore[arg-type]
        stored = client.get(f"/v1/conversations/{kept['conversation_id']}").json()["messages"]
        assert stored[0]["message_id"] == kept["message_id"]
        # And the server still streams whole answers to clients that stay.
        full = client.post("/v1/chat", json={**QUESTION, "stream": True})
        assert full.status_code == 200 and "event: done" in full.text


def test_shutdown_lets_in_flight_answers_finish_and_store(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = create_app(settings, slow_loader(FakeEmbedder()))
    results: list[httpx.Response] = []
    with serve(app) as base:
        started = threading.Barrier(9)

        def ask(n: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=30) as client:
                started.wait()
                return client.post("/v1/chat", json=QUESTION)

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(ask, n) for n in range(8)]
            started.wait()
            time.sleep(0.2)  # requests are in flight (each takes 0.5 s)
            # leaving `serve` sets should_exit, exactly what uvicorn's SIGTERM handler does
    results = [f.result() for f in futures]
    assert [r.status_code for r in results] == [200] * 8
    db = sqlite3.connect(database_path(settings.database_url))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {row[0] for row in db.execute("SELECT id FROM messages")}
    finally:
        db.close()
    assert stored == {r.json()["message_id"] for r in results}


LOOPBACK = ("127.0.0.1", 50000)  # a local caller, who may read /metrics


@pytest.fixture(autouse=True)
def reset_slow() -> None:
    SlowPipeline.loop = None
