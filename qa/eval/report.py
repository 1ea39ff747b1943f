"""Figures from scored items: rates with bootstrap 95% intervals, overall and per category."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from qa.eval.scoring import ItemResult

BOOTSTRAP_ROUNDS = 1000
BOOTSTRAP_SEED = 20261130


@dataclass(frozen=True)
class Rate:
    """``hits`` of ``total`` with a percentile-bootstrap 95% interval (None when total is 0)."""

    hits: int
    total: int
    low: float | None
    high: float | None

    @property
    def value(self) -> float | None:
        return round(self.hits / self.total, 4) if self.total else None

    def __str__(self) -> str:
        if not self.total:
            return "-"
        return f"{self.value:.3f} [{self.low:.2f}, {self.high:.2f}] ({self.hits}/{self.total})"

    def to_json(self) -> dict[str, object]:
        return {"value": self.value, "hits": self.hits, "total": self.total, "ci95": [self.low, self.high]}


def rate(flags: list[bool], rounds: int = BOOTSTRAP_ROUNDS, seed: int = BOOTSTRAP_SEED) -> Rate:
    """The share of true flags, with the 2.5th and 97.5th percentiles of resampled shares."""
    total, hits = len(flags), sum(flags)
    if not total:
        return Rate(0, 0, None, None)
    generator = random.Random(seed)
    shares = sorted(sum(generator.choices(flags, k=total)) / total for _ in range(rounds))
    return Rate(hits, total, round(shares[int(0.025 * rounds)], 4), round(shares[int(0.975 * rounds) - 1], 4))


# name -> (which items count, which of them are hits)
Selector = Callable[[ItemResult], bool]
RATES: dict[str, tuple[Selector, Selector]] = {
    "answer_accuracy": (lambda i: i.answerable_expected, lambda i: bool(i.answer_correct)),
    "citation_any": (lambda i: i.answerable_expected, lambda i: bool(i.citation_hit)),
    "citation_first": (lambda i: i.answerable_expected, lambda i: bool(i.first_citation_hit)),
    "false_refusal": (lambda i: i.answerable_expected, lambda i: i.refused),
    "refused_on_topic": (lambda i: not i.answerable_expected and not i.off_topic, lambda i: i.refused),
    "refused_off_topic": (lambda i: not i.answerable_expected and i.off_topic, lambda i: i.refused),
    "refused_unanswerable": (lambda i: not i.answerable_expected, lambda i: i.refused),
}


@dataclass
class EvalReport:
    items: list[ItemResult] = field(default_factory=list)

    def rates(self, items: list[ItemResult] | None = None) -> dict[str, Rate]:
        chosen = self.items if items is None else items
        return {name: rate([hit(i) for i in chosen if keep(i)]) for name, (keep, hit) in RATES.items()}

    def by_category(self) -> dict[str, dict[str, Rate]]:
        categories = sorted({i.category for i in self.items})
        return {c: self.rates([i for i in self.items if i.category == c]) for c in categories}

    def metrics(self) -> dict[str, float | int | None]:
        """Flat headline figures (shares rounded to 4 places); intervals are in ``to_json``."""
        answerable = [i for i in self.items if i.answerable_expected]
        unanswerable = [i for i in self.items if not i.answerable_expected]
        rates = self.rates()
        citations = sum(i.citations for i in self.items)
        metrics: dict[str, float | int | None] = {"questions": len(self.items)}
        metrics.update({name: r.value for name, r in rates.items()})
        metrics.update(
            {
                "citation_hit_rate": rates["citation_any"].value,  # the old name
                "unanswerable_refused": sum(i.refused for i in unanswerable),
                "unanswerable_total": len(unanswerable),
                "false_refusals": sum(i.refused for i in answerable),
                "gap_citations": sum(bool(i.gap_cited) for i in self.items),
                "gap_citations_on_gold": sum(bool(i.gap_hit) for i in self.items),
                "quote_validity": round(sum(i.valid_quotes for i in self.items) / citations, 4)
                if citations
                else 1.0,
                "llm_answers": sum(i.mode == "llm" for i in self.items),
                "llm_fallbacks": sum(i.fallback_reason is not None for i in self.items),
                "unsupported_sentences_removed": sum(i.unsupported_sentences for i in self.items),
            }
        )
        return metrics

    def fallback_reasons(self) -> dict[str, int]:
        return dict(Counter(i.fallback_reason for i in self.items if i.fallback_reason))

    def to_json(self) -> dict[str, object]:
        from qa.eval.curve import precision_coverage

        return {
            "metrics": self.metrics(),
            "intervals": {name: r.to_json() for name, r in self.rates().items()},
            "categories": {
                c: {name: r.to_json() for name, r in rates.items() if r.total}
                for c, rates in self.by_category().items()
            },
            "precision_coverage": [asdict(p) for p in precision_coverage(self.items)],
            "fallback_reasons": self.fallback_reasons(),
            "items": [asdict(i) for i in self.items],
        }
