"""The widget's files and pages as the server serves them (fast: fake embedder, no browser)."""

from __future__ import annotations

import asyncio
import gzip
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.api.routes.web import WEB_DIR
from qa.config import Settings, WebSettings
from qa.pipeline import QAPipeline
from tests.conftest import REPO, make_settings
from tests.fakes import FakeEmbedder

ASSET_HEADERS = {
    "access-control-allow-origin": "*",
    "cross-origin-resource-policy": "cross-origin",
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
}

WIDGET_BUDGET_BYTES = 30 * 1024  # widget.js and everything it loads, gzipped
_REFERENCE = re.compile(r"""["']((?:\./)?[\w./-]+\.(?:js|css))["']""")
_HTML_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|srcdoc"
)


def widget_files() -> list[Path]:
    """widget.js and every file it loads, found by following the file names each one mentions."""
    seen: dict[Path, None] = {}
    todo = [WEB_DIR / "widget.js"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path] = None
        for name in _REFERENCE.findall(path.read_text(encoding="utf-8")):
            # Modules import siblings ("./api.js"); the loader names files from the base ("widget/app.js").
            for candidate in (path.parent / name, WEB_DIR / name):
                if candidate.resolve().is_file() and candidate.resolve().is_relative_to(WEB_DIR):
                    todo.append(candidate.resolve())
                    break
            else:
                raise AssertionError(f"{path.name} refers to {name}, which is not in qa/web")
    return list(seen)


def gzipped_size(paths: list[Path]) -> int:
    return sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in paths)


def test_widget_with_everything_it_loads_fits_the_budget() -> None:
    files = widget_files()
    names = {p.relative_to(WEB_DIR).as_posix() for p in files}
    assert {"widget.js", "widget/app.js", "widget/widget.css", "widget/eventsource-parser.js"} <= names
    assert {"widget/messages.js", "widget/feedback.js", "widget/sources.js"} <= names
    size = gzipped_size(files)
    raw = sum(p.stat().st_size for p in files)
    print(f"\nwidget: {len(files)} files, {raw} bytes, {size} bytes gzipped (budget {WIDGET_BUDGET_BYTES})")
    assert size <= WIDGET_BUDGET_BYTES


def test_no_html_parsing_sinks_in_the_widget_or_pages() -> None:
    """Untrusted text reaches the DOM only as text nodes: no API that parses strings as HTML."""
    offenders = [
        f"{p.relative_to(WEB_DIR)}: {m.group()}"
        for p in sorted(WEB_DIR.rglob("*.js"))
        for m in _HTML_SINKS.finditer(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_every_web_file_is_package_data() -> None:
    """A wheel built from pyproject.toml ships every file the widget serves."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["qa"]
    package = WEB_DIR.parent
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}  # as setuptools globs
    files = {p for p in WEB_DIR.rglob("*") if p.is_file()}
    assert files and files <= shipped, sorted(str(p.relative_to(package)) for p in files - shipped)


@pytest.fixture
def web_client(tmp_path: Path, fake_embedder: FakeEmbedder) -> TestClient:
    settings = make_settings(
        tmp_path, web=WebSettings(title="Ask the report", starter_questions=["First?", "Second?"])
    )
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: fake_embedder))
    return TestClient(app)


def test_widget_files_are_served_for_any_origin(web_client: TestClient) -> None:
    for path in ("/widget.js", "/widget/app.js", "/widget/messages.js", "/widget/widget.css"):
        response = web_client.get(path, headers={"Origin": "https://news.example"})
        assert response.status_code == 200, path
        assert ASSET_HEADERS.items() <= response.headers.items(), path
        expected = "text/css" if path.endswith(".css") else "text/javascript"
        assert response.headers["content-type"] == f"{expected}; charset=utf-8"
        assert response.headers["etag"] and response.headers["last-modified"]
        assert response.content == (WEB_DIR / path.lstrip("/")).read_bytes()


@pytest.mark.parametrize("path", ["/widget.js", "/widget/app.js", "/widget/widget.css"])
def test_widget_files_revalidate_with_304(web_client: TestClient, path: str) -> None:
    """``no-cache`` means every load revalidates: an unchanged file costs a 304 and no body."""
    first = web_client.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    again = web_client.get(path, headers={"If-None-Match": etag, "Origin": "https://news.example"})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert ASSET_HEADERS.items() <= again.headers.items()  # CORS holds for a cross-origin revalidation
    since = web_client.get(path, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304 and since.content == b""
    changed = web_client.get(path, headers={"If-None-Match": '"an-older-version"'})
    assert changed.status_code == 200 and changed.content == first.content


def test_widget_files_answer_head_and_refuse_other_methods(web_client: TestClient) -> None:
    head = web_client.head("/widget/app.js")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"]
    assert web_client.post("/widget/app.js").status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/widget/nope.js",
        "/widget/.hidden.js",
        "/widget/..%2F..%2Fconfig.py",
        "/widget/..%2Fapp.py",
        "/widget/..%2Fwidget.js",  # a real .js file, but outside qa/web/widget
        "/widget/%2E%2E%2F%2E%2E%2Fconfig.py",
        "/widget/%2Fetc%2Fpasswd",
        "/widget/app.py",
        "/widget/page.css%00.js",
        "/widget/",
    ],
)
def test_unknown_widget_files_are_json_404s(web_client: TestClient, path: str) -> None:
    response = web_client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def _raw_get(app: Any, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written: HTTP clients resolve ``..`` segments before sending, servers don't."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if requested:  # the client stays connected until the response is complete
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize(
    "path", ["/widget/../../qa/config.py", "/widget/../app.py", "/widget/../widget.js", "/widget//etc/passwd"]
)
def test_dot_segments_do_not_escape_the_widget_directory(web_client: TestClient, path: str) -> None:
    assert asyncio.run(_raw_get(web_client.app, "/widget/app.js"))[0] == 200  # the same request, in bounds
    status, body = asyncio.run(_raw_get(web_client.app, path))
    assert status == 404
    assert b"No widget file named" in body  # refused by the widget route itself, not unrouted


def test_pages_carry_a_strict_content_security_policy(web_client: TestClient) -> None:
    for path in ("/", "/documents/kim-russia-visit"):
        response = web_client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
    assert 'src="widget.js"' in web_client.get("/").text and 'data-mode="page"' in web_client.get("/").text


def test_widget_config_comes_from_settings(web_client: TestClient) -> None:
    response = web_client.get("/widget.json")
    assert response.json() == {
        "title": "Ask the report",
        "starter_questions": ["First?", "Second?"],
        "max_message_chars": 2000,
    }
    assert response.headers["access-control-allow-origin"] == "*"


def test_web_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_WEB__TITLE", "Ask us")
    monkeypatch.setenv("QA_WEB__STARTER_QUESTIONS", '["Why?"]')
    web = Settings().web
    assert (web.title, web.starter_questions) == ("Ask us", ["Why?"])


def test_web_routes_stay_out_of_the_api_schema(web_client: TestClient) -> None:
    paths = web_client.get("/openapi.json").json()["paths"]
    assert not {"/", "/widget.js", "/widget.json", "/widget/{path}", "/documents/{doc_id}"} & set(paths)
    assert not [p for p in paths if p.startswith("/widget")]
