"""Checking an LLM reply against the numbered sentences it was given.

The model only ever produces prose and ``[n]`` markers. Quotes are never taken from the model:
each valid ``n`` maps to a sentence we numbered, and the citation is read from the source at that
sentence's ``[start, end)``. Markers for numbers we did not give are dropped; a reply sentence with
no valid marker, whose content words are mostly absent from the sentences it cites, or whose
negation, numbers or names differ from them (``qa.answering.meaning``), is removed from the
answer and reported in ``unsupported``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from qa.answering.citations import make_citation
from qa.answering.meaning import meaning_change
from qa.contract import Citation
from qa.corpus.chunking import Sentence
from qa.corpus.documents import Document
from qa.corpus.segmentation import split_sentences
from qa.index.lexical import tokenize

# [3], [3, 5], [3][5], [Source 3], [sentence 3; 4]: the forms small models actually write.
MARKER = re.compile(
    r"\[\s*(?:(?:sources?|sentences?)\s*)?(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\s*\]", re.IGNORECASE
)
_LEADING_MARKERS = re.compile(rf"^(?:\s*{MARKER.pattern})+", re.IGNORECASE)
_WORD = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sentence shown to the model under ``number``, with what its citation needs."""

    number: int
    sentence: Sentence
    score: float
    chunk_id: str | None
    context: Sentence | None = None  # the sentence naming a quote's speaker, if any


@dataclass(frozen=True, slots=True)
class VerifiedReply:
    text: str
    citations: list[Citation]
    unsupported: list[str]


def numbers_in(text: str) -> list[int]:
    return [int(n) for group in MARKER.findall(text) for n in re.split(r"\s*[,;]\s*", group)]


def reply_sentences(reply: str) -> list[str]:
    """The reply's sentences, with markers written after a full stop moved back to their sentence."""
    sentences: list[str] = []
    for span in split_sentences(reply):
        text = reply[span.start : span.end]
        leading = _LEADING_MARKERS.match(text)
        if leading and sentences:
            sentences[-1] += " " + leading.group(0).strip()
            text = text[leading.end() :].strip()
        if text:
            sentences.append(text)
    return sentences


def _clean(text: str) -> str:
    """Sentence text without markers, with the spaces they leave behind tidied."""
    text = MARKER.sub("", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return " ".join(text.split())


def support(claim: str, cited: list[Sentence], question_terms: frozenset[str]) -> float:
    """Share of the claim's content words found in the cited sentences.

    Words the question already used are not new claims ("Kim travelled to …" answering "Where did
    Kim travel?"), so only the rest must be backed, unless the sentence has nothing else.
    """
    terms = frozenset(tokenize([claim])[0])
    new = terms - question_terms or terms
    if not new:
        return 1.0
    backed = frozenset(t for s in cited for t in tokenize([s.text])[0])
    return len(new & backed) / len(new)


def verify_reply(
    reply: str,
    candidates: Mapping[int, Candidate],
    documents: Mapping[str, Document],
    question: str,
    min_support: float,
) -> VerifiedReply:
    """Keep the reply sentences backed by valid citations; cite exact source spans."""
    question_terms = frozenset(tokenize([question])[0])
    kept: list[str] = []
    unsupported: list[str] = []
    used: dict[int, Candidate] = {}
    for sentence in reply_sentences(reply):
        claim = _clean(sentence)
        if not _WORD.search(claim):
            continue  # a bare marker or punctuation: nothing is claimed
        valid = list(dict.fromkeys(n for n in numbers_in(sentence) if n in candidates))
        cited = [s for n in valid for s in (candidates[n].context, candidates[n].sentence) if s is not None]
        if (
            not valid
            or support(claim, cited, question_terms) < min_support
            or meaning_change(claim, [s.text for s in cited], question) is not None
        ):
            unsupported.append(claim)
            continue
        kept.append(claim + " " + "".join(f"[{n}]" for n in valid))
        for n in valid:
            used.setdefault(n, candidates[n])
    citations = [
        make_citation(
            n,
            documents[c.sentence.doc_id],
            c.sentence.start,
            c.sentence.end,
            c.score,
            c.chunk_id,
            c.sentence.section,
        )
        for n, c in sorted(used.items())
    ]
    return VerifiedReply(text=" ".join(kept), citations=citations, unsupported=unsupported)
