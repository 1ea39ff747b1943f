"""Built-in evaluation: question sets in, figures with intervals out; answerability calibration.

See docs/evaluation.md. ``eval/article/train.jsonl`` is for fitting, ``eval/article/test.jsonl``
for reporting.
"""

from __future__ import annotations

from qa.eval.items import EvalItem, EvidenceLocator, load_items
from qa.eval.report import EvalReport, Rate, rate
from qa.eval.run import evaluate, evaluate_async
from qa.eval.scoring import ItemResult, score_item

__all__ = [
    "EvalItem",
    "EvalReport",
    "EvidenceLocator",
    "ItemResult",
    "Rate",
    "evaluate",
    "evaluate_async",
    "load_items",
    "rate",
    "score_item",
]
