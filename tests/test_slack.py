"""The Slack bot end to end: real slack_bolt/slack_sdk, our app under uvicorn, a stand-in Slack.

Events are POSTed over HTTP to ``/slack/events`` signed like Slack signs them; the bot's Web API
calls and ``response_url`` replies land on the loopback stand-in (``tests/slack_standin.py``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from qa.api.app import create_app
from qa.config import Settings, SlackSettings
from qa.contract import Answer, Turn
from qa.errors import NotFoundError
from qa.pipeline import QAPipeline
from qa.slack.blocks import escape
from qa.storage.factory import UnavailableStore
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder
from tests.live import serve
from tests.slack_standin import (
    BOT_USER,
    TEAM,
    SlackStandIn,
    event_body,
    mention,
    message_event,
    post_to_app,
    sign,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-0000-test-token"
PUBLIC = "https://qa.example.org"


class RecordingPipeline:
    """The real ``QAPipeline`` (fake embedder), noting what each surface call passed in."""

    def __init__(self, inner: QAPipeline) -> None:
        self.inner = inner
        self.calls: list[tuple[str, list[Turn], str | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def answer(
        self, question: str, history: list[Turn] | None = None, conversation_id: str | None = None
    ) -> Answer:
        self.calls.append((question, list(history or []), conversation_id))
        return await self.inner.answer(question, history, conversation_id)


class FakeStore:
    """Implements the ``ConversationStore`` and ``FeedbackStore`` protocols in memory."""

    def __init__(self) -> None:
        self.feedback: list[tuple[str, str, str | None, str, str]] = []
        self.recorded: list[tuple[str, Answer]] = []
        self.owners: dict[str, str] = {}

    async def add_feedback(
        self, message_id: str, rating: str, comment: str | None, source: str, owner: str
    ) -> bool:
        self.feedback.append((message_id, rating, comment, source, owner))
        return False

    async def record(self, question: str, answer: Answer, owner: str) -> None:
        if self.owners.setdefault(answer.conversation_id, owner) != owner:
            raise NotFoundError("No conversation with that id.")
        self.recorded.append((question, answer))

    async def history(self, conversation_id: str, owner: str) -> list[Turn]:
        if self.owners.get(conversation_id) != owner:
            raise NotFoundError("No conversation with that id.")
        return []


@pytest.fixture(scope="module")
def small_pipeline(tmp_path_factory: pytest.TempPathFactory) -> QAPipeline:
    settings = make_settings(tmp_path_factory.mktemp("slack"))
    return QAPipeline.load(settings, embedder_factory=lambda _: FakeEmbedder())


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn(TOKEN)
    stand_in.start()
    yield stand_in
    stand_in.stop()


def with_slack(settings: Settings, slack: SlackStandIn, **options: Any) -> Settings:
    config = SlackSettings(
        bot_token=SecretStr(TOKEN), signing_secret=SecretStr(SECRET), api_base_url=slack.api_url, **options
    )
    return settings.model_copy(update={"public_url": PUBLIC, "slack": config})


class Bot:
    """A running app with the bot mounted, and helpers to talk to it as Slack would."""

    def __init__(self, url: str, app: FastAPI, slack: SlackStandIn, store: FakeStore | None) -> None:
        self.url, self.app, self.slack, self.store = url, app, slack, store
        self._ids = 0

    def send_event(
        self, event: dict[str, Any], event_id: str | None = None, **headers: str
    ) -> httpx.Response:
        self._ids += 1
        body = event_body(event, event_id or f"Ev{self._ids:08d}")
        return post_to_app(self.url, SECRET, body, headers=headers)

    def send_form(self, fields: dict[str, str]) -> httpx.Response:
        return post_to_app(
            self.url, SECRET, urllib.parse.urlencode(fields), "application/x-www-form-urlencoded"
        )

    def click(self, action_id: str, value: str, response_name: str, user: str = "U0ASKER") -> httpx.Response:
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user},
            "channel": {"id": "C0GENERAL"},
            "container": {"type": "message", "is_ephemeral": True},
            "trigger_id": "1.2.3",
            "response_url": self.slack.response_url(response_name),
            "actions": [
                {"type": "button", "action_id": action_id, "block_id": "qa_answer_actions", "value": value}
            ],
        }
        return self.send_form({"payload": json.dumps(payload)})

    def wait_idle(self) -> None:
        bot = self.app.state.slack_bot
        self.slack.wait_for(lambda: not bot.busy)

    def posts(self) -> list[dict[str, Any]]:
        return [c.args for c in self.slack.calls_to("chat.postMessage")]


@contextmanager
def running_bot(
    settings: Settings, pipeline: object, slack: SlackStandIn, store: FakeStore | None
) -> Iterator[Bot]:
    app = create_app(settings, lambda _: pipeline)  # type: ignore[arg-type,return-value]
    with serve(app) as url:
        # Set after startup so it replaces whatever store the lifespan may have configured.
        if store is not None:
            app.state.runtime.store = store
        yield Bot(url, app, slack, store)


@pytest.fixture
def recording(small_pipeline: QAPipeline) -> RecordingPipeline:
    return RecordingPipeline(small_pipeline)


@pytest.fixture
def bot(settings: Settings, slack: SlackStandIn, recording: RecordingPipeline) -> Iterator[Bot]:
    with running_bot(with_slack(settings, slack), recording, slack, FakeStore()) as running:
        yield running


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    actions = [b for b in blocks if b["type"] == "actions"]
    return {e["action_id"]: e["value"] for block in actions for e in block["elements"]}


def ask_in_channel(bot: Bot, channel: str, question: str) -> dict[str, Any]:
    """Someone mentions the bot in ``channel``; returns their stored message."""
    message = bot.slack.add_message(channel, "U0ASKER", f"<@{BOT_USER}> {question}")
    assert bot.send_event(mention(channel, message)).status_code == 200
    return message


# -- the mention, with the real model and FAISS -----------------------------------------------


@pytest.mark.integration
def test_mention_gets_a_threaded_answer_with_sources(
    real_settings: Settings, real_pipeline: QAPipeline, slack: SlackStandIn
) -> None:
    question = "What did Chun In-bum say about munitions workers?"
    expected = real_pipeline.ask(question)
    assert expected.answerable and expected.citations  # precondition: the article answers this
    store = FakeStore()
    with running_bot(with_slack(real_settings, slack), real_pipeline, slack, store) as bot:
        asked = ask_in_channel(bot, "C0GENERAL", question)
        slack.wait_for(lambda: bot.posts())
        bot.wait_idle()
        document = httpx.get(f"{bot.url}/v1/documents/{expected.citations[0].doc_id}").json()["text"]

    [post] = bot.posts()
    assert post["channel"] == "C0GENERAL" and post["thread_ts"] == asked["ts"]
    reactions = [
        (c.method, c.args["name"], c.args["timestamp"])
        for c in slack.calls
        if c.method.startswith("reactions")
    ]
    assert reactions == [
        ("reactions.add", "thinking_face", asked["ts"]),
        ("reactions.remove", "thinking_face", asked["ts"]),
    ]
    assert all(c.token == TOKEN for c in slack.calls)

    blocks = post["blocks"]
    texts = section_texts(blocks)
    assert texts[0] == escape(expected.answer) and post["text"] == escape(expected.answer)
    assert [b["type"] for b in blocks].count("divider") == 1
    sources = texts[1]
    assert sources.startswith("*Sources*")
    lines = sources.splitlines()[1:]
    assert len(lines) == len(expected.citations)
    markers = sorted({int(n) for n in re.findall(r"\[(\d+)\]", expected.answer)})
    numbers = []
    for line in lines:
        found = re.fullmatch(r"\*\[(\d+)\]\* “(.+)” — <([^|>]+)\|([^>]+)>", line)
        assert found, line
        number, quote, url, label = int(found[1]), found[2], found[3], found[4]
        numbers.append(number)
        link = re.fullmatch(rf"{PUBLIC}/v1/documents/[\w-]+#start=(\d+)&amp;end=(\d+)", url)
        assert link is not None, url
        start, end = (int(v) for v in link.groups())
        cited = next(c for c in expected.citations if c.id == number)
        assert (start, end) == (cited.start, cited.end) and document[start:end] == cited.quote
        shown = quote.replace("&amp;", "&").removesuffix("…")
        assert " ".join(cited.quote.split()).startswith(shown)
        assert f"chars {start}–{end}" in label
    assert numbers == markers  # Sources numbered exactly like the answer's markers
    feedback = buttons(blocks)
    assert set(feedback) == {"qa_feedback_up", "qa_feedback_down"}
    assert feedback["qa_feedback_up"] == feedback["qa_feedback_down"] == store.recorded[0][1].message_id
    assert store.recorded[0][0] == question
    assert store.recorded[0][1].conversation_id == f"slack-{TEAM}-C0GENERAL-{asked['ts'].replace('.', '-')}"


# -- threads, DMs ----------------------------------------------------------------------------


def test_thread_follow_up_is_answered_with_the_thread_as_history(
    bot: Bot, recording: RecordingPipeline
) -> None:
    first = ask_in_channel(bot, "C0GENERAL", "How can technical blueprints be sent?")
    bot.slack.wait_for(lambda: len(bot.posts()) == 1)
    answer_text = bot.posts()[0]["text"]
    reply = bot.slack.add_message("C0GENERAL", "U0ASKER", "And who sent them?", thread_ts=first["ts"])
    assert bot.send_event(message_event("C0GENERAL", reply, "channel")).status_code == 200
    bot.slack.wait_for(lambda: len(bot.posts()) == 2)
    bot.wait_idle()

    assert bot.posts()[1]["thread_ts"] == first["ts"]
    (q1, h1, c1), (q2, h2, c2) = recording.calls
    assert q1 == "How can technical blueprints be sent?" and h1 == []
    assert q2 == "And who sent them?"
    assert h2 == [
        Turn(role="user", content="How can technical blueprints be sent?"),
        Turn(
            role="assistant",
            content=answer_text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"),
        ),
    ]
    assert c1 == c2  # one conversation per thread


def test_replies_in_threads_without_the_bot_are_left_alone(bot: Bot, recording: RecordingPipeline) -> None:
    root = bot.slack.add_message("C0GENERAL", "U0OTHER", "Lunch?")
    reply = bot.slack.add_message("C0GENERAL", "U0ASKER", "Sure", thread_ts=root["ts"])
    assert bot.send_event(message_event("C0GENERAL", reply, "channel")).status_code == 200
    # A later mention is answered; by then the earlier reply has been looked at and ignored.
    ask_in_channel(bot, "C0OTHER", "Who was the visit a jolt for?")
    bot.slack.wait_for(lambda: len(bot.posts()) == 1)
    bot.wait_idle()
    assert [p["channel"] for p in bot.posts()] == ["C0OTHER"]
    assert [q for q, _, _ in recording.calls] == ["Who was the visit a jolt for?"]


def test_follow_ups_when_the_thread_cannot_be_read(bot: Bot, recording: RecordingPipeline) -> None:
    first = ask_in_channel(bot, "C0GENERAL", "How can technical blueprints be sent?")
    bot.slack.wait_for(lambda: len(bot.posts()) == 1)
    bot.slack.fail("conversations.replies", "ratelimited", times=2)  # the call and its one retry
    reply = bot.slack.add_message("C0GENERAL", "U0ASKER", "And who sent them?", thread_ts=first["ts"])
    bot.send_event(message_event("C0GENERAL", reply, "channel"))
    bot.slack.wait_for(lambda: len(bot.posts()) == 2)
    assert recording.calls[-1][:2] == ("And who sent them?", [])  # a thread we answered in: no history

    # A thread this process has not seen: unreadable means unknown, so no answer, and no verdict kept.
    root = bot.slack.add_message("C0OLD", "U0ASKER", f"<@{BOT_USER}> Who was the visit a jolt for?")
    bot.slack.add_message("C0OLD", BOT_USER, "An earlier answer [1].", thread_ts=root["ts"])
    bot.slack.fail("conversations.replies", "ratelimited", times=2)
    unread = bot.slack.add_message("C0OLD", "U0ASKER", "Why?", thread_ts=root["ts"])
    bot.send_event(message_event("C0OLD", unread, "channel"))
    bot.slack.wait_for(lambda: len(bot.slack.calls_to("conversations.replies")) == 4)
    bot.wait_idle()
    later = bot.slack.add_message("C0OLD", "U0ASKER", "And then?", thread_ts=root["ts"])
    bot.send_event(message_event("C0OLD", later, "channel"))
    bot.slack.wait_for(lambda: len(bot.posts()) == 3)
    bot.wait_idle()
    assert [p["channel"] for p in bot.posts()] == ["C0GENERAL", "C0GENERAL", "C0OLD"]
    question, history, _ = recording.calls[-1]
    assert question == "And then?"
    assert [t.content for t in history] == ["Who was the visit a jolt for?", "An earlier answer [1].", "Why?"]


def test_mention_only_mode_ignores_plain_thread_replies(
    settings: Settings, slack: SlackStandIn, recording: RecordingPipeline
) -> None:
    with running_bot(with_slack(settings, slack, thread_follow_ups="mention"), recording, slack, None) as bot:
        first = ask_in_channel(bot, "C0GENERAL", "How can technical blueprints be sent?")
        slack.wait_for(lambda: len(bot.posts()) == 1)
        reply = slack.add_message("C0GENERAL", "U0ASKER", "And who sent them?", thread_ts=first["ts"])
        bot.send_event(message_event("C0GENERAL", reply, "channel"))
        again = slack.add_message(
            "C0GENERAL", "U0ASKER", f"<@{BOT_USER}> Who sent them?", thread_ts=first["ts"]
        )
        bot.send_event(mention("C0GENERAL", again))
        slack.wait_for(lambda: len(bot.posts()) == 2)
        bot.wait_idle()
    assert [q for q, _, _ in recording.calls] == ["How can technical blueprints be sent?", "Who sent them?"]
    assert [t.content for t in recording.calls[1][1]][:1] == ["How can technical blueprints be sent?"]
    assert "And who sent them?" in [t.content for t in recording.calls[1][1]]  # still part of the history


def test_direct_message_is_answered_in_the_dm_with_recent_history(
    bot: Bot, recording: RecordingPipeline
) -> None:
    earlier = bot.slack.add_message("D0DM", "U0ASKER", "Who was the visit a jolt for?")
    bot.send_event(message_event("D0DM", earlier, "im"))
    bot.slack.wait_for(lambda: len(bot.posts()) == 1)
    now = bot.slack.add_message("D0DM", "U0ASKER", "How can technical blueprints be sent?")
    bot.send_event(message_event("D0DM", now, "im"))
    bot.slack.wait_for(lambda: len(bot.posts()) == 2)
    bot.wait_idle()

    first, second = bot.posts()
    assert first["channel"] == second["channel"] == "D0DM"
    assert "thread_ts" not in first and "thread_ts" not in second  # straight into the DM
    assert recording.calls[0][1] == []
    assert [t.role for t in recording.calls[1][1]] == ["user", "assistant"]
    assert recording.calls[1][1][0].content == "Who was the visit a jolt for?"


# -- slash command, share, feedback ------------------------------------------------------------


def test_slash_command_answers_privately_and_can_be_shared(bot: Bot) -> None:
    acked = bot.send_form(
        {
            "command": "/ask",
            "text": "How can technical blueprints be sent?",
            "team_id": TEAM,
            "channel_id": "C0GENERAL",
            "user_id": "U0ASKER",
            "trigger_id": "1.2.3",
            "response_url": bot.slack.response_url("command"),
        }
    )
    assert acked.status_code == 200 and "Looking that up" in acked.text
    bot.slack.wait_for(lambda: bot.slack.responses)
    [private] = [r.args for r in bot.slack.responses]
    assert private["response_type"] == "ephemeral"
    assert bot.posts() == []  # nothing public yet
    values = buttons(private["blocks"])
    assert set(values) == {"qa_feedback_up", "qa_feedback_down", "qa_share"}
    answer_sections = section_texts(private["blocks"])[1:]

    assert bot.click("qa_share", values["qa_share"], "share").status_code == 200
    bot.slack.wait_for(lambda: len(bot.slack.responses) == 3)
    shared, removed = (r.args for r in bot.slack.responses[1:])
    assert shared["response_type"] == "in_channel" and shared["replace_original"] is False
    texts = section_texts(shared["blocks"])
    assert texts[0] == "<@U0ASKER> asked: “How can technical blueprints be sent?”"
    assert texts[1:] == answer_sections  # exactly what the asker saw
    assert "qa_share" not in buttons(shared["blocks"])
    assert removed["delete_original"] is True


def test_empty_slash_command_explains_usage(bot: Bot) -> None:
    acked = bot.send_form(
        {
            "command": "/ask",
            "text": "  ",
            "team_id": TEAM,
            "user_id": "U0ASKER",
            "channel_id": "C0GENERAL",
            "response_url": bot.slack.response_url("empty"),
        }
    )
    assert acked.status_code == 200 and "/ask" in acked.text
    bot.wait_idle()
    assert bot.slack.responses == []


def test_sharing_an_unknown_answer_says_so(bot: Bot) -> None:
    bot.click("qa_share", "m_unknown", "share")
    bot.slack.wait_for(lambda: bot.slack.responses)
    [reply] = bot.slack.responses
    assert reply.args["response_type"] == "ephemeral" and "no longer available" in reply.args["text"]


def test_feedback_buttons_store_feedback(bot: Bot) -> None:
    ask_in_channel(bot, "C0GENERAL", "How can technical blueprints be sent?")
    bot.slack.wait_for(lambda: bot.posts())
    message_id = buttons(bot.posts()[0]["blocks"])["qa_feedback_down"]
    assert bot.click("qa_feedback_down", message_id, "vote", user="U0READER").status_code == 200
    bot.slack.wait_for(lambda: bot.slack.responses)
    assert bot.store is not None
    # Filed under the channel's owner: only answers of this workspace and channel can be rated.
    assert bot.store.feedback == [(message_id, "down", None, "slack", f"slack:{TEAM}:C0GENERAL")]
    assert bot.store.recorded[0][1].message_id == message_id  # feedback refers to a stored answer
    reply = bot.slack.responses[0].args
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert "Thanks" in reply["text"]


def test_feedback_when_the_store_is_down_is_not_lost_silently(
    settings: Settings, slack: SlackStandIn, recording: RecordingPipeline
) -> None:
    with running_bot(with_slack(settings, slack), recording, slack, None) as bot:
        bot.app.state.runtime.store = UnavailableStore("disk full")
        bot.click("qa_feedback_up", "m_0123", "vote")
        slack.wait_for(lambda: slack.responses)
    assert "could not be recorded" in slack.responses[0].args["text"]


# -- redeliveries, signatures, refusals, Slack errors -------------------------------------------


def test_redelivered_events_are_answered_once(bot: Bot, recording: RecordingPipeline) -> None:
    asked = bot.slack.add_message("C0GENERAL", "U0ASKER", f"<@{BOT_USER}> Who was the visit a jolt for?")
    event = mention("C0GENERAL", asked)
    assert bot.send_event(event, "Ev0RETRY").status_code == 200
    retried = bot.send_event(
        event, "Ev0RETRY", **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert retried.status_code == 200
    # The same message also arrives as a channel message event (different event id).
    bot.send_event(message_event("C0GENERAL", asked, "channel"), "Ev0OTHER")
    bot.send_event(event, "Ev0RETRY", **{"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_error"})
    bot.slack.wait_for(lambda: bot.posts())
    ask_in_channel(bot, "C0OTHER", "How can technical blueprints be sent?")  # a barrier: later, answered
    bot.slack.wait_for(lambda: len(bot.posts()) >= 2)
    bot.wait_idle()
    assert [p["channel"] for p in bot.posts()] == ["C0GENERAL", "C0OTHER"]
    assert len(recording.calls) == 2


@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong_secret", "stale", "future", "not_a_number", "body_changed"],
)
def test_bad_signatures_get_401_and_no_answer(bot: Bot, tamper: str) -> None:
    asked = bot.slack.add_message("C0GENERAL", "U0ASKER", f"<@{BOT_USER}> Who was the visit a jolt for?")
    body = event_body(mention("C0GENERAL", asked), "Ev0SIGNED")
    now = int(time.time())
    if tamper == "missing":
        response = post_to_app(bot.url, None, body)
    elif tamper == "wrong_secret":
        response = post_to_app(bot.url, "not-the-secret", body)
    elif tamper in ("stale", "future"):
        response = post_to_app(
            bot.url, SECRET, body, timestamp=str(now - 600 if tamper == "stale" else now + 600)
        )
    elif tamper == "not_a_number":
        response = post_to_app(bot.url, SECRET, body, timestamp="soon")
    else:
        signed = sign(SECRET, body, str(now))
        response = httpx.post(
            f"{bot.url}/slack/events",
            content=body.replace("visit", "trip").encode(),
            headers={
                "X-Slack-Request-Timestamp": str(now),
                "X-Slack-Signature": signed,
                "Content-Type": "application/json",
            },
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    bot.wait_idle()
    assert bot.slack.calls == []  # not even auth.test: nothing was processed
    # The genuine event is still answered afterwards (the rejected one was not marked as seen).
    assert post_to_app(bot.url, SECRET, body).status_code == 200
    bot.slack.wait_for(lambda: bot.posts())


def test_url_verification_challenge(bot: Bot) -> None:
    body = json.dumps(
        {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    response = post_to_app(bot.url, SECRET, body)
    assert response.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response.text


@pytest.mark.integration
def test_not_in_the_article_says_so_without_sources(
    real_settings: Settings, real_pipeline: QAPipeline, slack: SlackStandIn
) -> None:
    question = "What is the boiling point of tungsten in kelvin?"
    expected = real_pipeline.ask(question)
    assert not expected.answerable  # precondition: the pipeline refuses this one
    with running_bot(with_slack(real_settings, slack), real_pipeline, slack, None) as bot:
        ask_in_channel(bot, "C0GENERAL", question)
        slack.wait_for(lambda: bot.posts())
    blocks = bot.posts()[0]["blocks"]
    assert section_texts(blocks) == [escape(expected.answer)]
    assert "article" in expected.answer
    assert "divider" not in [b["type"] for b in blocks]
    assert "Sources" not in json.dumps(blocks)
    assert set(buttons(blocks)) == {"qa_feedback_up", "qa_feedback_down"}


def test_a_rate_limited_post_is_retried_once(bot: Bot) -> None:
    bot.slack.fail("chat.postMessage", "ratelimited", times=1)
    ask_in_channel(bot, "C0GENERAL", "How can technical blueprints be sent?")
    bot.slack.wait_for(lambda: len(bot.slack.calls_to("chat.postMessage")) == 2)
    bot.wait_idle()
    assert len(bot.slack.messages["C0GENERAL"]) == 2  # the question and exactly one answer


def test_slack_errors_are_survived(bot: Bot, recording: RecordingPipeline) -> None:
    for method in ("reactions.add", "reactions.remove", "chat.postMessage"):
        bot.slack.fail(method, "ratelimited", times=2)  # more than the one retry
    bot.slack.fail("conversations.replies", "ratelimited", times=2)
    first = ask_in_channel(bot, "C0GENERAL", "How can technical blueprints be sent?")
    bot.slack.wait_for(lambda: len(bot.slack.calls_to("chat.postMessage")) == 2)
    bot.wait_idle()
    assert len(bot.slack.messages["C0GENERAL"]) == 1  # no answer could be posted, nothing crashed
    # Thread history unavailable (rate limited): the follow-up is still answered, without history.
    again = bot.slack.add_message(
        "C0GENERAL", "U0ASKER", f"<@{BOT_USER}> Who sent them?", thread_ts=first["ts"]
    )
    bot.send_event(mention("C0GENERAL", again))
    bot.slack.wait_for(lambda: len(bot.slack.messages["C0GENERAL"]) == 3)
    assert recording.calls[-1][1] == []
    assert httpx.get(f"{bot.url}/healthz").json() == {"status": "ok"}


def test_slack_error_replies_are_channel_not_found(bot: Bot) -> None:
    bot.slack.fail("chat.postMessage", "channel_not_found")
    ask_in_channel(bot, "C0GONE", "How can technical blueprints be sent?")
    bot.slack.wait_for(lambda: bot.slack.calls_to("chat.postMessage"))
    bot.wait_idle()
    assert len(bot.slack.calls_to("chat.postMessage")) == 1  # not retried: it would fail again
    assert bot.slack.calls_to("reactions.remove")


# -- configuration ----------------------------------------------------------------------------


def test_route_absent_when_not_configured(settings: Settings, small_pipeline: QAPipeline) -> None:
    partial = (SlackSettings(signing_secret=SecretStr(SECRET)), SlackSettings(bot_token=SecretStr(TOKEN)))
    for slack in (SlackSettings(), *partial):
        app = create_app(settings.model_copy(update={"slack": slack}), lambda _: small_pipeline)
        with TestClient(app) as client:
            assert client.post("/slack/events", content=b"{}").status_code == 404
            assert client.get("/healthz").status_code == 200
        assert not hasattr(app.state, "slack_bot")


def test_socket_mode_receives_events_over_a_websocket(
    settings: Settings, slack: SlackStandIn, recording: RecordingPipeline
) -> None:
    config = SlackSettings(
        bot_token=SecretStr(TOKEN), app_token=SecretStr(slack.app_token), api_base_url=slack.api_url
    )
    socket_settings = settings.model_copy(update={"public_url": PUBLIC, "slack": config})
    app = create_app(socket_settings, lambda _: recording)  # type: ignore[arg-type,return-value]
    with serve(app) as url:
        assert httpx.post(f"{url}/slack/events", content=b"{}").status_code == 404  # no HTTP route
        asked = slack.add_message("C0GENERAL", "U0ASKER", f"<@{BOT_USER}> Who was the visit a jolt for?")
        envelope = {
            "envelope_id": "env-1",
            "type": "events_api",
            "accepts_response_payload": False,
            "payload": json.loads(event_body(mention("C0GENERAL", asked), "Ev0SOCKET")),
        }
        slack.push_envelope(envelope)
        slack.wait_for(lambda: slack.calls_to("chat.postMessage"))
        slack.wait_for(lambda: slack.socket_acks)
    assert slack.socket_acks[0]["envelope_id"] == "env-1"
    [post] = [c.args for c in slack.calls_to("chat.postMessage")]
    assert post["thread_ts"] == asked["ts"] and section_texts(post["blocks"])
    assert [q for q, _, _ in recording.calls] == ["Who was the visit a jolt for?"]
    assert slack.calls_to("apps.connections.open")[0].token == slack.app_token


def test_secrets_never_reach_the_logs(
    settings: Settings, slack: SlackStandIn, recording: RecordingPipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with running_bot(with_slack(settings, slack), recording, slack, FakeStore()) as bot:
        ask_in_channel(bot, "C0GENERAL", "How can technical blueprints be sent?")
        slack.wait_for(lambda: bot.posts())
        bot.click("qa_feedback_up", buttons(bot.posts()[0]["blocks"])["qa_feedback_up"], "vote")
        post_to_app(bot.url, "not-the-secret", "{}")
        slack.wait_for(lambda: slack.responses)
        bot.wait_idle()
    assert "chat.postMessage" in caplog.text  # the client did log its requests at DEBUG
    assert TOKEN not in caplog.text and SECRET not in caplog.text


def test_secrets_are_not_in_settings_output(settings: Settings, slack: SlackStandIn) -> None:
    configured = with_slack(settings, slack)
    shown = repr(configured) + str(configured.model_dump())
    assert TOKEN not in shown and SECRET not in shown


def test_settings_come_from_the_documented_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_SLACK__BOT_TOKEN", TOKEN)
    monkeypatch.setenv("QA_SLACK__SIGNING_SECRET", SECRET)
    monkeypatch.setenv("QA_SLACK__APP_TOKEN", "xapp-1-x")
    monkeypatch.setenv("QA_SLACK__API_BASE_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("QA_SLACK__THREAD_FOLLOW_UPS", "mention")
    monkeypatch.setenv("QA_PUBLIC_URL", PUBLIC)
    loaded = Settings()
    assert loaded.slack.bot_token is not None and loaded.slack.bot_token.get_secret_value() == TOKEN
    assert (
        loaded.slack.signing_secret is not None and loaded.slack.signing_secret.get_secret_value() == SECRET
    )
    assert loaded.slack.app_token is not None and loaded.slack.api_base_url == "http://127.0.0.1:9/api/"
    assert loaded.slack.thread_follow_ups == "mention" and loaded.public_url == PUBLIC


def test_slack_mention_turn_is_stored_and_counted(
    settings: Settings, slack: SlackStandIn, small_pipeline: QAPipeline
) -> None:
    store = FakeStore()
    with running_bot(with_slack(settings, slack), small_pipeline, slack, store) as bot:
        ask_in_channel(bot, "C0GENERAL", "How can technical blueprints be sent?")
        slack.wait_for(lambda: bot.posts())
        bot.wait_idle()
        metrics = httpx.get(f"{bot.url}/metrics").text
    assert [question for question, _ in store.recorded] == ["How can technical blueprints be sent?"]
    assert 'surface="slack"} 1.0' in metrics


# -- hostile and broken input (issue 12, finding 3) -------------------------------------------


def test_plain_text_gateway_errors_never_stop_the_answer(
    bot: Bot, recording: RecordingPipeline, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503 "upstream connect error" on every cosmetic call: the answer is posted all the same."""
    for method in ("reactions.add", "reactions.remove", "conversations.replies", "conversations.history"):
        bot.slack.fail(method, "plain:upstream connect error", times=3)
    with caplog.at_level(logging.WARNING, logger="qa.slack"):
        first = ask_in_channel(bot, "C0GENERAL", "How can technical blueprints be sent?")
        bot.slack.wait_for(lambda: bot.posts())
        follow = bot.slack.add_message("C0GENERAL", "U0ASKER", f"<@{BOT_USER}> Who?", thread_ts=first["ts"])
        bot.send_event(mention("C0GENERAL", follow))  # reads the thread: conversations.replies fails
        dm = bot.slack.add_message("D0DM", "U0ASKER", "How can technical blueprints be sent?")
        bot.send_event(message_event("D0DM", dm, "im"))  # reads the DM: conversations.history fails
        bot.slack.wait_for(lambda: len(bot.posts()) == 3)
        bot.wait_idle()
    reasons = [r.getMessage() for r in caplog.records if "upstream connect error" in r.getMessage()]
    assert any("reaction" in r for r in reasons) and any("history" in r for r in reasons), reasons
    assert all("HTTP 503" in r for r in reasons)


def test_plain_text_error_on_the_post_is_logged_with_its_reason(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot.slack.fail("chat.postMessage", "plain:upstream connect error")
    with caplog.at_level(logging.WARNING, logger="qa.slack"):
        ask_in_channel(bot, "C0GENERAL", "How can technical blueprints be sent?")
        bot.slack.wait_for(lambda: bot.slack.calls_to("chat.postMessage"))
        bot.wait_idle()
    assert any("could not post" in r.getMessage() and "upstream" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no crashed task


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ('[{"type": "event_callback"}]', "application/json"),
        ("payload=%7Bbroken", "application/x-www-form-urlencoded"),
        ("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
    ],
)
def test_signed_but_malformed_bodies_are_400(bot: Bot, body: str, content_type: str) -> None:
    response = post_to_app(bot.url, SECRET, body, content_type)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_an_event_without_a_channel_is_ignored(bot: Bot, recording: RecordingPipeline) -> None:
    for event in (
        {"type": "app_mention", "user": "U0ASKER", "text": f"<@{BOT_USER}> hi", "ts": "1.000001"},
        {"type": "message", "user": "U0ASKER", "text": "hi", "ts": "1.000002", "channel_type": "im"},
    ):
        assert bot.send_event(event).status_code == 200
    bot.wait_idle()
    assert recording.calls == [] and bot.posts() == []
    assert httpx.get(f"{bot.url}/healthz").status_code == 200


def test_a_replayed_slash_command_is_answered_once(bot: Bot, recording: RecordingPipeline) -> None:
    fields = {
        "command": "/ask",
        "text": "How can technical blueprints be sent?",
        "team_id": TEAM,
        "channel_id": "C0GENERAL",
        "user_id": "U0ASKER",
        "response_url": bot.slack.response_url("command"),
    }
    body, stamp = urllib.parse.urlencode(fields), str(int(time.time()))
    form = "application/x-www-form-urlencoded"
    first = post_to_app(bot.url, SECRET, body, form, timestamp=stamp)
    replay = post_to_app(bot.url, SECRET, body, form, timestamp=stamp)  # captured and sent again
    assert first.status_code == 200 and replay.status_code == 200
    bot.slack.wait_for(lambda: bot.slack.responses)
    bot.wait_idle()
    assert len(recording.calls) == 1 and len(bot.slack.responses) == 1
