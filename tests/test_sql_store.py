"""The conversation store on real databases: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.errors import NotFoundError, StorageError
from qa.storage.factory import database_state, open_store, upgrade_database
from qa.storage.sql import SchemaOutdatedError, SQLStore
from tests.databases import end_sessions, fresh_postgres_database, postgres_unreachable
from tests.test_store import make_answer

ALICE, BOB = "key:alice", "key:bob"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind; PostgreSQL is migrated as an operator would (``qa db upgrade``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'qa.db'}"
        return
    if reason := postgres_unreachable():
        pytest.skip(reason)
    with fresh_postgres_database() as url:
        asyncio.run(upgrade_database(url))
        yield url


async def test_record_history_and_survive_restart(database_url: str) -> None:
    store = await SQLStore(database_url, history_limit=20).open()
    await store.record("Where did Kim go?", make_answer("c_1", "m_1"), ALICE)
    await store.record("And then?", make_answer("c_1", "m_2", "Vladivostok [1]."), ALICE)
    await store.record("Other", make_answer("c_2", "m_3"), BOB)
    await store.close()

    reopened = await SQLStore(database_url, history_limit=20).open()
    history = await reopened.history("c_1", ALICE)
    assert [(t.role, t.content) for t in history] == [
        ("user", "Where did Kim go?"),
        ("assistant", "It was Russia [1]."),
        ("user", "And then?"),
        ("assistant", "Vladivostok [1]."),
    ]
    conversation = await reopened.conversation("c_1", ALICE)
    assert [m.message_id for m in conversation.messages] == ["m_1", "m_2"]
    assert conversation.messages[0].citations[0].quote == "Russia"
    assert conversation.messages[0].timings_ms == {"retrieval": 1.5}
    with pytest.raises(NotFoundError):
        await reopened.history("c_unknown", ALICE)
    with pytest.raises(NotFoundError):
        await reopened.conversation("c_unknown", None)
    await reopened.close()


async def test_history_keeps_only_the_latest_turns(database_url: str) -> None:
    store = await SQLStore(database_url, history_limit=3).open()
    for n in range(4):
        await store.record(f"q{n}", make_answer("c", f"m{n}", f"a{n}"), ALICE)
    assert [t.content for t in await store.history("c", ALICE)] == ["a2", "q3", "a3"]
    await store.close()


async def test_other_owners_see_nothing_and_write_nothing(database_url: str) -> None:
    store = await SQLStore(database_url).open()
    await store.record("mine", make_answer("c", "m_1"), ALICE)
    with pytest.raises(NotFoundError):
        await store.history("c", BOB)
    with pytest.raises(NotFoundError):
        await store.conversation("c", BOB)
    with pytest.raises(NotFoundError):
        await store.record("hijack", make_answer("c", "m_2"), BOB)
    with pytest.raises(NotFoundError):
        await store.add_feedback("m_1", "down", None, "api", BOB)
    admin_view = await store.conversation("c", None)
    assert [m.question for m in admin_view.messages] == ["mine"]
    assert await store.feedback() == []
    await store.close()


async def test_last_rating_wins_and_is_exported(database_url: str) -> None:
    store = await SQLStore(database_url).open()
    await store.record("q", make_answer("c", "m_1"), ALICE)
    with pytest.raises(NotFoundError):
        await store.add_feedback("m_unknown", "up", None, "api", ALICE)
    assert await store.add_feedback("m_1", "up", None, "api", ALICE) is False
    assert await store.add_feedback("m_1", "down", "wrong city", "widget", ALICE) is True
    [record] = await store.feedback()
    assert (record.message_id, record.conversation_id, record.rating, record.comment, record.source) == (
        "m_1",
        "c",
        "down",
        "wrong city",
        "widget",
    )
    assert (record.question, record.answer) == ("q", "It was Russia [1].")
    await store.close()


async def test_concurrent_writers_on_one_conversation_lose_nothing(database_url: str) -> None:
    """Two stores stand for two replicas appending to one conversation at the same moment."""
    first = await SQLStore(database_url).open()
    second = await SQLStore(database_url).open()
    writes = [
        (first if n % 2 else second).record(f"q{n}", make_answer("c", f"m{n}"), ALICE) for n in range(30)
    ]
    await asyncio.gather(*writes)
    messages = (await first.conversation("c", ALICE)).messages
    assert sorted(m.message_id for m in messages) == sorted(f"m{n}" for n in range(30))
    await first.close()
    await second.close()


async def test_close_finishes_writes_and_a_cancelled_caller_loses_nothing(
    database_url: str,
) -> None:
    store = await SQLStore(database_url).open()
    writes = [
        asyncio.ensure_future(store.record(f"q{n}", make_answer("c", f"m{n}"), ALICE)) for n in range(20)
    ]
    await asyncio.sleep(0)  # every write has started
    writes[0].cancel()  # a client that hung up
    await store.close()
    await asyncio.gather(*writes, return_exceptions=True)
    reopened = await SQLStore(database_url).open()
    assert len((await reopened.conversation("c", ALICE)).messages) == 20
    await reopened.close()


async def test_connections_the_server_closed_cost_no_request_an_error() -> None:
    """After a PostgreSQL restart (here: the server ends every session) the next requests get
    fresh connections instead of errors."""
    if reason := postgres_unreachable():
        pytest.skip(reason)
    with fresh_postgres_database() as url:
        await upgrade_database(url)
        store = await SQLStore(url).open()
        await asyncio.gather(*(store.record(f"q{n}", make_answer("c", f"m{n}"), ALICE) for n in range(4)))
        end_sessions(url)
        await asyncio.sleep(0.05)  # the event loop reads the servers' goodbyes
        await store.record("after", make_answer("c", "m_after"), ALICE)
        assert len(await store.history("c", ALICE)) == 10
        await store.close()


async def test_unmigrated_postgresql_is_refused_with_the_fix_named() -> None:
    if reason := postgres_unreachable():
        pytest.skip(reason)
    with fresh_postgres_database() as url:
        with pytest.raises(SchemaOutdatedError) as raised:
            await open_store(url, history_limit=10)
        assert "qa db upgrade" in raised.value.message and "\n" not in raised.value.message
        assert not (await database_state(url)).up_to_date
        assert await upgrade_database(url) == (None, "0002")
        assert await upgrade_database(url) == ("0002", "0002")  # running it again changes nothing
        store = await open_store(url, history_limit=10)
        assert isinstance(store, SQLStore)
        await store.close()


async def test_unreachable_postgresql_degrades_and_hides_the_password() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    store = await open_store(f"postgresql://qa:s3cret@127.0.0.1:{port}/qa", history_limit=10)
    assert isinstance(store, SQLStore)  # it will work once the server is back
    with pytest.raises(StorageError) as raised:
        await store.record("q", make_answer("c", "m"), ALICE)
    assert "s3cret" not in raised.value.message and raised.value.status_code == 503
    await store.close()
