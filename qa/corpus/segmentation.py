"""Sentence segmentation with exact character spans.

pysbd handles abbreviations ("Mr.", "U.S.", "U.N.") and quotations; we locate each of its
sentences in the original text ourselves, moving a cursor forward, so that
``text[start:end] == sentence`` holds even when a sentence occurs twice (pysbd's own
``char_span`` searches and can pick the wrong occurrence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pysbd

from qa.corpus.blocks import WHOLE, Block, BlockKind

_PARAGRAPH = re.compile(r"[^\n]+")
# A parenthesised aside that is no sentence of its own: "(default: 70)", "(see bpo-17482)".
# pysbd cuts it off ("(default: 70) The maximum length of wrapped lines." becomes two), leaving a
# fragment that answers nothing and a sentence that lost its value; "(Not the gamma function!)"
# ends like a sentence and stays one.
_FRAGMENT = re.compile(r"\([^()]*[^.!?()\s]\)")
# pysbd also cuts at a "?" or "!" that ends no sentence ("The ? operator", "the ? is used on"),
# and at the dot opening a file name ("to a .python-version file"), leaving a piece that opens in
# lower case; and it reads a number ending a sentence as the enumerator of the next ("… returns to
# being 6. When we run …" became "… being" and "6. When …").
_CONTINUES = re.compile(r"[a-z]")
_DOT_NAME = re.compile(r"(^|[\s(\"'“‘/])\.$")
_ENDS_SENTENCE = re.compile(r"[.!?:;…\"'”’)\]]$")
_ENUMERATOR = re.compile(r"\d+\.(?=\s)")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    paragraph: int  # index of the paragraph (line, or block) the sentence belongs to
    kind: BlockKind = "text"
    section: str = ""


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_paragraph(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans inside ``text[start:end]``; they tile the paragraph minus whitespace."""
    spans: list[tuple[int, int]] = []
    cursor = start
    for piece in _segmenter().segment(text[start:end]):
        piece = piece.strip()
        if not piece:
            continue
        found = text.find(piece, cursor, end)
        if found < 0:
            # pysbd altered the text (it should not with clean=False): keep the rest whole.
            break
        if found > cursor and text[cursor:found].strip():
            # Text pysbd skipped over belongs to the previous sentence.
            if spans:
                spans[-1] = (spans[-1][0], found)
            else:
                spans.append((cursor, found))
        spans.append((found, found + len(piece)))
        cursor = found + len(piece)
    if text[cursor:end].strip():
        spans.append((cursor, end))
    trimmed = [s for s in (_trimmed(text, a, b) for a, b in spans) if s[0] < s[1]]
    return _join_fragments(text, _rejoin_cuts(text, trimmed))


def _rejoin_cuts(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Undo pysbd's cuts that end no sentence: after a "?", a "!" or a file name's leading dot
    followed by lower case, and before a number that ends the previous sentence."""
    joined: list[tuple[int, int]] = []
    for start, end in spans:
        if joined:
            previous_start, previous_end = joined[-1]
            cut_short = text[previous_end - 1] in "?!" or _DOT_NAME.search(text, previous_start, previous_end)
            if cut_short and _CONTINUES.match(text, start):
                joined[-1] = (previous_start, end)
                continue
            number = _ENUMERATOR.match(text, start)
            if number and not _ENDS_SENTENCE.search(text, previous_start, previous_end):
                joined[-1] = (previous_start, number.end())
                start, _ = _trimmed(text, number.end(), end)
                if start >= end:
                    continue
        joined.append((start, end))
    return joined


def _join_fragments(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each parenthesised fragment joins the sentence after it (the one before, at the end)."""
    joined: list[tuple[int, int]] = []
    carried: int | None = None  # start of a fragment waiting for its sentence
    for start, end in spans:
        if carried is not None:
            start, carried = carried, None
        if _FRAGMENT.fullmatch(text, start, end):
            carried = start
            continue
        joined.append((start, end))
    if carried is not None:
        last_end = spans[-1][1]
        joined[-1:] = [(joined[-1][0], last_end)] if joined else [(carried, last_end)]
    return joined


def split_sentences(text: str) -> list[Span]:
    """All sentences of ``text``: paragraphs are lines, sentences never cross a paragraph."""
    sentences: list[Span] = []
    for paragraph, match in enumerate(_PARAGRAPH.finditer(text)):
        for start, end in split_paragraph(text, match.start(), match.end()):
            sentences.append(Span(start, end, paragraph))
    return sentences


def split_blocks(text: str, blocks: tuple[Block, ...]) -> list[Span]:
    """Sentences of a structured document: paragraphs and list items are split into sentences;
    a heading or a table row is one unit and a code block stays whole, never sentence-split."""
    sentences: list[Span] = []
    for paragraph, block in enumerate(blocks):
        if block.kind in WHOLE:
            pieces = [_trimmed(text, block.start, block.end)]
        else:
            pieces = split_paragraph(text, block.start, block.end)
        for start, end in pieces:
            if start < end:
                sentences.append(Span(start, end, paragraph, block.kind, block.section))
    return sentences
