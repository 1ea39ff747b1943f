"""Block Kit for answers: pure functions from ``Answer`` to Slack blocks, no I/O.

Everything that came from the corpus, the question or a model is untrusted: ``&``, ``<`` and ``>``
are escaped (Slack's only control characters), and every text object is ``verbatim`` so Slack does
not turn stray URLs, channel names or ``@here`` into live links or mentions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from qa.contract import Answer, Citation

Block = dict[str, Any]

SECTION_TEXT_LIMIT = 3000  # Slack: section text is at most 3,000 characters
MAX_BLOCKS = 50  # Slack: a message has at most 50 blocks
FALLBACK_TEXT_LIMIT = 3000  # notifications and screen readers need a summary, not the whole answer
BUTTON_VALUE_LIMIT = 2000

FEEDBACK_UP = "qa_feedback_up"
FEEDBACK_DOWN = "qa_feedback_down"
SHARE = "qa_share"

_ELLIPSIS = "…"
_SPACES = re.compile(r"\s+")


def escape(text: str) -> str:
    """Escape Slack's control characters so untrusted text shows literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def trim(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters."""
    flat = _SPACES.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if " " in cut[limit // 2 :]:  # prefer a word boundary unless it throws away too much
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + _ELLIPSIS


def split_text(text: str, limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Split escaped mrkdwn into pieces of at most ``limit`` characters.

    Breaks at paragraph, then line, then sentence, then word boundaries, so markers like ``[1]``
    and entities like ``&amp;`` are never cut in half; only a single unbroken run longer than
    ``limit`` is cut hard (before any entity it would split).
    """
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", ". ", "] ", " "):
            position = window.rfind(separator, 0, limit)
            if position > 0:
                cut = position + len(separator.rstrip())
                break
        if cut <= 0:
            cut = limit
            amp = window.rfind("&", max(0, limit - 5), limit)
            if amp > 0 and ";" not in window[amp:limit]:
                cut = amp
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def source_url(template: str, public_url: str, citation: Citation) -> str:
    """The deep link to the cited span on our server (``{public_url}`` etc. filled in)."""
    return template.format(
        public_url=public_url.rstrip("/"),
        doc_id=quote(citation.doc_id, safe=""),
        start=citation.start,
        end=citation.end,
    )


def _link(url: str, label: str) -> str:
    # Inside <url|label> a "|" or ">" would end the label early; both are harmless elsewhere.
    return f"<{escape(url)}|{escape(label.replace('|', '/'))}>"


def source_line(citation: Citation, url: str, quote_chars: int) -> str:
    """``*[n]* “quote…” — <link|title, chars a–b>`` for one citation."""
    where = f"{trim(citation.title or citation.doc_id, 60)}, chars {citation.start}–{citation.end}"
    return f"*[{citation.id}]* “{escape(trim(citation.quote, quote_chars))}” — {_link(url, where)}"


def _pack(lines: list[str], limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Join lines into as few texts of at most ``limit`` characters as possible."""
    texts: list[str] = []
    current = ""
    for line in lines:
        for piece in split_text(line, limit):
            candidate = f"{current}\n{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                texts.append(current)
                current = piece
    if current:
        texts.append(current)
    return texts


def _button(text: str, action_id: str, value: str, label: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value[:BUTTON_VALUE_LIMIT],
        "accessibility_label": label,
    }
    if style:
        button["style"] = style
    return button


def actions_block(message_id: str, share: bool = False) -> Block:
    """👍/👎 feedback buttons (and "Share in channel" for private answers)."""
    elements = [
        _button("👍", FEEDBACK_UP, message_id, "This answer was helpful"),
        _button("👎", FEEDBACK_DOWN, message_id, "This answer was not helpful"),
    ]
    if share:
        elements.append(_button("Share in channel", SHARE, message_id, "Post this answer", "primary"))
    return {"type": "actions", "block_id": "qa_answer_actions", "elements": elements}


def answer_blocks(
    answer: Answer,
    link: Callable[[Citation], str],
    *,
    quote_chars: int = 300,
    share: bool = False,
    preface: str | None = None,
) -> list[Block]:
    """The whole message: [preface], answer text, divider + Sources (when answerable), buttons.

    ``preface`` is trusted mrkdwn built by the caller (e.g. who asked what, already escaped).
    Citation numbers are the answer's own ``[n]`` markers, so both always agree. If an answer is
    too long for one message, the text is cut at a boundary and marked, never silently dropped.
    """
    head = [_section(preface)] if preface else []
    tail = [actions_block(answer.message_id, share)]
    sources: list[Block] = []
    if answer.answerable and answer.citations:
        cited = sorted(answer.citations, key=lambda c: c.id)
        lines = ["*Sources*"] + [source_line(c, link(c), quote_chars) for c in cited]
        sources = [{"type": "divider"}] + [_section(text) for text in _pack(lines)]
    room = MAX_BLOCKS - len(head) - len(tail)
    if len(sources) > room // 2:  # an absurd number of citations must not crowd out the answer
        sources = sources[: max(room // 2, 2)]
    body_room = room - len(sources)
    pieces = split_text(escape(answer.answer)) or [""]
    if len(pieces) > body_room:
        pieces = pieces[:body_room]
        pieces[-1] = pieces[-1][: SECTION_TEXT_LIMIT - 40].rstrip() + f" {_ELLIPSIS} _(answer shortened)_"
    return head + [_section(piece) for piece in pieces] + sources + tail


def fallback_text(answer: Answer) -> str:
    """The message's plain ``text``: shown in notifications, and read back as thread history."""
    text = escape(answer.answer)
    return text if len(text) <= FALLBACK_TEXT_LIMIT else trim(text, FALLBACK_TEXT_LIMIT)


def notice_blocks(text: str) -> list[Block]:
    """A plain message (errors, help) as blocks; ``text`` is escaped here."""
    return [_section(piece) for piece in split_text(escape(text))][:MAX_BLOCKS]
