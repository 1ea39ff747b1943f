"""SQLite specifics of the store on a real file: locks, shutdown, files from older releases.

What both dialects share (history, ownership, feedback) is tested in test_sql_store.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qa.contract import Answer, Citation
from qa.errors import NotFoundError, StorageError
from qa.storage.factory import UnavailableStore, open_store
from qa.storage.migrate import head_revision
from qa.storage.sql import SQLStore, database_path


def make_answer(conversation: str, message: str, text: str = "It was Russia [1].") -> Answer:
    citation = Citation(id=1, doc_id="d", quote="Russia", start=3, end=9, score=0.9)
    return Answer(
        answer=text,
        answerable=True,
        citations=[citation],
        conversation_id=conversation,
        message_id=message,
        timings_ms={"retrieval": 1.5},
    )


OWNER = "key:test"


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_database_path_forms() -> None:
    assert database_path("sqlite:///data/qa.db") == "data/qa.db"
    assert database_path("sqlite:////abs/qa.db") == "/abs/qa.db"
    assert database_path("sqlite://") == ":memory:"


async def test_locked_database_is_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "qa.db"
    store = await SQLStore(url(path), busy_timeout_s=0.1).open()
    await store.record("first", make_answer("c", "m_1"), OWNER)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        with pytest.raises(StorageError) as raised:
            await store.record("second", make_answer("c", "m_2"), OWNER)
        assert "locked" in raised.value.message
        assert raised.value.status_code == 503 and str(path) not in raised.value.client_message
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await store.record("third", make_answer("c", "m_3"), OWNER)
    assert [m.question for m in (await store.conversation("c", OWNER)).messages] == ["first", "third"]
    await store.close()


async def test_unwritable_location_degrades_to_an_unavailable_store(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the database directory should be")
    store = await open_store(url(blocker / "qa.db"), history_limit=10)
    assert isinstance(store, UnavailableStore)
    with pytest.raises(StorageError):
        await store.record("q", make_answer("c", "m"), OWNER)
    with pytest.raises(StorageError):
        await store.history("c", OWNER)


async def test_close_finishes_queued_writes(tmp_path: Path) -> None:
    import asyncio

    store = await SQLStore(url(tmp_path / "qa.db")).open()
    writes = [
        asyncio.ensure_future(store.record(f"q{n}", make_answer("c", f"m{n}"), OWNER)) for n in range(50)
    ]
    await asyncio.sleep(0)  # all started
    await store.close()
    await asyncio.gather(*writes)
    check = sqlite3.connect(tmp_path / "qa.db")
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert check.execute("SELECT COUNT(*) FROM messages").fetchone() == (50,)
    check.close()


async def test_version_1_file_is_migrated_and_its_conversations_owned_by_nobody(tmp_path: Path) -> None:
    path = tmp_path / "qa.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE conversations (id TEXT PRIMARY KEY, created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL);
        CREATE TABLE messages (id TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations(id),
            seq INTEGER NOT NULL, created_at TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
            answerable INTEGER NOT NULL, citations TEXT NOT NULL, timings TEXT NOT NULL, mode TEXT NOT NULL,
            UNIQUE (conversation_id, seq));
        CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id TEXT NOT NULL REFERENCES messages(id),
            rating TEXT NOT NULL CHECK (rating IN ('up', 'down')), comment TEXT, source TEXT NOT NULL,
            created_at TEXT NOT NULL);
        INSERT INTO conversations VALUES ('a', 't', 't');
        INSERT INTO messages VALUES ('m_old', 'a', 1, 't', 'old q', 'old a', 1, '[]', '{}', 'extractive');
        INSERT INTO feedback (message_id, rating, comment, source, created_at)
            VALUES ('m_old', 'up', NULL, 'api', 't'), ('m_old', 'down', NULL, 'api', 't');
        PRAGMA user_version = 1;
        """
    )
    old.close()
    store = await SQLStore(url(path)).open()
    with pytest.raises(NotFoundError):  # the client-chosen id "a" is nobody's now
        await store.history("a", "anonymous")
    assert [m.question for m in (await store.conversation("a", None)).messages] == ["old q"]
    assert [r.rating for r in await store.feedback()] == ["up", "down"]  # both old ratings kept
    await store.close()
    check = sqlite3.connect(path)
    assert check.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
    check.close()
