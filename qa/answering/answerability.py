"""The learned answerability decision: a logistic regression shipped as a JSON artefact.

The artefact (``answerability.json`` beside this module, or ``QA_ANSWERING__MODEL_PATH``) is
written only by ``qa eval eval/article/train.jsonl --calibrate``; it is plain JSON (no pickles):
feature names, standardisation, coefficients, intercept, the training set and seed, cross-
validated metrics, and the precision–coverage curve of the cross-validated probabilities on the
training questions. ``QA_ANSWERING__STRICTNESS`` is a target precision (the share of answered
questions that are answerable); the threshold on the probability is read off that curve.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from qa.errors import AnswerabilityModelError

DEFAULT_ARTEFACT = Path(__file__).with_name("answerability.json")
ARTEFACT_VERSION = 1


class CurvePoint(BaseModel):
    threshold: float
    precision: float
    coverage: float  # share of answerable training questions answered at this threshold


class ArtefactFile(BaseModel):
    """The JSON artefact's schema (validated on load)."""

    version: int
    model: str
    features: list[str]
    mean: list[float]
    scale: list[float]
    coefficients: list[float]
    intercept: float
    default_strictness: float = Field(ge=0.0, le=1.0)  # training precision at default_threshold
    default_threshold: float = Field(ge=0.0, le=1.0)  # fitted: fewest training errors
    # The single best-score threshold fitted on the same training questions (decision "threshold").
    fallback_min_score: float
    curve: list[CurvePoint]
    training: dict[str, object] = {}
    metrics: dict[str, object] = {}


@dataclass(frozen=True, slots=True)
class AnswerabilityModel:
    """``probability(x) = sigmoid(intercept + coef · (x - mean) / scale)``, and its threshold."""

    artefact: ArtefactFile

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.artefact.features)

    def probability(self, values: list[float]) -> float:
        a = self.artefact
        z = a.intercept + sum(
            c * (v - m) / s for c, v, m, s in zip(a.coefficients, values, a.mean, a.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def threshold(self, strictness: float | None) -> float:
        """The lowest probability threshold whose training precision reaches ``strictness``.

        ``None`` gives the fitted default; when no threshold reaches the target, the strictest
        one on the curve (answer least).
        """
        if strictness is None:
            return self.artefact.default_threshold
        target = strictness
        points = sorted(self.artefact.curve, key=lambda p: p.threshold)
        for point in points:
            if point.precision >= target:
                return point.threshold
        return points[-1].threshold if points else 0.5


def load_model(path: Path | None, expected_features: tuple[str, ...]) -> AnswerabilityModel:
    """Read and check the artefact; a missing, malformed or mismatched one is a configuration error."""
    path = path or DEFAULT_ARTEFACT
    try:
        artefact = ArtefactFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise AnswerabilityModelError(
            f"Cannot read the answerability model {path.name}; re-fit it with "
            "`qa eval eval/article/train.jsonl --calibrate`."
        ) from exc
    sizes = {len(artefact.mean), len(artefact.scale), len(artefact.coefficients)}
    if (
        artefact.version != ARTEFACT_VERSION
        or tuple(artefact.features) != expected_features
        or sizes != {len(expected_features)}
    ):
        raise AnswerabilityModelError(
            f"The answerability model {path.name} does not match the features this version computes; "
            "re-fit it with `qa eval eval/article/train.jsonl --calibrate`."
        )
    return AnswerabilityModel(artefact)
