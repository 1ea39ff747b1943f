"""The precision–coverage curve of the answerability score, as numbers and as a PNG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qa.eval.scoring import ItemResult


@dataclass(frozen=True)
class CoveragePoint:
    threshold: float  # answer when the score is at least this
    coverage: float  # share of all questions answered
    recall: float  # share of answerable questions answered
    precision: float  # share of answered questions that are answerable
    accuracy: float  # share of answered questions answered correctly (right answer keys)


def score_of(item: ItemResult) -> float | None:
    """The answerability model's probability, else the best evidence score."""
    return item.probability if item.probability is not None else item.top_score


def precision_coverage(items: list[ItemResult]) -> list[CoveragePoint]:
    """One point per distinct score, from the strictest threshold to the most lenient."""
    scored = [(s, i) for i in items if (s := score_of(i)) is not None]
    positives = sum(i.answerable_expected for _, i in scored)
    points = []
    for threshold in sorted({s for s, _ in scored}, reverse=True):
        answered = [i for s, i in scored if s >= threshold]
        good = sum(i.answerable_expected for i in answered)
        correct = sum(bool(i.answer_correct) for i in answered)
        points.append(
            CoveragePoint(
                threshold=round(threshold, 4),
                coverage=round(len(answered) / len(scored), 4),
                recall=round(good / positives, 4) if positives else 0.0,
                precision=round(good / len(answered), 4),
                accuracy=round(correct / len(answered), 4),
            )
        )
    return points


def summary(points: list[CoveragePoint], steps: int = 10) -> list[CoveragePoint]:
    """About ``steps`` points evenly spread over coverage, for printing."""
    chosen: list[CoveragePoint] = []
    for k in range(1, steps + 1):
        target = k / steps
        candidates = [p for p in points if p.coverage <= target + 1e-9]
        if candidates and candidates[-1] not in chosen:
            chosen.append(candidates[-1])
    return chosen


def plot(points: list[CoveragePoint], path: Path, title: str) -> None:
    """Write the curve as a PNG (matplotlib, headless Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=110)
    coverage = [p.coverage for p in points]
    axes.plot(coverage, [p.precision for p in points], label="precision (answerable)")
    axes.plot(coverage, [p.accuracy for p in points], label="accuracy of answers", linestyle="--")
    axes.set_xlabel("coverage (share of questions answered)")
    axes.set_ylabel("share of answered questions")
    axes.set_ylim(0, 1.02)
    axes.set_xlim(0, 1.0)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
