"""Fit the answerability model on a training split and write its JSON artefact.

Logistic regression over ``qa.retrieval.signals.FEATURES`` (standardised), regularisation chosen
by stratified 5-fold cross-validation; the precision–coverage curve and the default threshold are
read off *cross-validated* probabilities, so they describe questions the model did not see.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

from qa.answering.answerability import ARTEFACT_VERSION, DEFAULT_ARTEFACT, ArtefactFile
from qa.errors import InvalidInputError
from qa.eval.scoring import ItemResult
from qa.retrieval.signals import FEATURES, rule_refuses

SEED = 20261130
FOLDS = 5
REGULARISATION = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
MIN_RECALL = 0.97  # the product's bar: false refusals <= 3% of answerable questions


def calibrate_threshold(items: list[ItemResult]) -> float:
    """The single best-score threshold that best separates answerable from unanswerable items.

    Among midpoints between neighbouring scores, the one with the most items on the right side;
    ties go to the widest gap.
    """
    scored = sorted((i.top_score, i.answerable_expected) for i in items if i.top_score is not None)
    best: tuple[int, float, float] | None = None
    for (low, _), (high, _) in pairwise(scored):
        threshold = (low + high) / 2
        right = sum((score >= threshold) == answerable for score, answerable in scored)
        candidate = (right, high - low, threshold)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        raise InvalidInputError("Calibration needs at least two scored questions.")
    return round(best[2], 4)


def _curve(probabilities: list[float], labels: list[bool]) -> list[dict[str, float]]:
    positives = sum(labels)
    points = []
    for threshold in sorted(set(probabilities)):
        answered = [y for p, y in zip(probabilities, labels, strict=True) if p >= threshold]
        points.append(
            {
                "threshold": round(threshold, 6),
                "precision": round(sum(answered) / len(answered), 4),
                "coverage": round(sum(answered) / positives, 4) if positives else 0.0,
            }
        )
    return points


def fit(items: list[ItemResult], source: str) -> ArtefactFile:
    """Fit on ``items`` (their signals and gold answerability) and describe the result."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_val_score

    if any(len(i.signals) != len(FEATURES) for i in items):
        raise InvalidInputError("Every item needs the current signals; re-run the evaluation.")
    labels = [i.answerable_expected for i in items]
    if len(set(labels)) < 2 or min(labels.count(True), labels.count(False)) < FOLDS:
        raise InvalidInputError(f"Calibration needs at least {FOLDS} answerable and unanswerable questions.")
    x = np.asarray([i.signals for i in items], dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    # Regularisation by cross-validated log-loss (same folds throughout).
    losses = {
        c: float(cross_val_score(LogisticRegression(C=c), z, y, cv=folds, scoring="neg_log_loss").mean())
        for c in REGULARISATION
    }
    chosen_c = max(losses, key=lambda c: (losses[c], -c))
    model = LogisticRegression(C=chosen_c).fit(z, y)
    held_out = cross_val_predict(LogisticRegression(C=chosen_c), z, y, cv=folds, method="predict_proba")[:, 1]
    probabilities = [float(p) for p in held_out]
    # Default threshold: the strictest one that still answers MIN_RECALL of the answerable
    # training questions (cross-validated): a false refusal costs more trust than it saves.
    # The score floor (fitted first) and the rule already refuse some; all together must keep
    # the recall.
    floor = calibrate_threshold(items)
    # As the decision does: the floor and the missing-answer-type rule refuse before the model.
    passes = [i.top_score is not None and i.top_score >= floor and not rule_refuses(i.signals) for i in items]
    allowed = int((1 - MIN_RECALL) * sum(labels)) - sum(
        lab and not ok for lab, ok in zip(labels, passes, strict=True)
    )
    positives = sorted(p for p, lab, ok in zip(probabilities, labels, passes, strict=True) if lab and ok)
    threshold = positives[max(0, min(allowed, len(positives) - 1))]
    decided = [p >= threshold and ok for p, ok in zip(probabilities, passes, strict=True)]
    errors = sum(d != bool(lab) for d, lab in zip(decided, labels, strict=True))
    answered = [lab for d, lab in zip(decided, labels, strict=True) if d]
    precision = sum(answered) / len(answered) if answered else 1.0
    return ArtefactFile.model_validate(
        {
            "version": ARTEFACT_VERSION,
            "model": "logistic_regression",
            "features": list(FEATURES),
            "mean": [round(float(v), 8) for v in mean],
            "scale": [round(float(v), 8) for v in scale],
            "coefficients": [round(float(v), 8) for v in model.coef_[0]],
            "intercept": round(float(model.intercept_[0]), 8),
            "default_strictness": round(precision, 4),
            "default_threshold": round(threshold, 6),
            "fallback_min_score": floor,
            "curve": _curve(probabilities, labels),
            "training": {
                "source": source,
                "questions": len(items),
                "answerable": sum(labels),
                "seed": SEED,
                "folds": FOLDS,
                "C": chosen_c,
                "fitted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "metrics": {
                "cv_errors_at_default": errors,
                "cv_accuracy_at_default": round(1 - errors / len(labels), 4),
                "cv_precision_at_default": round(precision, 4),
                "cv_recall_at_default": round(sum(answered) / sum(labels), 4),
            },
        }
    )


def write_artefact(artefact: ArtefactFile, path: Path) -> None:
    """Atomically replace the artefact file (a reader never sees half a file)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(artefact.model_dump(), indent=1) + "\n", encoding="utf-8")
    temporary.replace(path)


def refit(items: list[ItemResult], source: Path, path: Path | None = None) -> Path:
    """Fit on ``items`` (read from ``source``) and write the artefact (default: the shipped one)."""
    target = path or DEFAULT_ARTEFACT
    write_artefact(fit(items, source.as_posix()), target)
    return target
