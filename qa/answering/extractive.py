"""The default answerer: 1-3 verbatim source sentences, each followed by its [n] marker (a list
question's introduced list counts as one)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answering.citations import make_citation
from qa.answering.grouping import INTRODUCED_UNITS, LISTED_KINDS, LISTED_UNITS, quoted_group
from qa.contract import Citation
from qa.corpus.chunking import Sentence
from qa.retrieval.answer_type import AnswerType, contains_type
from qa.retrieval.identifiers import api_names
from qa.retrieval.retriever import Retriever, ScoredSentence


@dataclass(frozen=True, slots=True)
class Draft:
    """An answer before it gets a conversation id: text with markers plus its citations."""

    text: str
    citations: list[Citation]


# Questions whose answers span several sentences: reasons, ways, and lists.
_GATHERING = re.compile(
    r"^\s*(how (did|does|do|could|can|would|will|is|was|are|were)\b|what (are|were)\b|list\b|name\b)"
    r"|\b(what|which) \w+ (did|does|could|would|can)\b.*\b(and|stops|things|ways|reasons|steps)\b"
    # "Which characters does string.whitespace contain?": the members of something.
    r"|\b(what|which) \w+s (do|does|did|can|could|will|would) .*\b(contain|include|support|accept|hold)s?\b",
    re.IGNORECASE,
)
GATHER_FACTOR = 3.0  # margin multiplier for such questions
_RECOGNISED_BY_CAPITALS = frozenset({AnswerType.PERSON, AnswerType.PLACE})
# Why and how questions: the answer often follows the sentence stating the claim.
_EXPLAINING = re.compile(r"^\s*(why|how (did|does|do|could|can|would|will|is|was|are|were))\b", re.I)


def gathers(kind: AnswerType, question: str) -> bool:
    """The answer is likely a reason, a way or a list: keep more near-best sentences."""
    return kind is AnswerType.REASON or bool(_GATHERING.search(question))


class ExtractiveAnswerer:
    """Quotes the best sentences, each with what it brings along (``qa.answering.grouping``): a
    quotation's speaker, what a colon introduces, a continuation holding the answer asked for.

    Besides the best sentence, any candidate scoring within ``margin`` of it is kept too (up to
    ``max_sentences`` in all): near-ties are where one sentence alone often misses half the answer.
    """

    def __init__(self, max_sentences: int, margin: float) -> None:
        self._max_sentences = max_sentences
        self._margin = margin

    def select(
        self,
        ranked: list[ScoredSentence],
        sentences: list[Sentence],
        kind: AnswerType = AnswerType.OTHER,
        question: str = "",
    ) -> list[tuple[Sentence, float]]:
        """The sentences an answer quotes, in citation order, each with its evidence score."""
        best = ranked[0].score
        gathering = gathers(kind, question)
        margin = self._margin * (GATHER_FACTOR if gathering else 1.0)
        # A question asking for a list gets the whole list a colon introduces (up to LISTED_UNITS
        # items or rows), and the list counts as one sentence of the answer's budget.
        units = LISTED_UNITS if gathering else INTRODUCED_UNITS
        hits = [ranked[0]] + [s for s in ranked[1:] if s.score >= best - margin]
        score_of = {s.sentence.sentence_id: s.score for s in ranked}
        chosen: dict[int, float] = {}
        groups: list[list[Sentence]] = []

        def holds_answer(text: str) -> bool:
            return contains_type(text, kind, question)

        typed = kind is not AnswerType.OTHER
        # Why, how and list answers go on past the sentence that matched (qa.answering.grouping).
        explains = gathering or bool(_EXPLAINING.search(question))

        def cost(group: list[Sentence]) -> int:
            if not gathering:
                return len(group)
            listed = sum(s.kind in LISTED_KINDS for s in group)
            return len(group) - listed + min(listed, 1)

        groups_of = {
            hit.sentence.sentence_id: quoted_group(
                hit.sentence, sentences, holds_answer if typed else None, explains, units
            )
            for hit in hits
        }
        if kind not in _RECOGNISED_BY_CAPITALS and typed:
            # Of near-ties, those whose quote holds the kind of answer asked for come first: "What
            # is the default delay?" is answered by "delay {number} … Default: 1.", not by its
            # neighbours sharing as many words. Not for people and places, which capitals only
            # suggest.
            hits.sort(
                key=lambda h: not any(holds_answer(shown_text(s)) for s in groups_of[h.sentence.sentence_id])
            )
        used = 0
        for hit in hits:
            group = [s for s in groups_of[hit.sentence.sentence_id] if s.sentence_id not in chosen]
            # What a group brings after its sentence may be cut to fit; the sentence and its
            # speaker's sentence before it may not.
            while group and cost(group) > self._max_sentences - used:
                group = group[:-1]
            if hit.sentence not in group:
                if chosen:
                    continue
                # The best sentence is always quoted, alone if its group does not fit.
                group = [hit.sentence]
            # The sentence that matched is cited first, then what it brought along (its
            # speaker's sentence included): citation [1] is the evidence itself.
            group = [hit.sentence] + [s for s in group if s != hit.sentence]
            for sentence in group:
                chosen[sentence.sentence_id] = score_of.get(sentence.sentence_id, hit.score)
            used += cost(group)
            groups.append(group)
        # Groups in rank order, each led by its matching sentence: the best evidence is [1].
        return [(sentence, chosen[sentence.sentence_id]) for group in groups for sentence in group]

    def compose(self, ordered: list[tuple[Sentence, float]], retriever: Retriever) -> Draft:
        """Quotes and citations for the sentences ``select`` chose, in that order."""
        parts: list[str] = []
        citations: list[Citation] = []
        previous_section: str | None = None
        for number, (sentence, score) in enumerate(ordered, start=1):
            document = retriever.index.documents[sentence.doc_id]
            chunk = retriever.chunk_for(sentence.sentence_id)
            citations.append(
                make_citation(
                    number,
                    document,
                    sentence.start,
                    sentence.end,
                    score,
                    chunk.chunk_id if chunk else None,
                    sentence.section,
                )
            )
            subject = described_api(sentence) if sentence.section != previous_section else None
            previous_section = sentence.section
            parts.append(
                f"{subject}: {sentence.text} [{number}]" if subject else f"{sentence.text} [{number}]"
            )
        return Draft(text=" ".join(parts), citations=citations)


def described_api(sentence: Sentence) -> str | None:
    """The section title naming the API a reference sentence describes, when the sentence does not.

    "Return a shell-escaped version of the string s." says nothing without its section
    "shlex.quote(s)": API reference pages name the function once, in the title, and describe it
    in sentences whose subject is implied. The answer shows the title before such a quote (the
    citation carries it too, as ``section``); prose sections and sentences that name their API
    get nothing.
    """
    names = api_names(sentence.section)
    # As written, as a word: "Disable automatic garbage collection." does not name gc.disable().
    named = any(re.search(rf"(?<!\w){re.escape(name)}\b", sentence.text) for name in names)
    return sentence.section if names and not named else None


def shown_text(sentence: Sentence) -> str:
    """The sentence as an answer shows it: under its API title when it does not name its API.

    What the reader sees is what must hold the answer: "This exception is raised if …" under
    "exception shutil.SameFileError" names the exception.
    """
    subject = described_api(sentence)
    return f"{subject}: {sentence.text}" if subject else sentence.text
