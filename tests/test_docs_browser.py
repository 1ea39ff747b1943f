"""In Chromium (issue 14): /docs and /redoc render from local files under our CSP, and with only
``QA_API_KEYS`` set the demo page at ``/`` still answers, through the key it was given at start-up.

The browser may reach nothing but 127.0.0.1: every other request is recorded and aborted, so a
CDN reference fails the test instead of going out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from qa.api.app import create_app
from qa.config import Settings
from qa.pipeline import QAPipeline
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.live import serve

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium: apt-get install chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def keyed_server(real_settings: Settings, real_pipeline: QAPipeline) -> Iterator[str]:
    """The real app with a server key and nothing else: no widget key, no page key configured."""
    settings = real_settings.model_copy(update={"api_keys": [SecretStr("sk_docs_test")]})
    with serve(create_app(settings, lambda _: real_pipeline)) as url:
        yield url


@pytest.fixture
def page(keyed_server: str) -> Iterator[tuple[Any, list[str]]]:
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context()

        def only_local(route: Any) -> None:
            if route.request.url.startswith(keyed_server):
                route.continue_()
            else:
                problems.append(f"outside request: {route.request.url}")
                route.abort()

        context.route("**/*", only_local)
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        tab.on(
            "console",
            lambda m: (
                problems.append(f"console: {m.text}")
                if m.type == "error" or "Content Security Policy" in m.text
                else None
            ),
        )
        yield tab, problems
        browser.close()


def test_swagger_ui_renders_every_operation_offline(keyed_server: str, page: tuple[Any, list[str]]) -> None:
    tab, problems = page
    response = tab.goto(f"{keyed_server}/docs")
    assert response is not None and response.headers["x-frame-options"] == "DENY"
    operations = tab.locator(".swagger-ui .opblock")
    expect(operations.first).to_be_visible()
    paths = set(tab.locator(".opblock-summary-path").all_inner_texts())
    assert {"/v1/chat", "/v1/search", "/v1/chat/completions"} <= {p.replace("\u200b", "") for p in paths}
    assert problems == []


def test_redoc_renders_offline(keyed_server: str, page: tuple[Any, list[str]]) -> None:
    tab, problems = page
    response = tab.goto(f"{keyed_server}/redoc")
    assert response is not None and "script-src 'self';" in response.headers["content-security-policy"]
    expect(tab.locator("h1").first).to_contain_text("Article Q&A")
    expect(tab.get_by_text("/v1/chat/completions").first).to_be_attached()
    # ReDoc's sidebar credit always asks for a logo on Redocly's CDN: our CSP blocks it (nothing
    # leaves the machine) and ReDoc drops the image when it fails. Anything else is a problem.
    assert [p for p in problems if "cdn.redoc.ly/redoc/logo-mini.svg" not in p] == []


def test_the_demo_page_answers_when_api_keys_are_set(keyed_server: str, page: tuple[Any, list[str]]) -> None:
    tab, problems = page
    tab.goto(f"{keyed_server}/")
    expect(tab.locator("qa-chat .input")).to_be_visible()
    before = tab.locator("qa-chat article.msg.bot").count()
    tab.locator("qa-chat .input").fill("What did Putin show Kim?")
    tab.locator("qa-chat .input").press("Enter")
    bot = tab.locator("qa-chat article.msg.bot").nth(before)
    expect(bot).to_have_attribute("data-state", "done")
    expect(bot.locator(".chip").first).to_be_visible()
    assert problems == []
