"""Structured text out of Markdown, via markdown-it-py's CommonMark token stream.

The document text is the Markdown's reading text, not its source: ``#`` marks, emphasis
markers and link targets are gone, a hard-wrapped paragraph is one line (soft breaks become
spaces), each list item is a block of its own, and a fenced or indented code block is kept
whole, line by line.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from qa.corpus.blocks import TextBuilder

# Inline tags of HTML's own formatting elements: markup around words, never words themselves.
# "<br>" in a table cell ("shims reside.<br>Also see pyenv root") is a line break. Not "<img>",
# whose alt text would be lost: it stays text like any other inline HTML (shown, never rendered).
_FORMATTING_TAG = re.compile(
    r"</?(a|abbr|b|big|br|code|del|em|i|ins|kbd|mark|p|s|samp|small|span|strike|strong|sub|sup|"
    r"tt|u|var|wbr)(\s[^<>]*)?/?>",
    re.IGNORECASE,
)


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        # Other inline HTML stays as written: it is text to us (shown as text, never rendered),
        # and "Vec<T>" written without backticks parses as a tag. HTML blocks (badges, layout,
        # comments) are left out.
        if child.type == "html_inline" and _FORMATTING_TAG.fullmatch(child.content.strip()):
            parts.append(" " if child.content.strip().lower().startswith("<br") else "")
        elif child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_inline_text(child))  # its alt text
    return "".join(parts)


def markdown_blocks(source: str, title: str) -> TextBuilder:
    """The blocks of a Markdown body (front matter already removed).

    A first-level heading equal to ``title`` titles what follows without entering the text.
    """
    out = TextBuilder()
    tokens = MarkdownIt("commonmark").enable("table").parse(source)
    items: list[list[str]] = []  # text of each open list item: an item is one block, one unit
    cells: list[str] = []
    heading_level = 0
    in_cell = False

    def flush_item() -> None:
        if items and items[-1]:
            out.add(" ".join(items[-1]), "item")
            items[-1] = []

    for token in tokens:
        if token.type == "heading_open":
            heading_level = int(token.tag[1:])
        elif token.type == "heading_close":
            heading_level = 0
        elif token.type == "list_item_open":
            flush_item()  # a parent item's own text comes before its sub-items
            items.append([])
        elif token.type == "list_item_close":
            flush_item()
            items.pop()
        elif token.type in ("fence", "code_block"):
            flush_item()
            out.add(token.content, "code")
        elif token.type in ("td_open", "th_open", "td_close", "th_close"):
            in_cell = token.type.endswith("_open")
        elif token.type == "tr_close":
            out.add(" | ".join(c.strip() for c in cells), "row")  # a table row is a unit
            cells = []
        elif token.type != "inline":
            continue
        elif heading_level:
            text = _inline_text(token)
            show = not (heading_level == 1 and text.strip().casefold() == title.casefold())
            out.heading(text, heading_level, show=show)
        elif in_cell:
            cells.append(_inline_text(token))
        elif items:
            items[-1].append(_inline_text(token))
        else:
            out.add(_inline_text(token), "text")
    return out
