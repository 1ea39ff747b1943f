"""Run questions through the pipeline and score each answer against its gold keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.contract import Answer, Citation
from qa.eval.items import EvalItem, EvidenceLocator
from qa.pipeline import QAPipeline


@dataclass
class ItemResult:
    id: str
    question: str
    answerable_expected: bool
    answered: bool
    answer_correct: bool | None
    citation_hit: bool | None  # any citation overlaps the gold evidence
    valid_quotes: int
    citations: int
    top_score: float | None
    answer: str
    category: str = "uncategorised"
    off_topic: bool = False
    first_citation_hit: bool | None = None
    gap_cited: bool = False  # refused, quoting the sentence that shows the gap
    gap_hit: bool | None = None  # ... and that sentence is the gold gap evidence
    probability: float | None = None  # the answerability model's, when it is in use
    signals: list[float] = field(default_factory=list)
    mode: str = "extractive"
    fallback_reason: str | None = None
    unsupported_sentences: int = 0

    @property
    def refused(self) -> bool:
        """No answer given. A cited "the article does not say" answers a gap question."""
        if self.category == "gap" and self.gap_cited:
            return False
        return not self.answered


def _overlaps(citation: Citation, spans: list[tuple[str, int, int]]) -> bool:
    return any(citation.doc_id == d and citation.start < e and s < citation.end for d, s, e in spans)


def score_item(
    pipeline: QAPipeline, item: EvalItem, answer: Answer, locator: EvidenceLocator | None = None
) -> ItemResult:
    documents = pipeline.index.documents
    locator = locator or EvidenceLocator(documents)
    valid = sum(
        c.doc_id in documents and documents[c.doc_id].text[c.start : c.end] == c.quote
        for c in answer.citations
    )
    gap_cited = not answer.answerable and bool(answer.citations)
    correct = hit = first = gap_hit = None
    if not item.unanswerable:
        text = answer.answer.lower()
        given = answer.answerable or (item.category == "gap" and gap_cited)
        correct = given and all(any(alt.lower() in text for alt in group) for group in item.answer)
        spans = locator.spans(item.evidence, item.doc_id)
        cited = answer.citations if given else []
        hit = any(_overlaps(c, spans) for c in cited)
        first = bool(cited) and _overlaps(cited[0], spans)
    elif item.gap_evidence:
        gap_hit = gap_cited and any(
            _overlaps(c, locator.spans([item.gap_evidence], item.doc_id)) for c in answer.citations
        )
    retrieval = pipeline.retriever.retrieve(item.q)
    ranked = retrieval.sentences
    return ItemResult(
        id=item.id,
        question=item.q,
        answerable_expected=not item.unanswerable,
        answered=answer.answerable,
        answer_correct=correct,
        citation_hit=hit,
        valid_quotes=valid,
        citations=len(answer.citations),
        top_score=round(ranked[0].score, 4) if ranked else None,
        answer=answer.answer,
        category=item.category,
        off_topic=item.off_topic,
        first_citation_hit=first,
        gap_cited=gap_cited,
        gap_hit=gap_hit,
        probability=pipeline.decider.probability(retrieval),
        signals=[round(v, 6) for v in pipeline.decider.signals(retrieval)],
        mode=answer.mode,
        fallback_reason=answer.fallback_reason,
        unsupported_sentences=len(answer.unsupported_sentences),
    )
