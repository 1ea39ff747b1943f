"""Run a question set through the pipeline, as users reach it."""

from __future__ import annotations

import asyncio

from qa.eval.items import EvalItem, EvidenceLocator
from qa.eval.report import EvalReport
from qa.eval.scoring import score_item
from qa.pipeline import QAPipeline


def evaluate(pipeline: QAPipeline, items: list[EvalItem]) -> EvalReport:
    """Score every item through ``pipeline.answer``: LLM mode is what gets measured when configured."""
    return asyncio.run(evaluate_async(pipeline, items))


async def evaluate_async(pipeline: QAPipeline, items: list[EvalItem]) -> EvalReport:
    locator = EvidenceLocator(pipeline.index.documents)
    report = EvalReport()
    async with pipeline.llm_session():
        for item in items:
            report.items.append(score_item(pipeline, item, await pipeline.answer(item.q), locator))
    return report
