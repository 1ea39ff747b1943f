"""``qa db upgrade`` / ``qa db status``, ``qa serve`` refusing an unmigrated PostgreSQL database,
and ``qa feedback export`` from PostgreSQL: the commands an operator runs, on a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.config import get_settings
from qa.storage.sql import SQLStore
from tests.databases import closed_port, fresh_postgres_database, postgres_unreachable
from tests.test_store import make_answer

runner = CliRunner()


@pytest.fixture
def postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, unmigrated database, configured as QA_DATABASE_URL."""
    if reason := postgres_unreachable():
        pytest.skip(reason)
    with fresh_postgres_database() as url:
        monkeypatch.setenv("QA_DATABASE_URL", url)
        get_settings.cache_clear()
        yield url
    get_settings.cache_clear()


def lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_serve_refuses_an_unmigrated_database_until_upgraded(postgres: str) -> None:
    refused = runner.invoke(app, ["serve", "--port", str(closed_port())])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    [line] = lines(refused.output)
    assert "not migrated" in line and "qa db upgrade" in line

    status = runner.invoke(app, ["db", "status"])
    assert status.exit_code == 1 and "needs `qa db upgrade`" in status.output

    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and "none -> 0002" in upgraded.output
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and "already at schema revision 0002" in again.output
    status = runner.invoke(app, ["db", "status"])
    assert status.exit_code == 0 and "up to date" in status.output


def test_feedback_export_reads_postgresql(postgres: str, tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    async def seed() -> None:
        store = await SQLStore(postgres).open()
        answer = make_answer("c_1", "m_1")
        await store.record("Where did Kim go?", answer, "key:alice")
        await store.add_feedback("m_1", "up", "helpful", "api", "key:alice")
        await store.close()

    asyncio.run(seed())
    out = tmp_path / "feedback.jsonl"
    exported = runner.invoke(app, ["feedback", "export", "--format", "jsonl", "-o", str(out)])
    assert exported.exit_code == 0 and "Exported 1 feedback records." in exported.output
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert (record["message_id"], record["rating"], record["question"]) == ("m_1", "up", "Where did Kim go?")


def test_unreachable_database_is_one_line_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_DATABASE_URL", f"postgresql://qa:hunter2@127.0.0.1:{closed_port()}/qa")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = lines(result.output)
    assert "hunter2" not in result.output and "postgresql://qa:***@127.0.0.1" in line
