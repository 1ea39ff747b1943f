"""The ``qa`` command line: real model, one readable line on failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.config import get_settings
from tests.conftest import DEV_QUESTIONS, REPO, make_settings

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    settings = make_settings(tmp_path)
    monkeypatch.setenv("QA_CORPUS_DIR", str(settings.corpus_dir))
    monkeypatch.setenv("QA_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setenv("QA_DATABASE_URL", settings.database_url)  # `qa ask` stores its turn
    # The session's ONNX export: a fresh one per test would cost time and add its notice lines.
    monkeypatch.setenv("QA_EMBEDDING__CACHE_DIR", str(REPO / "index" / "models"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.integration
def test_build_then_ask_json_and_pretty(env: Path) -> None:
    built = runner.invoke(app, ["index", "build"])
    assert built.exit_code == 0, built.output
    assert "sentences" in built.output
    result = runner.invoke(app, ["ask", "How can technical blueprints be sent?", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["answerable"] and "online" in answer["answer"]
    pretty = runner.invoke(app, ["ask", "How can technical blueprints be sent?"])
    assert pretty.exit_code == 0 and "[1]" in pretty.stdout
    status = runner.invoke(app, ["index", "status"])
    assert "up to date" in status.stdout


@pytest.mark.integration
def test_eval_json_reports_metrics(env: Path) -> None:
    result = runner.invoke(app, ["eval", str(DEV_QUESTIONS), "--json", "--calibrate"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["metrics"]["quote_validity"] == 1.0
    assert len(payload["items"]) == payload["metrics"]["questions"]
    assert 0.0 < payload["suggested_min_answer_score"] < 1.5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["ask", "   "], "message is empty"),
        (["eval", "no-such-file.jsonl"], "Cannot read"),
    ],
)
def test_errors_are_one_readable_line(env: Path, args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.output


def test_missing_corpus_is_one_line(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CORPUS_DIR", str(env / "nowhere"))
    get_settings.cache_clear()
    result = runner.invoke(app, ["index", "build"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "QA_CORPUS_DIR" in result.output


def test_corrupt_index_is_one_line_naming_the_fix(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = env / "index" / "build-x"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{not json")
    (env / "index" / "current").symlink_to("build-x")
    result = runner.invoke(app, ["index", "status"])
    assert result.exit_code == 1
    assert "manifest.json" in result.output and "qa index build" in result.output
    assert result.output.count("\n") == 1


def test_missing_model_is_one_line(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_EMBEDDING__MODEL_PATH", str(env / "no-model"))
    get_settings.cache_clear()
    result = runner.invoke(app, ["ask", "Who is Chun In-bum?"])
    assert result.exit_code == 1
    assert "No embedding model" in result.output and result.output.count("\n") == 1


# ---- issue 14 ------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_index_add_of_nothing_usable_fails_and_says_file_not_corpus_file(env: Path) -> None:
    bad = env / "outside" / "latin1.txt"
    bad.parent.mkdir()
    bad.write_bytes("Caf\xe9 notes".encode("latin-1"))
    result = runner.invoke(app, ["index", "add", str(env / "missing.md"), str(bad)])
    assert result.exit_code == 1, result.output
    assert "missing.md: no such file or directory" in result.output
    assert f"File {bad} is not UTF-8 text" in result.output and "Corpus file" not in result.output
    assert result.output.strip().splitlines()[-1] == (
        "error: nothing was added: none of the given files could be used."
    )
    good = env / "outside" / "note.md"
    good.write_text("# Note\n\nThe ferry left at dawn.\n", encoding="utf-8")
    partly = runner.invoke(app, ["index", "add", str(good), str(env / "missing.md")])
    assert partly.exit_code == 0 and "1 added" in partly.output and "1 skipped" in partly.output


@pytest.mark.integration
def test_index_remove_hints_that_ids_have_no_extension(env: Path) -> None:
    result = runner.invoke(app, ["index", "remove", "kim-russia-visit.txt"])
    assert result.exit_code == 1
    assert "file name without its extension: try 'kim-russia-visit'" in result.output
    assert result.output.count("\n") == 1


@pytest.mark.integration
def test_ask_json_ids_are_readable_and_ratable_over_http(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from qa.api.app import create_app
    from qa.pipeline import QAPipeline
    from tests.fakes import FakeEmbedder

    database = f"sqlite:///{env / 'shared.db'}"
    monkeypatch.setenv("QA_DATABASE_URL", database)
    get_settings.cache_clear()
    result = runner.invoke(app, ["ask", "Who is Chun In-bum?", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    settings = make_settings(env, database_url=database)
    embedder = FakeEmbedder()
    served = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: embedder))
    with TestClient(served) as client:
        stored = client.get(f"/v1/conversations/{answer['conversation_id']}")
        assert stored.status_code == 200
        [message] = stored.json()["messages"]
        assert message["message_id"] == answer["message_id"] and message["answer"] == answer["answer"]
        rated = client.post("/v1/feedback", json={"message_id": answer["message_id"], "rating": "up"})
        assert rated.status_code == 201
