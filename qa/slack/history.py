"""Slack messages as the pipeline's input: plain question text and ``Turn`` history. Pure, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from qa.contract import MAX_TURN_CHARS, Turn

_TOKEN = re.compile(r"<([^<>]*)>")
_SPACES = re.compile(r"[ \t]+")
# Other subtypes are joins, edits, deletions, channel topic changes: not part of the conversation.
_CONVERSATION_SUBTYPES = {None, "bot_message", "thread_broadcast", "file_share"}

Message = Mapping[str, Any]


def _resolve(match: re.Match[str], drop_user: str | None) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith("@"):
        return "" if drop_user and target[1:] == drop_user else f"@{label or target[1:]}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):  # <!here>, <!channel>, <!subteam^ID|@team>, <!date^…|fallback>
        return label or f"@{target[1:].split('^')[0]}"
    return label or target  # links: <https://…|label> or <https://…>


def plain_text(text: str, drop_user: str | None = None) -> str:
    """Slack's wire format as the reader saw it: mentions, channels and links resolved to their
    labels, ``&amp;``/``&lt;``/``&gt;`` unescaped; mentions of ``drop_user`` (the bot) removed."""
    resolved = _TOKEN.sub(lambda m: _resolve(m, drop_user), text)
    unescaped = resolved.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    lines = (_SPACES.sub(" ", line).strip() for line in unescaped.splitlines())
    return "\n".join(line for line in lines if line)


def slack_ts(ts: object) -> Decimal | None:
    """A message timestamp ("1700000000.000100") as an exactly comparable number."""
    try:
        return Decimal(str(ts))
    except (InvalidOperation, ValueError):
        return None


def is_from_bot(message: Message, bot_user_id: str | None, bot_id: str | None) -> bool:
    """Whether this is one of our own messages."""
    return bool(
        (bot_id and message.get("bot_id") == bot_id) or (bot_user_id and message.get("user") == bot_user_id)
    )


def bot_took_part(messages: Iterable[Message], bot_user_id: str | None, bot_id: str | None) -> bool:
    return any(is_from_bot(m, bot_user_id, bot_id) for m in messages)


def turns_from_messages(
    messages: Iterable[Message],
    *,
    bot_user_id: str | None,
    bot_id: str | None,
    before_ts: str,
    max_turns: int,
) -> list[Turn]:
    """The conversation before ``before_ts``, oldest first, at most ``max_turns`` turns.

    Our own messages become assistant turns (their ``text`` is the answer without the sources);
    people's messages become user turns; other bots and housekeeping messages are left out.
    """
    limit = slack_ts(before_ts)
    dated: list[tuple[Decimal, Turn]] = []
    for message in messages:
        ts = slack_ts(message.get("ts"))
        if ts is None or limit is None or ts >= limit:
            continue
        if message.get("subtype") not in _CONVERSATION_SUBTYPES:
            continue
        mine = is_from_bot(message, bot_user_id, bot_id)
        if message.get("bot_id") and not mine:
            continue
        text = plain_text(str(message.get("text") or ""), drop_user=bot_user_id)
        if text:
            try:
                turn = Turn(role="assistant" if mine else "user", content=text[:MAX_TURN_CHARS])
            except ValidationError:
                continue  # unencodable or control characters: one bad message costs only itself
            dated.append((ts, turn))
    dated.sort(key=lambda pair: pair[0])  # conversations.history pages newest first
    turns = [turn for _, turn in dated]
    return turns[-max_turns:] if max_turns > 0 else []
