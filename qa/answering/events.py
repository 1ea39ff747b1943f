"""What a streamed answer is made of, whatever composed it: started, tokens, (reset,) finished."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from qa.contract import Answer

# Replaying an answer that is already complete: a sentence (with its marker) at a time.
PIECE = re.compile(r".+?\[\d+\]\s*|.+$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Started:
    conversation_id: str
    mode: str


@dataclass(frozen=True, slots=True)
class Token:
    text: str


@dataclass(frozen=True, slots=True)
class Reset:
    """Text streamed so far is withdrawn; a fallback answer follows."""

    reason: str


@dataclass(frozen=True, slots=True)
class Finished:
    answer: Answer


StreamEvent = Started | Token | Reset | Finished


async def replay(answer: Answer, announce: bool = True) -> AsyncIterator[StreamEvent]:
    """A finished answer as stream events."""
    if announce:
        yield Started(answer.conversation_id, answer.mode)
    for piece in PIECE.findall(answer.answer):
        yield Token(piece)
    yield Finished(answer)
