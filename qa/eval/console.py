"""``qa eval``'s printed report: items, figures with intervals per category, the curve."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from qa.eval.curve import precision_coverage, summary
from qa.eval.report import RATES, EvalReport

_MARK = {True: "✓", False: "✗", None: "-"}
_SHORT = {
    "answer_accuracy": "accuracy",
    "citation_any": "cited",
    "citation_first": "1st cited",
    "false_refusal": "false refusal",
    "refused_on_topic": "refused (on-topic)",
    "refused_off_topic": "refused (off-topic)",
    "refused_unanswerable": "refused (all unanswerable)",
}


def print_items(report: EvalReport, out: Console) -> None:
    table = Table("id", "category", "answered", "ok", "cited", "p", "answer")
    for item in report.items:
        ok = item.answer_correct if item.answerable_expected else item.refused
        score = item.probability if item.probability is not None else item.top_score
        table.add_row(
            item.id,
            item.category,
            "gap" if item.gap_cited else ("yes" if item.answered else "no"),
            _MARK[ok],
            _MARK[item.citation_hit],
            f"{score:.3f}" if score is not None else "-",
            item.answer[:70],
        )
    out.print(table)


def print_figures(report: EvalReport, out: Console) -> None:
    """Overall and per-category rates (value [95% CI] (hits/total))."""
    overall = Table("figure", "overall, 95% bootstrap interval", title="Overall")
    for name, value in report.rates().items():
        overall.add_row(_SHORT[name], str(value))
    metrics = report.metrics()
    overall.add_row("quote validity", str(metrics["quote_validity"]))
    overall.add_row(
        "gap citations (on gold)", f"{metrics['gap_citations']} ({metrics['gap_citations_on_gold']})"
    )
    out.print(overall)
    by_category = report.by_category()
    columns = [n for n in RATES if n != "refused_unanswerable"]
    table = Table("category", "n", *(_SHORT[n] for n in columns), title="Per category")
    for category, rates in by_category.items():
        count = sum(i.category == category for i in report.items)
        table.add_row(
            category, str(count), *(f"{rates[n].value:.2f}" if rates[n].total else "" for n in columns)
        )
    out.print(table)


def print_curve(report: EvalReport, out: Console) -> None:
    points = precision_coverage(report.items)
    table = Table("threshold", "coverage", "recall", "precision", "accuracy", title="Precision–coverage")
    for p in summary(points):
        table.add_row(*(f"{v:.3f}" for v in (p.threshold, p.coverage, p.recall, p.precision, p.accuracy)))
    out.print(table)
