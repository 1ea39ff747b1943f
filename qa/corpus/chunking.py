"""Sentences and chunks: the units we cite and the units we retrieve.

A chunk is a window of whole consecutive sentences inside one paragraph, so its text is always
``document.text[start:end]`` and it knows exactly which sentences it holds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import groupby

from qa.corpus.documents import Document
from qa.corpus.segmentation import split_blocks, split_sentences


@dataclass(frozen=True, slots=True)
class Sentence:
    sentence_id: int  # position in the index's global sentence list
    doc_id: str
    start: int
    end: int
    paragraph: int
    text: str
    kind: str = "text"  # "text" | "item" | "row" | "heading" | "code" (see ``qa.corpus.blocks``)
    section: str = ""  # title of the section the sentence sits in


@dataclass(frozen=True, slots=True)
class Chunk:
    chunk_id: str
    doc_id: str
    start: int
    end: int
    sentence_ids: tuple[int, ...]
    text: str
    section: str = ""


def sentences_of(documents: list[Document]) -> list[Sentence]:
    """Every sentence of every document, numbered globally in corpus order."""
    sentences: list[Sentence] = []
    for document in documents:
        if document.blocks:
            spans = split_blocks(document.text, document.blocks)
        else:
            spans = split_sentences(document.text)
        for span in spans:
            sentences.append(
                Sentence(
                    sentence_id=len(sentences),
                    doc_id=document.doc_id,
                    start=span.start,
                    end=span.end,
                    paragraph=span.paragraph,
                    text=document.text[span.start : span.end],
                    kind=span.kind,
                    section=span.section,
                )
            )
    return sentences


def window_starts(count: int, size: int, overlap: int) -> list[int]:
    """Start offsets of windows of ``size`` over ``count`` items, the last one flush to the end."""
    if count <= size:
        return [0]
    step = max(1, size - overlap)
    starts = list(range(0, count - size + 1, step))
    if starts[-1] + size < count:
        starts.append(count - size)
    return starts


def build_chunks(
    documents: list[Document], sentences: list[Sentence], size: int, overlap: int
) -> list[Chunk]:
    """Windows of ``size`` sentences overlapping by ``overlap``, never crossing a paragraph.

    Headings get no chunk of their own: each chunk carries its section title instead.
    """
    texts = {d.doc_id: d.text for d in documents}
    chunks: list[Chunk] = []
    per_document: Counter[str] = Counter()  # chunk ids are stable per document
    body = (s for s in sentences if s.kind != "heading")
    for (doc_id, _paragraph), group in groupby(body, key=lambda s: (s.doc_id, s.paragraph)):
        members = list(group)
        for first in window_starts(len(members), size, overlap):
            window = members[first : first + size]
            start, end = window[0].start, window[-1].end
            chunks.append(
                Chunk(
                    chunk_id=f"{doc_id}:{per_document[doc_id]}",
                    doc_id=doc_id,
                    start=start,
                    end=end,
                    sentence_ids=tuple(s.sentence_id for s in window),
                    text=texts[doc_id][start:end],
                    section=window[0].section,
                )
            )
            per_document[doc_id] += 1
    return chunks


def heading_of(sentence: Sentence, title: str = "") -> str:
    """The contextual header of a sentence: its page title and section ("gc — Garbage Collector
    interface › gc.collect(generation=2)"), the section alone when it repeats the title, empty
    for text without sections."""
    if not sentence.section:
        return ""
    if not title or sentence.section.casefold() == title.casefold():
        return sentence.section
    return f"{title} › {sentence.section}"


def context_texts(sentences: list[Sentence], title: str = "") -> list[str]:
    """What each sentence is embedded as "in context" (the ``contexts`` vector set).

    Under a section (HTML, Markdown, PDF), the sentence under its contextual header: "Return a
    shifted left by b." means nothing alone; under "operator › operator.lshift(a, b)" it answers
    "what does operator.lshift return?" (contextual headers, as docs RAG does; the quoted span
    stays the sentence itself). Without sections (plain text), the sentence after the one
    before it: "“They have 2 million workers…,” he said." means little alone; read after "Chun
    In-bum … said Pyongyang's arms complex should not be underestimated." it matches "arms
    industry". ``title`` is the sentences' document title (one document at a time).
    """
    texts = []
    for position, sentence in enumerate(sentences):
        header = heading_of(sentence, title)
        previous = sentences[position - 1] if position else None
        if header:
            texts.append(f"{header}\n{sentence.text}")
        elif previous is not None and previous.doc_id == sentence.doc_id:
            texts.append(f"{previous.text} {sentence.text}")
        else:
            texts.append(sentence.text)
    return texts


def search_text(chunk: Chunk) -> str:
    """What a chunk is embedded and BM25-indexed as: its text under its section title, so a
    question naming the section ("the pass statement") finds the paragraphs beneath it."""
    return f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text
