"""Unit tests for the pure Slack modules: Block Kit building and thread history."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from qa.contract import Answer, Citation, Turn
from qa.slack.blocks import (
    MAX_BLOCKS,
    SECTION_TEXT_LIMIT,
    answer_blocks,
    escape,
    notice_blocks,
    source_url,
    split_text,
    trim,
)
from qa.slack.bot import ASK_COMMAND
from qa.slack.history import plain_text, turns_from_messages

TEMPLATE = "{public_url}/v1/documents/{doc_id}#start={start}&end={end}"


def citation(n: int, quote: str = "A quoted sentence.", start: int = 10) -> Citation:
    return Citation(
        id=n, doc_id="kim-russia-visit", quote=quote, start=start, end=start + len(quote), score=0.9
    )


def answer(text: str, citations: list[Citation], answerable: bool = True) -> Answer:
    return Answer(
        answer=text, answerable=answerable, citations=citations, conversation_id="c_1", message_id="m_1"
    )


def link(c: Citation) -> str:
    return source_url(TEMPLATE, "https://qa.example.org/", c)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_answer_then_divider_sources_and_buttons() -> None:
    blocks = answer_blocks(answer("First [1]. Second [2].", [citation(2, start=50), citation(1)]), link)
    assert [b["type"] for b in blocks] == ["section", "divider", "section", "actions"]
    assert texts(blocks)[0] == "First [1]. Second [2]."
    sources = texts(blocks)[1].splitlines()
    assert sources[0] == "*Sources*"
    assert [re.match(r"\*\[(\d+)\]\*", line)[1] for line in sources[1:]] == ["1", "2"]  # type: ignore[index]
    assert "<https://qa.example.org/v1/documents/kim-russia-visit#start=10&amp;end=28|" in sources[1]
    assert all(b["text"]["verbatim"] is True for b in blocks if b["type"] == "section")
    assert [e["value"] for e in blocks[-1]["elements"]] == ["m_1", "m_1"]


def test_share_button_only_when_asked_for() -> None:
    plain = answer_blocks(answer("A [1].", [citation(1)]), link)
    shared = answer_blocks(answer("A [1].", [citation(1)]), link, share=True, preface="_You asked:_ x")
    assert [e["action_id"] for e in plain[-1]["elements"]] == ["qa_feedback_up", "qa_feedback_down"]
    assert shared[-1]["elements"][-1]["action_id"] == "qa_share"
    assert texts(shared)[0] == "_You asked:_ x"


def test_refusal_has_no_sources() -> None:
    blocks = answer_blocks(answer("I couldn't find that in the article.", [], answerable=False), link)
    assert [b["type"] for b in blocks] == ["section", "actions"]
    assert texts(blocks) == ["I couldn't find that in the article."]


def test_untrusted_text_cannot_mention_link_or_format_control() -> None:
    hostile = "<!channel> <https://evil.example|click me> & <@U123> [1]"
    quote = "<script>alert(1)</script> & <!here>"
    blocks = answer_blocks(answer(hostile, [citation(1, quote=quote)]), link)
    body = json.dumps(blocks)
    for raw in ("<!channel>", "<!here>", "<https://evil", "<@U123>", "<script>"):
        assert raw not in body
    assert (
        texts(blocks)[0] == "&lt;!channel&gt; &lt;https://evil.example|click me&gt; &amp; &lt;@U123&gt; [1]"
    )
    assert "“&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!here&gt;”" in texts(blocks)[1]


def test_titles_cannot_break_out_of_the_link() -> None:
    c = citation(1).model_copy(update={"title": "A|B> <!channel>", "doc_id": "a b/c"})
    line = texts(answer_blocks(answer("X [1].", [c]), link))[1].splitlines()[1]
    target, label = re.fullmatch(r".*<([^|>]+)\|([^>]+)>", line).groups()  # type: ignore[union-attr]
    assert target.startswith("https://qa.example.org/v1/documents/a%20b%2Fc#")
    assert label.startswith("A/B&gt; &lt;!channel&gt;, chars")


def test_long_titles_keep_the_character_span_visible() -> None:
    c = citation(1).model_copy(update={"title": "SEOUL, South Korea — " + "a very long headline " * 10})
    line = texts(answer_blocks(answer("X [1].", [c]), link))[1].splitlines()[1]
    label = re.fullmatch(r".*<[^|>]+\|([^>]+)>", line)[1]  # type: ignore[index]
    assert label.endswith("…, chars 10–28") and len(label) < 90


def test_long_quotes_are_trimmed_at_a_word() -> None:
    quote = "word " * 200
    line = texts(answer_blocks(answer("X [1].", [citation(1, quote=quote.strip())]), link, quote_chars=60))[1]
    shown = re.search(r"“(.*)”", line)[1]  # type: ignore[index]
    assert len(shown) <= 60 and shown.endswith("word…")


def test_long_answers_split_within_limits() -> None:
    sentence = "The delegation discussed munitions & missiles at length [1]. "
    text = sentence * 400  # ~25,000 characters
    blocks = answer_blocks(answer(text, [citation(1)]), link)
    sections = texts(blocks)
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(t) <= SECTION_TEXT_LIMIT for t in sections)
    answer_part = "".join(sections[:-1])
    assert answer_part.replace(" ", "") == escape(text).replace(" ", "")
    assert sections[-1].startswith("*Sources*")


def test_absurdly_long_answers_are_shortened_visibly() -> None:
    text = ("x" * 50 + " ") * 5000  # 255,000 characters: more than 50 sections hold
    blocks = answer_blocks(answer(text, [citation(1)]), link)
    assert len(blocks) == MAX_BLOCKS
    assert all(len(t) <= SECTION_TEXT_LIMIT for t in texts(blocks))
    assert "(answer shortened)" in texts(blocks)[-2]
    assert blocks[-1]["type"] == "actions" and texts(blocks)[-1].startswith("*Sources*")


def test_many_citations_keep_room_for_the_answer() -> None:
    cites = [citation(n, quote="q " * 600, start=n * 2000) for n in range(1, 201)]
    blocks = answer_blocks(answer("See [1].", cites), link)
    assert len(blocks) <= MAX_BLOCKS
    assert texts(blocks)[0] == "See [1]."
    assert all(len(t) <= SECTION_TEXT_LIMIT for t in texts(blocks))


@given(st.text(alphabet=st.sampled_from(list("ab &<>.\n[]1")), max_size=4000), st.integers(20, 300))
def test_split_text_respects_the_limit_and_loses_nothing(raw: str, limit: int) -> None:
    escaped = escape(raw)
    pieces = split_text(escaped, limit)
    assert all(0 < len(p) <= limit for p in pieces)
    assert re.sub(r"\s", "", "".join(pieces)) == re.sub(r"\s", "", escaped)
    for piece in pieces:  # no entity cut in half
        assert not re.search(r"&(a|am|l|g|lt|gt|amp)?$", piece)


def test_trim_and_notice() -> None:
    assert trim("  several   spaces\nand lines ", 100) == "several spaces and lines"
    assert notice_blocks("a <b> & c") == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "a &lt;b&gt; &amp; c", "verbatim": True}}
    ]


def test_plain_text_resolves_slack_markup() -> None:
    raw = (
        "<@UBOT> what did <@U1|kim> say in <#C1|general> about <https://x.example/a?b=1&amp;c=2|this>?"
        " 1 &lt; 2 &amp;&amp; <!here>"
    )
    assert plain_text(raw, drop_user="UBOT") == "what did @kim say in #general about this? 1 < 2 && @here"
    assert plain_text("<https://x.example>") == "https://x.example"


def test_turns_from_a_thread() -> None:
    messages = [
        {"ts": "100.000001", "user": "U1", "text": "<@UBOT> Who visited?"},
        {"ts": "100.000002", "user": "UBOT", "bot_id": "BBOT", "text": "Kim visited [1]."},
        {"ts": "100.000003", "bot_id": "BOTHER", "text": "some other bot"},
        {"ts": "100.000004", "user": "U2", "subtype": "channel_join", "text": "joined"},
        {"ts": "100.000005", "user": "U1", "text": "Why?"},
        {"ts": "100.000006", "user": "U1", "text": "the question itself"},
        {"ts": "100.000007", "user": "U1", "text": "later message"},
    ]
    turns = turns_from_messages(
        messages, bot_user_id="UBOT", bot_id="BBOT", before_ts="100.000006", max_turns=20
    )
    assert turns == [
        Turn(role="user", content="Who visited?"),
        Turn(role="assistant", content="Kim visited [1]."),
        Turn(role="user", content="Why?"),
    ]
    last = turns_from_messages(
        messages, bot_user_id="UBOT", bot_id="BBOT", before_ts="100.000006", max_turns=1
    )
    assert last == [Turn(role="user", content="Why?")]
    assert (
        turns_from_messages(messages[::-1], bot_user_id="UBOT", bot_id="BBOT", before_ts="200", max_turns=0)
        == []
    )
    newest_first = turns_from_messages(
        messages[::-1], bot_user_id="UBOT", bot_id="BBOT", before_ts="100.000006", max_turns=20
    )
    assert newest_first == turns  # conversations.history order is handled


def test_manifest_asks_for_what_the_bot_uses() -> None:
    manifest = yaml.safe_load((Path(__file__).parent.parent / "slack" / "manifest.yml").read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # chat.postMessage, reactions.add/remove, conversations.replies/history, the /ask command
    assert {"app_mentions:read", "chat:write", "reactions:write", "commands", "im:history"} <= scopes
    assert {"channels:history", "groups:history"} <= scopes
    events = manifest["settings"]["event_subscriptions"]
    assert {"app_mention", "message.channels", "message.groups", "message.im"} <= set(events["bot_events"])
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [ASK_COMMAND]
    urls = {events["request_url"], manifest["settings"]["interactivity"]["request_url"]}
    urls |= {c["url"] for c in manifest["features"]["slash_commands"]}
    assert {u.rsplit("/", 2)[-2:] == ["slack", "events"] for u in urls} == {True}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
