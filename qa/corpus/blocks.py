"""Blocks: the structural units an extractor finds (headings, paragraphs, list items, code).

Every extractor of a structured format (HTML, Markdown, PDF) writes its text through a
``TextBuilder``, so the document text and the spans of its blocks come from one place and cannot
drift: blocks are joined by one newline, and only code blocks contain newlines of their own.
Each block carries the title of the section it sits in, so chunks and citations can show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BlockKind = Literal["text", "item", "row", "heading", "code"]
# Kinds whose sentences may be quoted as an answer; headings and code only give context.
QUOTABLE: frozenset[str] = frozenset({"text", "item", "row"})
# Kinds kept as one sentence: a heading, a table row ("? | any single character") and code.
WHOLE: frozenset[str] = frozenset({"heading", "row", "code"})
# Definition terms (<dt>, e.g. an API signature) rank below every <h1>..<h6>.
TERM_LEVEL = 7


@dataclass(frozen=True, slots=True)
class Block:
    start: int
    end: int
    kind: BlockKind
    section: str  # the innermost heading this block sits under ("" before any heading)


def collapse(text: str) -> str:
    """Inline text with hard wraps and runs of whitespace joined into single spaces."""
    return " ".join(text.split())


def tidy_code(text: str) -> str:
    """A code block kept whole: trailing spaces and surrounding blank lines dropped."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


class TextBuilder:
    """Accumulates blocks into a document text, tracking the current heading path."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.blocks: list[Block] = []
        self._headings: list[tuple[int, str]] = []  # (level, title), outermost first

    @property
    def section(self) -> str:
        return self._headings[-1][1] if self._headings else ""

    def add(self, text: str, kind: BlockKind) -> None:
        """Append a block; inline kinds are whitespace-collapsed, code is kept line by line."""
        text = tidy_code(text) if kind == "code" else collapse(text)
        if not text.strip():
            return
        if self._parts:
            self._parts.append("\n")
            self._length += 1
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        self.blocks.append(Block(start, self._length, kind, self.section))

    def heading(self, text: str, level: int, *, show: bool = True, section: str = "") -> None:
        """Open a section; with ``show`` off it titles what follows without entering the text.

        ``section``: the title the section is known by when it is more than the heading's own
        text (terms described together: "operator.lshift(a, b), operator.__lshift__(a, b)").
        """
        title = collapse(text)
        if not title:
            return
        self.close(level)
        self._headings.append((level, collapse(section) or title))
        if show:
            self.add(title, "heading")

    def close(self, level: int) -> None:
        """End every open section at ``level`` or deeper (e.g. when a definition list ends)."""
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()

    def text(self) -> str:
        return "".join(self._parts)
