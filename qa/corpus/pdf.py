"""PDF lines with their font, reflowed into blocks.

pypdf's text visitor reports each text run with its font and position; we rebuild the visual
lines from it, then join hard-wrapped lines back into paragraphs. A line ending in a hyphen joins
the next without a space, keeping the hyphen (it may be a real one: "Jong-un").

Page furniture goes first: page numbers and the running headers and footers repeated at the top
or bottom of most pages. A paragraph that a page break cut mid-sentence then carries on with the
next page's first line ("Information found in a" / "directory is added …" was two paragraphs
with "2" and "Shared MIME-info Database" between them).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from qa.corpus.blocks import BlockKind, TextBuilder

_SPACES = re.compile(r"[ \t\u00a0]+")
_PARAGRAPH_END = tuple('.!?:;"”’)]')
_BULLET = re.compile(r"^(?:[•◦▪‣∙·\-–*]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")
_MONOSPACE = re.compile(r"courier|mono|consol|code|menlo", re.IGNORECASE)
# A line shorter than this share of the page's longest line, ending a sentence, ends a paragraph.
_SHORT_LINE = 0.8
# A line this much larger than the body font is a heading; a gap this many font sizes tall ends a block.
_HEADING_RATIO = 1.2
_GAP_RATIO = 2.0
_MAX_HEADING_CHARS = 150
# Page furniture: lines among the first or last few of a page that are a page number, or that
# (digits aside) stand at the edge of at least half the pages (three at least).
_EDGE_LINES = 2
_MIN_REPEATS = 3
_PAGE_NUMBER = re.compile(r"^\W*(page\s+)?\d{1,4}(\s*(of|/)\s*\d{1,4})?\W*$", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")


@dataclass
class Line:
    text: str
    y: float | None
    size: float
    monospace: bool


def page_lines(page: Any) -> list[Line]:
    """The visual lines of a pypdf page, each with the font of its first text run."""
    lines: list[Line] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        name = str(font.get("/BaseFont", "")) if font else ""
        scale = abs(float(tm[3])) * abs(float(cm[3])) or 1.0
        y = float(tm[5]) * float(cm[3]) + float(cm[5])
        for number, piece in enumerate(text.split("\n")):
            if number or not lines:
                lines.append(Line("", None, 0.0, False))
            if piece.strip() and not lines[-1].text.strip():
                lines[-1] = Line(lines[-1].text, y, float(size) * scale, bool(_MONOSPACE.search(name)))
            lines[-1].text += piece

    page.extract_text(visitor_text=visit)
    return [line for line in lines if line.text.strip()]


def _body_size(pages: list[list[Line]]) -> float:
    sizes: Counter[float] = Counter()
    for line in (line for page in pages for line in page):
        sizes[round(line.size, 1)] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def pdf_blocks(pages: list[list[Line]]) -> TextBuilder:
    """Blocks of the whole document; headings are ranked by font size (largest is level 1)."""
    pages = _without_furniture(pages)
    body = _body_size(pages)
    heading_sizes = sorted(
        {round(line.size, 1) for page in pages for line in page if _is_heading(line, body)}, reverse=True
    )
    out = TextBuilder()
    _reflow(pages, body, heading_sizes, out)
    return out


def _edge(page: list[Line], index: int) -> bool:
    return index < _EDGE_LINES or index >= len(page) - _EDGE_LINES


def _signature(text: str) -> str:
    return _DIGITS.sub("#", _SPACES.sub(" ", text).strip().lower())


def _without_furniture(pages: list[list[Line]]) -> list[list[Line]]:
    """The pages without page numbers and running headers or footers."""
    seen: Counter[str] = Counter()
    for page in pages:
        seen.update({_signature(line.text) for index, line in enumerate(page) if _edge(page, index)})
    repeated = {text for text, count in seen.items() if count >= max(_MIN_REPEATS, len(pages) / 2)}
    return [
        [
            line
            for index, line in enumerate(page)
            if not (
                _edge(page, index) and (_PAGE_NUMBER.match(line.text) or _signature(line.text) in repeated)
            )
        ]
        for page in pages
    ]


def _is_heading(line: Line, body: float) -> bool:
    text = line.text.strip()
    return body > 0 and line.size >= _HEADING_RATIO * body and len(text) <= _MAX_HEADING_CHARS


def _reflow(pages: list[list[Line]], body: float, heading_sizes: list[float], out: TextBuilder) -> None:
    current: list[str] = []
    kind: BlockKind = "text"
    previous: Line | None = None

    def flush() -> None:
        nonlocal current
        if current:
            out.add(("\n" if kind == "code" else "").join(current), kind)
        current = []

    for page in pages:
        longest = max((len(_SPACES.sub(" ", line.text).strip()) for line in page), default=0)
        for index, line in enumerate(page):
            text = line.text.rstrip() if line.monospace else _SPACES.sub(" ", line.text).strip()
            if index == 0:
                # A page break ends a paragraph only where its sentence ended.
                gap = kind != "text" or not current or current[-1].endswith(_PARAGRAPH_END)
            else:
                gap = previous is not None and _gap(previous, line)
            previous = line
            if _is_heading(line, body):
                flush()
                out.heading(text, heading_sizes.index(round(line.size, 1)) + 1)
                continue
            bullet = not line.monospace and bool(_BULLET.match(text))
            line_kind: BlockKind = "text"
            if line.monospace:
                line_kind = "code"
            elif bullet or (kind == "item" and current and not gap):
                line_kind = "item"  # a bullet opens an item; its wrapped lines continue it
            if gap or line_kind != kind or (bullet and current):
                flush()
                kind = line_kind
            if kind == "code":
                current.append(text)
                continue
            if current and current[-1].endswith("-"):
                current[-1] += text
            else:
                current.append(text if not current else " " + text)
            if text.endswith(_PARAGRAPH_END) and len(text) < _SHORT_LINE * longest:
                flush()
                kind = "text"
    flush()


def _gap(previous: Line, line: Line) -> bool:
    """Whether the vertical space between two lines is more than a line break."""
    if previous.y is None or line.y is None:
        return False
    return abs(previous.y - line.y) > _GAP_RATIO * max(line.size, previous.size, 1.0)
