"""Built-in evaluation over a JSONL question file (see eval/dev_questions.jsonl).

Each line: ``{"id", "q", "evidence": [str], "answer": [[alternatives]]}`` for an answerable item,
or ``{"id", "q", "unanswerable": true}``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

from pydantic import BaseModel, ValidationError

from qa.contract import Answer
from qa.errors import InvalidInputError
from qa.pipeline import QAPipeline


class EvalItem(BaseModel):
    id: str
    q: str
    evidence: list[str] = []
    answer: list[list[str]] = []
    unanswerable: bool = False


@dataclass
class ItemResult:
    id: str
    question: str
    answerable_expected: bool
    answered: bool
    answer_correct: bool | None
    citation_hit: bool | None
    valid_quotes: int
    citations: int
    top_score: float | None
    answer: str
    mode: str = "extractive"
    fallback_reason: str | None = None
    unsupported_sentences: int = 0


@dataclass
class EvalReport:
    items: list[ItemResult] = field(default_factory=list)

    def _answerable(self) -> list[ItemResult]:
        return [i for i in self.items if i.answerable_expected]

    def _unanswerable(self) -> list[ItemResult]:
        return [i for i in self.items if not i.answerable_expected]

    def metrics(self) -> dict[str, float | int]:
        answerable, unanswerable = self._answerable(), self._unanswerable()
        citations = sum(i.citations for i in self.items)
        return {
            "questions": len(self.items),
            "answer_accuracy": _share(sum(bool(i.answer_correct) for i in answerable), len(answerable)),
            "citation_hit_rate": _share(sum(bool(i.citation_hit) for i in answerable), len(answerable)),
            "refusal_accuracy": _share(sum(not i.answered for i in unanswerable), len(unanswerable)),
            "unanswerable_refused": sum(not i.answered for i in unanswerable),
            "unanswerable_total": len(unanswerable),
            "false_refusals": sum(not i.answered for i in answerable),
            "quote_validity": _share(sum(i.valid_quotes for i in self.items), citations),
            "llm_answers": sum(i.mode == "llm" for i in self.items),
            "llm_fallbacks": sum(i.fallback_reason is not None for i in self.items),
            "unsupported_sentences_removed": sum(i.unsupported_sentences for i in self.items),
        }

    def fallback_reasons(self) -> dict[str, int]:
        return dict(Counter(i.fallback_reason for i in self.items if i.fallback_reason))

    def to_json(self) -> dict[str, object]:
        return {
            "metrics": self.metrics(),
            "fallback_reasons": self.fallback_reasons(),
            "items": [asdict(i) for i in self.items],
        }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


def load_items(path: Path) -> list[EvalItem]:
    """Parse the question file; a bad line is reported with its number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInputError(f"Cannot read {path}.") from exc
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(EvalItem.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as exc:
            raise InvalidInputError(f"{path}:{number} is not a valid eval item.") from exc
    return items


def _evidence_spans(pipeline: QAPipeline, evidence: list[str]) -> list[tuple[str, int, int]]:
    spans = []
    for text in evidence:
        # Whitespace-insensitive: extraction may join or break lines the evidence was copied across.
        pattern = re.compile(r"\s+".join(re.escape(word) for word in text.split()))
        for document in pipeline.documents():
            found = pattern.search(document.text)
            if found:
                spans.append((document.doc_id, found.start(), found.end()))
    return spans


def score_item(pipeline: QAPipeline, item: EvalItem, answer: Answer) -> ItemResult:
    documents = pipeline.index.documents
    valid = sum(
        c.doc_id in documents and documents[c.doc_id].text[c.start : c.end] == c.quote
        for c in answer.citations
    )
    correct: bool | None = None
    hit: bool | None = None
    if not item.unanswerable:
        text = answer.answer.lower()
        correct = answer.answerable and all(
            any(alt.lower() in text for alt in group) for group in item.answer
        )
        spans = _evidence_spans(pipeline, item.evidence)
        hit = any(
            c.doc_id == doc and c.start < end and start < c.end
            for c in answer.citations
            for doc, start, end in spans
        )
    ranked = pipeline.retriever.rank_sentences(item.q)
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
        mode=answer.mode,
        fallback_reason=answer.fallback_reason,
        unsupported_sentences=len(answer.unsupported_sentences),
    )


def evaluate(pipeline: QAPipeline, items: list[EvalItem]) -> EvalReport:
    """Score every item through ``pipeline.answer``: LLM mode is what gets measured when configured."""
    return asyncio.run(evaluate_async(pipeline, items))


async def evaluate_async(pipeline: QAPipeline, items: list[EvalItem]) -> EvalReport:
    report = EvalReport()
    async with pipeline.llm_session():
        for item in items:
            report.items.append(score_item(pipeline, item, await pipeline.answer(item.q)))
    return report


def calibrate_threshold(report: EvalReport) -> float:
    """The refusal threshold that best separates answerable from unanswerable top scores.

    Among midpoints between neighbouring scores, pick the one with the most items on the right
    side; ties go to the widest gap, so the choice is not balanced on a single question.
    """
    scored = sorted((i.top_score, i.answerable_expected) for i in report.items if i.top_score is not None)
    best: tuple[int, float, float] | None = None
    for (low, _), (high, _) in pairwise(scored):
        threshold = (low + high) / 2
        right = sum((score >= threshold) == answerable for score, answerable in scored)
        candidate = (right, high - low, threshold)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        raise InvalidInputError("Calibration needs at least two scored questions.")
    return round(best[2], 3)
