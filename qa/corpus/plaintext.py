"""Plain text as paragraphs: hard-wrapped lines joined back into the paragraphs they came from.

A plain-text document's paragraphs are its lines (``qa.corpus.segmentation``). That holds for
text written one paragraph per line (the article), but licences, READMEs and RFC-style files wrap
their paragraphs at a fixed width, so each line is a fragment ("THERE IS NO WARRANTY FOR THE
PROGRAM, TO THE EXTENT PERMITTED BY") and no sentence survives whole. Such text is recognised by
its width, and each wrapped line is joined with the next one of its block: the document's text
becomes one paragraph per line, as HTML and Markdown text already is.
"""

from __future__ import annotations

import re

MAX_WRAP_WIDTH = 100  # wider lines are paragraphs written on one line, not wrapped text
MIN_LINES = 5  # too few lines to tell wrapping from short paragraphs
FILLED = 0.6  # a line at least this share of the wrap width was filled, then wrapped
# A line opening a list item, a numbered clause or a bullet starts a paragraph of its own.
_ITEM = re.compile(r"\s*([-*•+]|\(?[0-9a-zA-Z]{1,3}[.)])\s")


def wrap_width(lines: list[str]) -> int | None:
    """The width the text was wrapped at, or None when it was not hard-wrapped."""
    # Text length without indentation: a centred title is short however far it is indented.
    lengths = sorted(len(line.strip()) for line in lines if line.strip())
    if len(lengths) < MIN_LINES:
        return None
    width = lengths[int(len(lengths) * 0.9)]  # the 90th percentile: a few long lines may overflow
    filled = sum(length >= FILLED * width for length in lengths)
    return width if width <= MAX_WRAP_WIDTH and filled * 2 >= len(lengths) else None


def unwrap(text: str) -> str:
    """``text`` with each hard-wrapped paragraph on one line; unchanged when it is not wrapped.

    Blank lines still separate blocks; inside a block a line that filled the width joins the
    next one, unless that one opens a list item. Indentation of joined lines is dropped.
    """
    lines = text.split("\n")
    width = wrap_width(lines)
    if width is None:
        return text
    out: list[str] = []
    joining = False  # the previous line was filled and the next one continues it
    for line in lines:
        stripped = line.strip()
        if not stripped:
            out.append("")
            joining = False
            continue
        if joining and not _ITEM.match(line):
            out[-1] = f"{out[-1]} {stripped}"
        else:
            out.append(line.rstrip())
        joining = len(stripped) >= FILLED * width
    return "\n".join(out)
