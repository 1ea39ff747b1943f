"""A tiny run of ``benchmarks/load_chat.py`` against uvicorn on loopback (the real run: 5,000)."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from qa.api.app import create_app
from qa.pipeline import QAPipeline
from qa.storage.sql import database_path
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder
from tests.live import serve

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "load_chat.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_chat", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_small_load_run_is_clean(tmp_path: Path) -> None:
    load_chat = load_script()
    embedder = FakeEmbedder()
    settings = make_settings(tmp_path, api_keys=["sk_load_test"])
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: embedder))
    with serve(app) as url:
        report = asyncio.run(load_chat.run_load(url, 60, 6, "sk_load_test"))
    assert report.ok(), report.invalid[:3]
    assert sum(report.statuses.values()) == 60 and report.server_errors == 0
    assert report.refusals > 0  # the unanswerable dev questions were refused, not guessed
    db = sqlite3.connect(database_path(settings.database_url))
    try:
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone() == (60,)  # every answer stored
    finally:
        db.close()


def test_contract_checker_catches_broken_answers() -> None:
    load_chat = load_script()
    documents = {"d": "Kim went to Russia."}
    good = {
        "answer": "Kim went to Russia. [1]",
        "answerable": True,
        "citations": [
            {"id": 1, "doc_id": "d", "quote": "Kim went to Russia.", "start": 0, "end": 19, "score": 1}
        ],
        "conversation_id": "c",
        "message_id": "m",
    }
    assert load_chat.check_answer(good, documents) is None
    first_citation: dict[str, Any] = good["citations"][0]  # type: ignore[index]
    shifted = {**good, "citations": [{**first_citation, "start": 1, "end": 20}]}
    assert "does not match" in load_chat.check_answer(shifted, documents)
    assert "markers" in load_chat.check_answer({**good, "answer": "Kim went to Russia. [2]"}, documents)
    assert load_chat.check_answer({**good, "answerable": False}, documents) == "refusal with citations"


def test_small_hostile_run_fails_no_innocent_request(tmp_path: Path) -> None:
    """5 % hostile requests (surrogates, oversized, bad key, stalled streams) among innocent ones."""
    load_chat = load_script()
    embedder = FakeEmbedder()
    settings = make_settings(tmp_path, api_keys=["sk_load_test"])
    settings = settings.model_copy(
        update={"security": settings.security.model_copy(update={"rate_limit_per_ip": "100000/minute"})}
    )
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: embedder))
    with serve(app) as url:
        report = asyncio.run(load_chat.run_load(url, 80, 8, "sk_load_test", hostile=0.05))
    db = sqlite3.connect(database_path(settings.database_url))
    try:
        report.stored_messages = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    finally:
        db.close()
    assert set(report.hostile) == set(load_chat.HOSTILE_KINDS) and sum(report.hostile.values()) == 4
    assert report.server_errors == 0 and report.invalid == [] and report.hostile_unexpected == []
    assert report.stored_messages == report.answers == report.innocent + report.hostile["stalled_stream"]
    assert report.ok()
