"""What a new user trips over (issue 14): settings errors, statuses, docs pages, the page key, titles.

Fast tests on the fake embedder; the CLI ones that need the real model are marked integration.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from qa.api.app import create_app
from qa.api.routes.api_docs import ASSETS
from qa.config import Settings, WidgetKey, get_settings
from qa.corpus.documents import parse_document
from qa.errors import ConfigError
from qa.index import ensure_index
from qa.pipeline import QAPipeline
from tests.conftest import REPO
from tests.fakes import FakeEmbedder

SITE = "https://news.example.org"


@pytest.fixture
def clean_settings_cache() -> object:
    get_settings.cache_clear()
    yield None
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("QA_PORT", "notaport", r"^QA_PORT: Input should be a valid integer.*\(got 'notaport'\)$"),
        ("QA_RETRIEVAL__MIN_ANSWER_SCORE", "abc", r"^QA_RETRIEVAL__MIN_ANSWER_SCORE: .*valid number"),
        ("QA_SECURITY__WIDGET_KEYS", "notjson", r"^QA_SECURITY__WIDGET_KEYS: not valid JSON \("),
        (
            "QA_SECURITY__WIDGET_KEYS",
            '[{"key": "pk_secret_1"}]',
            r"^QA_SECURITY__WIDGET_KEYS: item 0, origins: ",
        ),
        ("QA_CHUNKING__OVERLAP", "99", r"^QA_CHUNKING__OVERLAP: .*less than or equal to 19"),
        (
            "QA_DATABASE_URL",
            "mysql://u:pw@h/db",
            r"^QA_DATABASE_URL: use sqlite:///path/to/file.db or postgresql://",
        ),
    ],
)
def test_each_settings_error_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, clean_settings_cache: object, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        get_settings()
    message = raised.value.message
    assert "\n" not in message and re.search(expected, message), message
    assert "pk_secret_1" not in message and "pw@" not in message  # secrets are never echoed


def run_qa(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from qa.cli import app; sys.argv[0] = 'qa'; app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_cli_and_server_print_one_line_for_a_bad_setting(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "QA_PORT": "notaport", "QA_INDEX_DIR": str(tmp_path / "index")}
    for args in (["serve"], ["ask", "hi"], ["index", "status"]):
        result = run_qa(*args, env=env, cwd=tmp_path)
        assert result.returncode == 1, args
        assert result.stderr.strip().splitlines() == [
            "error: QA_PORT: Input should be a valid integer, unable to parse string as an integer "
            "(got 'notaport')"
        ], result.stderr
    uvicorn = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", "qa.api.app:create_app", "--port", "0"],
        env={**env, "QA_PORT": "8000", "QA_RETRIEVAL__MIN_ANSWER_SCORE": "abc"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert uvicorn.returncode == 1
    lines = uvicorn.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: QA_RETRIEVAL__MIN_ANSWER_SCORE: "), lines


def test_cli_help_shows_no_types_beside_flags() -> None:
    import typer.main

    from qa.cli import app

    def walk(command: Any, path: list[str]) -> list[list[str]]:
        found = [path]
        if hasattr(command, "list_commands"):  # a group (typer ships its own click)
            ctx = typer.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                found += walk(sub, [*path, name])
        return found

    paths = walk(typer.main.get_command(app), [])
    assert ["ask"] in paths and ["index", "add"] in paths
    for path in paths:
        result = subprocess.run(
            [sys.executable, "-c", "from qa.cli import app; app()", *path, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (path, result.stderr)
        assert "<bool>" not in result.stdout and "--help" in result.stdout, path


# ---- HTTP statuses the docs promise ---------------------------------------------------------------
def test_validation_failures_are_422_and_malformed_json_400(fake_client: TestClient) -> None:
    for message in ("", "   \n", "x" * 2001):
        response = fake_client.post("/v1/chat", json={"message": message})
        assert response.status_code == 422, message[:5]
        assert response.json()["error"]["code"] == "invalid_request"
    empty = fake_client.post("/v1/chat", json={"message": " "}).json()["error"]["message"]
    assert empty == "The message is empty; ask a question about the documents."
    broken = fake_client.post(
        "/v1/chat", content=b'{"message": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_a_body_not_declared_json_says_so(fake_client: TestClient, content_type: str) -> None:
    for path in ("/v1/chat", "/v1/search", "/v1/feedback"):
        response = fake_client.post(
            path, content=b'{"message": "hi"}', headers={"content-type": content_type}
        )
        assert response.status_code == 415, path
        assert response.json()["error"] == {
            "code": "unsupported_media_type",
            "message": "The Content-Type must be application/json.",
        }
    bare = fake_client.post("/v1/chat", content=b'{"message": "Where did Kim travel?"}')  # none at all
    assert bare.status_code == 415
    declared = {"content-type": "application/json; charset=utf-8"}
    assert fake_client.post("/v1/chat", content=bare.request.content, headers=declared).status_code == 200
    assert "415" in fake_client.get("/openapi.json").json()["paths"]["/v1/chat"]["post"]["responses"]


def test_search_scores_are_explained_in_the_schema(fake_client: TestClient) -> None:
    schema = fake_client.get("/openapi.json").json()["components"]["schemas"]["SearchHit"]
    assert "rank fusion" in schema["properties"]["score"]["description"]
    hits = fake_client.post("/v1/search", json={"query": "arms industry", "k": 3}).json()["results"]
    assert all(0 < hit["score"] <= 2 / 61 for hit in hits)


def test_refusal_and_empty_question_name_the_corpus_by_its_size(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    one = QAPipeline.load(settings, embedder_factory=lambda _: fake_embedder)
    assert one.refusal_message == "I couldn't find that in the article."
    (settings.corpus_dir / "second.md").write_text("# Second\n\nA note about rockets.\n", encoding="utf-8")
    two = QAPipeline.load(settings, embedder_factory=lambda _: fake_embedder)
    assert two.refusal_message == "I couldn't find that in the documents."
    with pytest.raises(Exception, match="ask a question about the documents"):
        two.validate_question("  ")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "I couldn't find that in the documents." in readme


# ---- CORS preflight, /docs, the page key -------------------------------------------------------------
def keyed_client(settings: Settings, fake_embedder: FakeEmbedder, **update: object) -> TestClient:
    app = create_app(
        settings.model_copy(update=update),
        lambda s: QAPipeline.load(s, embedder_factory=lambda _: fake_embedder),
    )
    return TestClient(app)


def test_a_refused_preflight_is_a_json_403_naming_the_setting(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    security = settings.security.model_copy(
        update={"widget_keys": [WidgetKey(key=SecretStr("pk_a"), origins=[SITE])]}
    )
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    with keyed_client(settings, fake_embedder, security=security) as client:
        allowed = client.options("/v1/chat", headers={"Origin": SITE, **preflight})
        assert allowed.status_code == 200
        refused = client.options("/v1/chat", headers={"Origin": "https://evil.example", **preflight})
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "origin_not_allowed"
        assert "https://evil.example" in error["message"] and "QA_SECURITY__WIDGET_KEYS" in error["message"]
        bad_header = client.options(
            "/v1/chat",
            headers={
                "Origin": SITE,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-custom",
            },
        )
        assert bad_header.status_code == 403 and bad_header.json()["error"]["code"] == "cors_not_allowed"


def test_docs_pages_are_served_offline_with_the_page_headers(fake_client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        response = fake_client.get(path)
        assert response.status_code == 200
        assert response.headers["x-frame-options"] == "DENY"
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
        sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert sources and all(s.startswith("/docs-assets/") for s in sources), sources
        assert "<script>" not in response.text  # no inline script: the CSP would block it
        for source in sources:
            asset = fake_client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 100, source
            assert asset.headers["x-content-type-options"] == "nosniff"
    assert set(ASSETS) >= {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"}
    assert fake_client.get("/docs-assets/%2e%2e%2fpyproject.toml").status_code == 404
    assert fake_client.get("/docs-assets/nothing.js").json()["error"]["code"] == "not_found"


def test_api_keys_leave_the_demo_page_working(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    with keyed_client(settings, fake_embedder, api_keys=[SecretStr("sk_1")]) as client:
        page = client.get("/")
        key = re.search(r'data-key="(pk_page_[^"]+)"', page.text)
        assert key is not None, "the page carries a key made up at start-up"
        bearer = {"Authorization": f"Bearer {key.group(1)}"}
        question = {"message": "Where did Kim travel?"}
        own = f"{client.base_url}".rstrip("/")
        assert client.post("/v1/chat", json=question, headers={**bearer, "Origin": own}).status_code == 200
        same = {**bearer, "Sec-Fetch-Site": "same-origin"}
        assert client.get("/v1/documents", headers=same).status_code == 200
        for other in ({"Origin": SITE}, {}):  # another site, or a script that is no browser page
            denied = client.post("/v1/chat", json=question, headers={**bearer, **other})
            assert denied.status_code == 403 and "own pages" in denied.json()["error"]["message"]
        assert client.post("/v1/chat", json=question).status_code == 401
        server = client.post("/v1/chat", json=question, headers={"Authorization": "Bearer sk_1"})
        assert server.status_code == 200
    web = settings.web.model_copy(update={"auto_page_key": False})
    with keyed_client(settings, fake_embedder, api_keys=[SecretStr("sk_1")], web=web) as client:
        assert "data-key" not in client.get("/").text
    with keyed_client(settings, fake_embedder) as client:  # no keys: an open API needs no page key
        assert "data-key" not in client.get("/").text


# ---- titles, Sources, usage --------------------------------------------------------------------------
def test_txt_titles_from_front_matter_or_a_headline_line() -> None:
    front = parse_document("a", "---\ntitle: Rocket notes\n---\nThe rocket flew.\n", "a.txt")
    assert front.title == "Rocket notes" and front.text == "The rocket flew.\n"
    headline = parse_document("b", "Kim visits Russia\nSEOUL — The leader returned home.\n", "b.txt")
    assert headline.title == "Kim visits Russia"
    article = parse_document(
        "kim-russia-visit", (REPO / "corpus" / "kim-russia-visit.txt").read_text(), "k.txt"
    )
    assert article.title == "Kim Jong-un’s six-day Russia tour ends with questions about arms deals"


def test_dev_question_evidence_is_still_in_the_article() -> None:
    text = (REPO / "corpus" / "kim-russia-visit.txt").read_text(encoding="utf-8")
    for path in (REPO / "eval" / "dev_questions.jsonl", REPO / "eval" / "article" / "questions.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            for evidence in json.loads(line).get("evidence", []):
                assert evidence in text, (path.name, evidence)


def test_openai_sources_never_double_quotation_marks_and_usage_is_counted(fake_client: TestClient) -> None:
    from qa.api.routes.openai_compat import quoted

    assert quoted("Plain words.") == "“Plain words.”"
    assert quoted("“They have 2 million workers,” he said.") == "“They have 2 million workers,” he said."
    assert quoted('He said "no".') == 'He said "no".'
    body = {"model": "qa-article-bot", "messages": [{"role": "user", "content": "Who is Chun In-bum?"}]}
    completion = fake_client.post("/v1/chat/completions", json=body).json()
    content = completion["choices"][0]["message"]["content"]
    assert "““" not in content and "””" not in content
    tokens = re.compile(r"\w+|[^\w\s]")
    assert completion["usage"] == {
        "prompt_tokens": len(tokens.findall("Who is Chun In-bum?")),
        "completion_tokens": len(tokens.findall(content)),
        "total_tokens": len(tokens.findall("Who is Chun In-bum?")) + len(tokens.findall(content)),
    }
    streamed = fake_client.post(
        "/v1/chat/completions", json={**body, "stream": True, "stream_options": {"include_usage": True}}
    )
    chunks = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == completion["usage"]
    plain = fake_client.post("/v1/chat/completions", json={**body, "stream": True})
    assert '"usage"' not in plain.text  # only when asked for, as OpenAI does


# ---- implicit index builds say what they do ----------------------------------------------------------
def test_an_implicit_build_logs_each_stage(
    settings: Settings, fake_embedder: FakeEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="qa.index"):
        ensure_index(settings, fake_embedder)
    lines = [r.getMessage() for r in caplog.records if r.name == "qa.index"]
    assert lines[0].startswith(f"Building the index in {settings.index_dir} (missing)")
    assert any(line.startswith("index build: ") and line.endswith(" done") for line in lines)
    assert lines[-1].startswith("Index built in ")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="qa.index"):
        ensure_index(settings, fake_embedder)  # up to date: nothing to say
    assert not [r for r in caplog.records if r.name == "qa.index"]


def test_the_one_off_onnx_export_is_announced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from qa.embedding import onnx_export

    def fake_export(source: Path, staging: Path, optimization: str) -> tuple[float, int]:
        staging.mkdir(parents=True)
        return 1.0, 128

    source = tmp_path / "model"
    source.mkdir()
    (source / "config.json").write_text("{}")
    monkeypatch.setattr(onnx_export, "_export", fake_export)
    with caplog.at_level(logging.INFO, logger="qa.embedding"):
        onnx_export.exported_model_dir(source, tmp_path / "cache", "O2")
    messages = [r.getMessage() for r in caplog.records if r.name == "qa.embedding"]
    assert messages[0].startswith("Exporting the embedding model to ONNX once")
    assert messages[1].startswith("ONNX export done in ")
