"""The chat widget in a real browser: Debian's Chromium driven by Playwright, against the real app
(real model, FAISS and BM25) served by uvicorn on 127.0.0.1.

Screenshots go to ``$QA_SCREENSHOT_DIR`` when set (``make screenshots`` writes docs/screenshots).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa.api.routes.web import WEB_DIR
from qa.config import Settings
from qa.embedding.base import Embedder
from qa.pipeline import QAPipeline
from tests.browser import CHROMIUM, CHROMIUM_ARGS, HOSTILE_CSS, LiveServer
from tests.conftest import make_settings
from tests.test_web import widget_files

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium: apt-get install chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=30_000)

Page = Any  # playwright.sync_api.Page; Any keeps the skip path import-free

ANSWERED = "What did Putin show Kim?"  # answered from two sentences of the article
REFUSED = "What is the boiling point of mercury?"
PAYLOAD = "<img src=x onerror=alert(1)>"
XSS_DOC = f"""---
title: Launch notes {PAYLOAD}
---
Launch notes for the spring rocket programme.
Launch day 🚀 was loud and bright. The engineers named the secret launch code {PAYLOAD} in the spring test.
The rocket reached an altitude of forty kilometres before the parachute opened.
"""

DEEP_ACTIVE = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el) return null;
  return {label: el.getAttribute('aria-label') || '', text: (el.textContent || '').trim(), id: el.id,
          cls: el.className && el.className.baseVal === undefined ? el.className : ''};
}"""
SHADOW = "document.querySelector('qa-chat').shadowRoot"


# ---- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(real_settings: Settings, real_pipeline: QAPipeline) -> Iterator[LiveServer]:
    with LiveServer(real_settings, lambda _: real_pipeline) as live:
        yield live


@pytest.fixture(scope="module")
def xss_server(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> Iterator[LiveServer]:
    """The article plus a document whose title and text carry an HTML payload (and an emoji, so
    code-point offsets differ from JavaScript string indexes)."""
    settings = make_settings(tmp_path_factory.mktemp("xss"))
    (settings.corpus_dir / "launch-notes.md").write_text(XSS_DOC, encoding="utf-8")
    pipeline = QAPipeline.load(settings, embedder_factory=lambda _: real_embedder)
    with LiveServer(settings, lambda _: pipeline) as live:
        yield live


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("QA_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def make_page(browser: Any) -> Iterator[Callable[..., Page]]:
    """New pages in fresh contexts; any script error or dialog (alert!) fails the test."""
    contexts: list[Any] = []
    problems: list[str] = []

    def new_page(**context_options: Any) -> Page:
        options = {"viewport": {"width": 1280, "height": 800}, **context_options}
        context = browser.new_context(**options)
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

        def on_dialog(dialog: Any) -> None:
            problems.append(f"dialog: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return page

    yield new_page
    for context in contexts:
        context.close()
    assert problems == []


@pytest.fixture
def page(make_page: Callable[..., Page]) -> Page:
    return make_page()


# ---- helpers --------------------------------------------------------------------------------------
def api_answer(server: LiveServer, question: str) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}v1/chat", json={"message": question}, headers=server.api_headers, timeout=60
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def api_document(server: LiveServer, doc_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(
        f"{server.url}v1/documents/{doc_id}", headers=server.api_headers, timeout=60
    ).json()
    return body


def shown(answer: str) -> str:
    """The answer as the widget displays it: each [n] marker becomes a chip showing n."""
    return re.sub(r"\[(\d+)\]", r"\1", answer)


def ask(page: Page, question: str) -> Any:
    """Type and send a question; returns the locator of the (finished) answer."""
    before = page.locator("qa-chat article.msg.bot").count()
    page.locator("qa-chat .input").fill(question)
    page.locator("qa-chat .input").press("Enter")
    answer = page.locator("qa-chat article.msg.bot").nth(before)
    expect(answer).to_have_attribute("data-state", re.compile("done|error"))
    return answer


def active(page: Page) -> dict[str, str]:
    result: dict[str, str] = page.evaluate(DEEP_ACTIVE)
    return result


def widget_state(page: Page, server: LiveServer) -> dict[str, Any]:
    raw = page.evaluate(f"() => sessionStorage.getItem('qa-widget:{server.url}')")
    state: dict[str, Any] = json.loads(raw) if raw else {}
    return state


def style(locator: Any, *props: str) -> list[str]:
    result: list[str] = locator.evaluate(
        "(el, props) => props.map((p) => getComputedStyle(el).getPropertyValue(p))", list(props)
    )
    return result


def save_screenshot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- tests ----------------------------------------------------------------------------------------
def test_answer_streams_in_and_a_chip_shows_the_quote_in_context(
    server: LiveServer, real_settings: Settings, page: Page, shots: Path
) -> None:
    expected = api_answer(server, ANSWERED)
    citations = expected["citations"]
    assert expected["answerable"] and len(citations) >= 2, "the question should be answered from 2+ sentences"
    loaded: list[str] = []
    page.on("response", lambda r: loaded.append(r.url))

    page.goto(server.host_page("plain"))
    launcher = page.locator("qa-chat .launcher")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    expect(page.locator("qa-chat .panel")).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    assert active(page)["label"] == "Your question"
    expect(page.locator("qa-chat .starter")).to_have_text(real_settings.web.starter_questions)

    # Record each rendering of the answer paragraph, to see it grow while the answer streams.
    page.evaluate(
        f"""() => {{
        window.renders = [];
        new MutationObserver((records) => {{
          for (const r of records)
            if (r.target.matches && r.target.matches('.msg.bot'))
              for (const n of r.addedNodes)
                if (n.matches && n.matches('p.text')) window.renders.push(n.textContent);
        }}).observe({SHADOW}, {{childList: true, subtree: true}});
        }}"""
    )
    bot = ask(page, ANSWERED)
    expect(bot).to_have_attribute("data-state", "done")
    renders = list(dict.fromkeys(page.evaluate("() => window.renders")))
    assert len(renders) >= 2 and renders[-1].startswith(renders[0]) and len(renders[0]) < len(renders[-1])
    assert bot.locator("p.text").text_content() == shown(expected["answer"])
    expect(bot).not_to_have_attribute("data-answerable", "false")
    expect(page.locator("qa-chat [role=status][aria-live=polite]").first).to_contain_text("Answer: ")

    chips = bot.locator(".chip")
    expect(chips).to_have_count(len(citations))
    for chip, citation in zip(chips.all(), citations, strict=True):
        expect(chip).to_have_text(str(citation["id"]))
        expect(chip).to_have_attribute("aria-label", f"Source {citation['id']}: {citation['title']}")

    document = api_document(server, citations[-1]["doc_id"])["text"]
    for index, citation in enumerate(citations):
        chips.nth(index).click()
        source = page.locator("qa-chat .source")
        expect(source).to_be_visible()
        mark = source.locator("mark")
        expect(mark).to_have_text(citation["quote"])
        # Highlighted by offsets: exactly document[start:end], inside its own paragraph (line).
        assert mark.text_content() == document[citation["start"] : citation["end"]]
        line_start = document.rfind("\n", 0, citation["start"]) + 1
        line_end = document.find("\n", citation["end"])
        paragraph = document[line_start : line_end if line_end != -1 else None]
        assert source.locator(".context").text_content() == paragraph
        if index == 0:
            save_screenshot(page, shots / "widget-desktop.png")

    last = citations[-1]
    link = page.locator("qa-chat .source a.open-doc")
    expected_href = (
        f"{server.url}documents/{last['doc_id']}#start={last['start']}&end={last['end']}&key=pk_test_widget"
    )
    expect(link).to_have_attribute("href", expected_href)
    with page.context.expect_page() as opened:
        link.click()
    reader = opened.value
    highlight = reader.locator("#highlight")
    expect(highlight).to_have_text(last["quote"])
    expect(highlight).to_be_focused()
    expect(highlight).to_be_in_viewport()
    expect(reader.locator("h1")).to_have_text(last["title"])
    save_screenshot(reader, shots / "document-reader.png")

    # Everything the widget fetched besides API calls is one of the files the size budget counts.
    budgeted = {"/" + p.relative_to(WEB_DIR).as_posix() for p in widget_files()}
    fetched = {
        httpx.URL(url).path
        for url in loaded
        if url.startswith(server.url) and not re.search(r"/(v1|test-host)/|/widget\.json$", url)
    }
    assert fetched and fetched <= budgeted, fetched - budgeted


def test_not_in_the_article_looks_different_from_an_answer(server: LiveServer, page: Page) -> None:
    assert api_answer(server, REFUSED)["answerable"] is False
    page.goto(server.host_page("open", attrs={"data-open": "true"}))
    answered = ask(page, ANSWERED)
    refused = ask(page, REFUSED)
    expect(refused).to_have_attribute("data-answerable", "false")
    expect(refused.locator(".badge")).to_have_text("Not in the article")
    expect(refused.locator(".chip")).to_have_count(0)
    expect(answered.locator(".badge")).to_have_count(0)
    refused_style = style(refused, "border-top-style", "background-color")
    answered_style = style(answered, "border-top-style", "background-color")
    assert refused_style[0] == "dashed" and answered_style[0] != "dashed"
    assert refused_style[1] != answered_style[1]
    assert style(refused.locator(".text"), "font-style") == ["italic"]
    expect(page.locator("qa-chat [aria-live=polite]").first).to_have_text(
        re.compile(r"^Not in the article\. I couldn.t find that")
    )


def test_keyboard_only(server: LiveServer, page: Page) -> None:
    page.goto(server.host_page("plain"))
    expect(page.locator("qa-chat .launcher")).to_be_visible()
    for _ in range(6):  # the host page's own link and button come first
        page.keyboard.press("Tab")
        if active(page)["text"] == "Ask the article":
            break
    assert active(page)["text"] == "Ask the article", "the launcher is reachable with Tab"
    page.keyboard.press("Enter")
    expect(page.locator("qa-chat .panel")).to_be_visible()
    assert active(page)["label"] == "Your question"
    page.keyboard.type(ANSWERED)
    page.keyboard.press("Enter")
    bot = page.locator("qa-chat article.msg.bot")
    expect(bot).to_have_attribute("data-state", "done")
    expect(page.locator("qa-chat [aria-live=polite]").first).to_have_text(
        re.compile("^Answer: It is unknown")
    )
    assert active(page)["label"] == "Your question", "focus stays in the input while the answer arrives"

    for _ in range(8):  # back from the input, past the answer's buttons, to its last citation chip
        page.keyboard.press("Shift+Tab")
        if active(page)["label"].startswith("Source "):
            break
    chip_label = active(page)["label"]
    assert chip_label.startswith("Source 2"), chip_label
    page.keyboard.press("Enter")
    expect(page.locator("qa-chat .source mark")).to_be_visible()
    assert active(page)["id"] == "qa-source-title", "focus moves into the source dialog"
    expect(page.locator("qa-chat .chip[aria-expanded=true]")).to_have_attribute("aria-label", chip_label)
    page.keyboard.press("Escape")
    expect(page.locator("qa-chat .source")).to_be_hidden()
    assert active(page)["label"] == chip_label, "Escape returns focus to the chip"
    expect(page.locator("qa-chat .chip[aria-expanded=true]")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(page.locator("qa-chat .panel")).to_be_hidden()
    assert active(page)["text"] == "Ask the article", (
        "Escape closes the panel and returns focus to the launcher"
    )
    expect(page.locator("qa-chat .launcher")).to_have_attribute("aria-expanded", "false")


def test_corpus_and_question_markup_is_shown_as_text(xss_server: LiveServer, page: Page) -> None:
    question = "What did the engineers name the secret launch code?"
    expected = api_answer(xss_server, question)
    cited = [c for c in expected["citations"] if PAYLOAD in c["quote"]]
    assert expected["answerable"] and cited, expected
    citation = cited[0]
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))

    page.goto(xss_server.host_page("xss", attrs={"data-open": "true"}))
    bot = ask(page, question)
    expect(bot).to_have_attribute("data-state", "done")
    expect(bot.locator("p.text")).to_contain_text(PAYLOAD)
    assert bot.locator("p.text").text_content() == shown(expected["answer"])
    chip = bot.locator(".chip").nth(expected["citations"].index(citation))
    expect(chip).to_have_attribute("aria-label", f"Source {citation['id']}: Launch notes {PAYLOAD}")
    chip.click()
    source = page.locator("qa-chat .source")
    expect(source.locator("mark")).to_have_text(citation["quote"])  # after the emoji: offsets are code points
    line = next(line for line in XSS_DOC.splitlines() if citation["quote"] in line)
    expect(source.locator(".context")).to_have_text(line)  # in its paragraph, located by offsets
    expect(source.locator(".warning")).to_have_count(0)
    expect(source.locator(".doc-title")).to_have_text(f"Launch notes {PAYLOAD}")

    markup_question = f"{PAYLOAD} <script>alert(2)</script> What was loud?"
    user = page.locator("qa-chat article.msg.user").nth(1)
    ask(page, markup_question)
    expect(user).to_have_text(markup_question)
    assert page.evaluate(f"() => {SHADOW}.querySelectorAll('img, script').length") == 0
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0

    with page.context.expect_page() as opened:
        source.locator("a.open-doc").click()
    reader = opened.value
    expect(reader.locator("#highlight")).to_have_text(citation["quote"])
    expect(reader.locator("h1")).to_have_text(f"Launch notes {PAYLOAD}")
    assert reader.evaluate("() => document.querySelectorAll('img').length") == 0
    assert dialogs == []


def test_phone_viewport(server: LiveServer, make_page: Callable[..., Page], shots: Path) -> None:
    page = make_page(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    page.goto(server.host_page("plain"))
    launcher = page.locator("qa-chat .launcher")
    launcher.tap()
    panel = page.locator("qa-chat .panel")
    expect(panel).to_be_visible()
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}, "the panel fills the screen"
    expect(launcher).to_be_hidden()
    page.locator("qa-chat .starter").nth(1).tap()
    bot = page.locator("qa-chat article.msg.bot")
    expect(bot).to_have_attribute("data-state", "done")
    bot.locator(".chip").first.tap()
    source = page.locator("qa-chat .source")
    expect(source.locator("mark")).to_be_visible()
    box = source.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, "no sideways scrolling"
    for button in (page.locator("qa-chat .send"), page.locator("qa-chat .tool.close")):
        target = button.bounding_box()
        assert target and target["width"] >= 32 and target["height"] >= 32, "touch targets stay usable"
    save_screenshot(page, shots / "widget-phone.png")
    expect(panel).to_have_attribute("aria-modal", "true")
    seen = set()
    for _ in range(25):  # the full-screen panel keeps keyboard focus inside itself
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement && document.activeElement.localName") == "qa-chat"
        seen.add(json.dumps(active(page), sort_keys=True))
    assert len(seen) >= 8, "Tab visits the panel's controls"
    page.locator("qa-chat .source .tool").tap()
    page.locator("qa-chat .tool.close").tap()
    expect(panel).to_be_hidden()
    expect(launcher).to_be_visible()


def test_conversation_survives_reload_and_new_conversation_starts_afresh(
    server: LiveServer, page: Page
) -> None:
    sent: list[dict[str, Any]] = []
    sessions: list[str | None] = []

    def on_request(request: Any) -> None:
        if request.url.endswith("/v1/chat") and request.method == "POST":
            sent.append(request.post_data_json)
            sessions.append(request.headers.get("x-qa-session"))

    page.on("request", on_request)
    page.goto(server.host_page("plain"))
    page.locator("qa-chat .launcher").click()
    first = ask(page, ANSWERED)
    ask(page, REFUSED)
    state = widget_state(page, server)
    conversation = state["conversationId"]
    assert conversation.startswith("c_") and state["open"] is True
    assert "conversation_id" not in sent[0] and sent[0]["stream"] is True
    assert sent[1]["conversation_id"] == conversation, "follow-ups continue the conversation"
    # The server issued this tab a session with the first answer; the widget sends it back, which is
    # what lets it continue its own conversation (a widget key alone is anyone's).
    assert sessions[0] is None and sessions[1] is not None and len(sessions[1]) == 43
    before = page.locator("qa-chat article.msg").all_text_contents()
    answer_text = first.locator("p.text").text_content()

    page.reload()
    expect(page.locator("qa-chat .panel")).to_be_visible()  # the panel was open: it still is
    expect(page.locator("qa-chat article.msg")).to_have_count(4)
    assert page.locator("qa-chat article.msg").all_text_contents() == before
    restored = page.locator("qa-chat article.msg.bot").first
    assert restored.locator("p.text").text_content() == answer_text
    expect(page.locator("qa-chat article.msg.bot").nth(1)).to_have_attribute("data-answerable", "false")
    restored.locator(".chip").first.click()
    expect(page.locator("qa-chat .source mark")).to_have_text(
        api_answer(server, ANSWERED)["citations"][0]["quote"]
    )

    page.locator("qa-chat .tool.new").click()
    expect(page.locator("qa-chat article.msg")).to_have_count(0)
    expect(page.locator("qa-chat .starter")).to_have_count(3)
    expect(page.locator("qa-chat .source")).to_be_hidden()
    assert active(page)["label"] == "Your question"
    assert (
        widget_state(page, server)["messages"] == [] and widget_state(page, server)["conversationId"] is None
    )
    ask(page, ANSWERED)
    assert "conversation_id" not in sent[-1], "a new conversation does not reuse the old id"


def test_thumbs_send_feedback_and_failures_are_reported(server: LiveServer, page: Page) -> None:
    calls: list[dict[str, Any]] = []
    replies: list[int | str] = [204, 500, 201, "abort"]

    def feedback(route: Any) -> None:
        request = route.request
        calls.append(
            {
                "method": request.method,
                "auth": request.header_value("authorization"),
                "body": request.post_data_json,
            }
        )
        reply = replies.pop(0)
        if reply == "abort":
            route.abort("connectionrefused")
        elif reply == 204:
            route.fulfill(status=204)
        else:
            error = {"error": {"code": "internal_error", "message": "Something went wrong on our side."}}
            assert isinstance(reply, int)
            route.fulfill(status=reply, json=error if reply >= 400 else {"ok": True})

    page.route("**/v1/feedback", feedback)
    page.goto(server.host_page("open", attrs={"data-open": "true"}))
    bot = ask(page, ANSWERED)
    message_id = widget_state(page, server)["messages"][1]["messageId"]
    assert message_id.startswith("m_")
    up, down = (
        bot.get_by_role("button", name="Helpful", exact=True),
        bot.get_by_role("button", name="Not helpful"),
    )
    status = bot.locator(".status")

    up.click()
    expect(status).to_have_text("Thanks for the feedback.")
    assert calls[0] == {
        "method": "POST",
        "auth": "Bearer pk_test_widget",
        "body": {"message_id": message_id, "rating": "up"},
    }
    expect(up).to_have_attribute("aria-pressed", "true")

    down.click()
    comment = bot.locator(".comment textarea")
    expect(comment).to_be_focused()
    comment.fill("The second quote is off topic")
    bot.get_by_role("button", name="Send feedback").click()
    expect(status).to_have_text("Couldn't send feedback: Something went wrong on our side.")
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-pressed", "false")
    bot.get_by_role("button", name="Send feedback").click()  # the comment is kept for another try
    expect(status).to_have_text("Thanks for the feedback.")
    assert calls[2]["body"] == {
        "message_id": message_id,
        "rating": "down",
        "comment": "The second quote is off topic",
    }
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    expect(bot.locator(".comment")).to_have_count(0)

    server_down(page)  # the widget checks whether the whole server is gone (issue 14)
    up.click()
    expect(status).to_contain_text("Couldn't send feedback: Can't reach the server")
    expect(down).to_have_attribute("aria-pressed", "true")
    assert len(calls) == 4 and replies == []

    bot.get_by_role("button", name="Copy answer").click()
    expect(status).to_have_text("Copied.")
    expected = api_answer(server, ANSWERED)
    sources = "\n".join(f"[{c['id']}] “{c['quote']}” ({c['title']})" for c in expected["citations"])
    assert (
        page.evaluate("() => navigator.clipboard.readText()")
        == f"{expected['answer']}\n\nSources:\n{sources}"
    )


def server_down(page: Page) -> None:
    """A server that is gone answers nothing, including the probe the widget makes to say so."""
    page.route("**/widget.json", lambda route: route.abort("connectionrefused"))


def test_errors_explain_themselves_and_retry_recovers(server: LiveServer, page: Page) -> None:
    mode = {"now": "429"}

    def chat(route: Any) -> None:
        if mode["now"] == "429":
            route.fulfill(
                status=429,
                headers={"Retry-After": "3"},
                json={"error": {"code": "rate_limited", "message": "Too many requests; slow down."}},
            )
        elif mode["now"] == "403":  # what a key refused for this origin gets (issue 4)
            error = {"code": "forbidden", "message": "This site may not use this widget key."}
            route.fulfill(status=403, json={"error": error})
        elif mode["now"] == "down":
            route.abort("connectionrefused")
        elif mode["now"] == "sse-error":
            body = (
                'event: meta\ndata: {"conversation_id": "c_x", "mode": "extractive"}\n\n'
                'event: error\ndata: {"code": "not_ready", "message": "The service is still starting."}\n\n'
            )
            route.fulfill(status=200, content_type="text/event-stream", body=body)
        else:
            route.continue_()

    page.route("**/v1/chat", chat)
    page.goto(server.host_page("open", attrs={"data-open": "true"}))
    bot = ask(page, ANSWERED)
    retry = bot.locator(".retry")
    expect(bot).to_have_attribute("data-state", "error")
    expect(bot.locator(".error p")).to_have_text("Too many requests; slow down.")
    expect(retry).to_be_disabled()
    expect(retry).to_have_text(re.compile(r"Retry in [123]s"))
    expect(retry).to_be_enabled(timeout=10_000)  # once Retry-After has passed
    expect(retry).to_have_text("Retry")

    mode["now"] = "403"
    retry.click()
    expect(bot.locator(".error p")).to_have_text("This site may not use this widget key.")

    mode["now"] = "down"
    page.route(
        "**/widget.json",
        lambda route: route.abort("connectionrefused") if mode["now"] == "down" else route.continue_(),
    )
    bot.locator(".retry").click()
    expect(bot.locator(".error p")).to_have_text(
        "Can't reach the server. Check your connection and try again."
    )
    expect(page.locator("qa-chat [aria-live=polite]").first).to_have_text(
        re.compile("^Can't reach the server")
    )

    mode["now"] = "sse-error"
    bot.locator(".retry").click()
    expect(bot.locator(".error p")).to_have_text("The service is still starting.")

    mode["now"] = "through"
    bot.locator(".retry").click()
    expect(bot).to_have_attribute("data-state", "done")
    expect(bot.locator(".chip")).to_have_count(len(api_answer(server, ANSWERED)["citations"]))
    expect(page.locator("qa-chat article.msg")).to_have_count(2)  # retried in place, not duplicated

    page.route("**/v1/documents/**", lambda route: route.abort("connectionrefused"))
    server_down(page)
    bot.locator(".chip").first.click()
    source = page.locator("qa-chat .source")
    expect(source.locator(".warning")).to_have_text(re.compile("^Couldn't load the document: Can't reach"))
    expect(source.locator("mark")).to_have_text(api_answer(server, ANSWERED)["citations"][0]["quote"])
    expect(source.locator("a.open-doc")).to_have_count(0)


def test_themes_colour_schemes_and_style_isolation(server: LiveServer, page: Page, shots: Path) -> None:
    page.goto(server.host_page("open", attrs={"data-open": "true"}))
    panel = page.locator("qa-chat .panel")
    expect(panel).to_be_visible()  # i.e. styled: the widget stays hidden until its stylesheet is in
    page.emulate_media(color_scheme="light")
    assert style(panel, "background-color") == ["rgb(255, 255, 255)"]
    page.emulate_media(color_scheme="dark")
    assert style(panel, "background-color") == ["rgb(23, 25, 30)"]
    save_screenshot(page, shots / "widget-dark.png")

    page.goto(server.host_page("light", attrs={"data-open": "true", "data-theme": "light"}))
    expect(panel).to_be_visible()
    assert style(panel, "background-color") == ["rgb(255, 255, 255)"], "data-theme overrides the system"

    page.goto(server.host_page("accent", css=":root { --qa-accent: rgb(0, 128, 96); }"))
    expect(page.locator("qa-chat .launcher")).to_be_visible()
    assert style(page.locator("qa-chat .launcher"), "background-color") == ["rgb(0, 128, 96)"]
    page.goto(server.host_page("attr", attrs={"data-accent": "rgb(120, 0, 60)", "data-position": "left"}))
    launcher = page.locator("qa-chat .launcher")
    expect(launcher).to_be_visible()
    assert style(launcher, "background-color") == ["rgb(120, 0, 60)"]
    box = launcher.bounding_box()
    assert box and box["x"] < 100

    page.emulate_media(color_scheme="light")
    page.goto(server.host_page("hostile", css=HOSTILE_CSS, attrs={"data-open": "true"}))
    expect(page.locator("qa-chat .input")).to_be_visible()
    title = page.locator("qa-chat .title")
    color, font, line_height = style(title, "color", "font-family", "line-height")
    assert color != "rgb(255, 0, 0)" and "Comic" not in font and line_height != "48px"
    assert style(panel, "background-color") == ["rgb(255, 255, 255)"]
    bot = ask(page, ANSWERED)
    expect(bot.locator(".chip").first).to_be_visible()

    page.goto(server.host_page("bare", widget=False))
    host_button = page.locator("#host-button")
    without = style(host_button, "background-color", "border-radius", "color", "font-weight")
    page.goto(server.host_page("with", attrs={"data-open": "true"}))
    expect(page.locator("qa-chat .panel")).to_be_visible()
    assert style(host_button, "background-color", "border-radius", "color", "font-weight") == without


def test_starter_questions_from_the_script_tag(server: LiveServer, page: Page) -> None:
    page.goto(
        server.host_page("starters", attrs={"data-open": "true", "data-starters": '["Alpha?", "Beta?"]'})
    )
    expect(page.locator("qa-chat .starter")).to_have_text(["Alpha?", "Beta?"])
    page.goto(
        server.host_page(
            "pipes", attrs={"data-open": "true", "data-starters": "Who? | What did Putin show Kim?"}
        )
    )
    expect(page.locator("qa-chat .starter")).to_have_text(["Who?", ANSWERED])
    page.locator("qa-chat .starter").nth(1).click()
    expect(page.locator("qa-chat article.msg.bot")).to_have_attribute("data-state", "done")


def test_embedding_on_another_origin(server: LiveServer, page: Page) -> None:
    requests: list[Any] = []
    page.on("request", lambda r: requests.append(r) if "/v1/" in r.url else None)
    page.goto(server.host_page("cross", origin=server.other_origin, attrs={"data-open": "true"}))
    assert page.url.startswith(server.other_origin) and not server.url.startswith(server.other_origin)
    bot = ask(page, ANSWERED)
    expect(bot).to_have_attribute("data-state", "done")
    bot.locator(".chip").first.click()
    expect(page.locator("qa-chat .source mark")).to_have_text(
        api_answer(server, ANSWERED)["citations"][0]["quote"]
    )
    api_calls = [r for r in requests if r.method != "OPTIONS"]
    assert {httpx.URL(r.url).path for r in api_calls} == {"/v1/chat", "/v1/documents/kim-russia-visit"}
    for request in api_calls:
        assert request.url.startswith(server.url), "API calls go to the widget's own server"
        assert request.all_headers()["authorization"] == "Bearer pk_test_widget"


def test_full_page_chat_at_root(server: LiveServer, page: Page, shots: Path) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.goto(server.url)
    panel = page.locator("qa-chat .panel")
    expect(panel).to_be_visible()
    expect(page.locator("qa-chat .launcher")).to_have_count(0)
    box = panel.bounding_box()
    assert box and box["height"] == 800 and box["width"] == 860
    expect(page.locator("qa-chat .title")).to_have_text("Ask the article")
    page.locator("qa-chat .starter").first.click()
    bot = page.locator("qa-chat article.msg.bot")
    expect(bot).to_have_attribute("data-state", "done")
    bot.locator(".chip").first.click()
    expect(page.locator("qa-chat .source mark")).to_be_visible()
    save_screenshot(page, shots / "chat-page.png")
    page.keyboard.press("Escape")
    expect(page.locator("qa-chat .source")).to_be_hidden()
    expect(panel).to_be_visible()  # the full page has nothing to close
    assert console == [], "the page's Content-Security-Policy blocked nothing"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_accessibility_violations(server: LiveServer, page: Page, scheme: str) -> None:
    """axe-core (bundled by axe-playwright-python) audits the open widget (answer, refusal, chips,
    source), the document reader and the full-page chat."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    page.emulate_media(color_scheme=scheme)
    page.goto(server.host_page("plain", attrs={"data-open": "true"}))
    ask(page, ANSWERED)
    ask(page, REFUSED)
    page.locator("qa-chat .chip").first.click()
    expect(page.locator("qa-chat .source mark")).to_be_visible()
    audits = {"widget": axe.run(page, context={"include": [["qa-chat"]]})}
    with page.context.expect_page() as opened:
        page.locator("qa-chat .source a.open-doc").click()
    reader = opened.value
    expect(reader.locator("#highlight")).to_be_focused()
    audits["reader"] = axe.run(reader)
    page.goto(server.url)
    ask(page, ANSWERED)
    audits["full page"] = axe.run(page)
    violations = [
        f"{where}: {v['id']} ({v['impact']}): {[(n['target'], n['html'][:120]) for n in v['nodes']]}"
        for where, results in audits.items()
        for v in results.response["violations"]
    ]
    assert violations == []


def test_rendering_helpers(server: LiveServer, page: Page) -> None:
    """The offset and paragraph logic, run as the browser runs it (edge cases the corpus lacks)."""
    page.goto(server.host_page("bare", widget=False))
    results = page.evaluate(
        """async (url) => {
        const r = await import(url);
        const long = "x ".repeat(400);
        const text = `${long}Needle sentence.${long}\\nNext line.`;
        const start = long.length, end = start + "Needle sentence.".length;
        const clipped = r.passage(text, {start, end, quote: "Needle sentence."});
        const wrong = r.passage(text, {start: 0, end: 6, quote: "Needle"});
        const bold = (n) => Object.assign(document.createElement("b"), {textContent: n});
        const chips = r.answerNodes("A [1] b [12]", bold);
        return {
          astral: r.codePointIndexer("a😀b")(2),
          plain: r.codePointIndexer("abc")(2),
          middle: r.paragraphBounds("one\\ntwo three\\nfour", 4, 7),
          first: r.paragraphBounds("one\\ntwo", 0, 3),
          trailingNewline: r.paragraphBounds("ab\\ncd\\nef", 3, 6),
          clippedText: clipped.node.textContent, clippedMark: clipped.node.querySelector("mark").textContent,
          clippedExact: clipped.exact, wrongExact: wrong.exact, wrongMark: wrong.node.textContent,
          chips: chips.map((n) => n.nodeName + ":" + n.textContent),
          plainAnswer: r.plainAnswer("Hi [1]. There [2]"),
        };
        }""",
        f"{server.url}widget/render.js",
    )
    assert results["astral"] == 3 and results["plain"] == 2
    assert results["middle"] == [4, 13] and results["first"] == [0, 3]
    assert results["trailingNewline"] == [3, 5], "a quote ending in its line break keeps to its line"
    assert results["clippedExact"] is True and results["clippedMark"] == "Needle sentence."
    text = results["clippedText"]
    assert text.startswith("…") and text.endswith("…") and len(text) < 800
    assert results["wrongExact"] is False and results["wrongMark"] == "Needle"
    assert results["chips"] == ["#text:A ", "B:1", "#text: b ", "B:12"]
    assert results["plainAnswer"] == "Hi. There"


def test_embedding_on_an_origin_the_key_does_not_allow_is_refused(server: LiveServer, page: Page) -> None:
    """A page on a third origin (another port) is not in the widget key's allowlist."""
    import http.server
    import threading

    html_page = server.pages[server.host_page("foreign", attrs={"data-open": "true"}).rsplit("/", 1)[1]]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html_page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    foreign = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=foreign.serve_forever, daemon=True)
    thread.start()
    try:
        chat_responses: list[int] = []
        page.on("response", lambda r: chat_responses.append(r.status) if r.url.endswith("/v1/chat") else None)
        page.goto(f"http://127.0.0.1:{foreign.server_address[1]}/")
        bot = ask(page, ANSWERED)
        expect(bot).to_have_attribute("data-state", "error")
        expect(bot.locator(".chip")).to_have_count(0)
        assert 200 not in chat_responses
        # The panel says what is wrong, not "Can't reach the server" (issue 14).
        expect(bot.locator(".error p")).to_have_text(
            re.compile(r"^This site is not allowed to use the chat server: .*origin")
        )
    finally:
        foreign.shutdown()
        thread.join(timeout=5)
        foreign.server_close()
