"""Answerability signals: numbers that say whether the retrieved evidence answers the question.

One retrieval in, one fixed-order feature vector out (``FEATURES`` names them). The fitted
answerability model (``qa.answering.answerability``) is a logistic regression over exactly these
features; its artefact records the names, and a test fails when they drift apart.

What each signal is for:
- ``best_score``, ``best_dense``, ``best_coverage``: how well the best sentence matches at all.
- ``window_coverage``: share of the question's terms found anywhere in the top candidates.
- ``missing_salient``: the idf of the rarest question term that no top candidate contains,
  relative to a term the corpus never uses. On-topic unanswerable questions ("What was Kim's
  salary?") match the names but leave one salient term unmatched.
- ``missing_share``: idf share of question terms no top candidate contains; ``missing_best``:
  the same for the best sentence with its neighbours.
- ``unknown_share``: idf share of question terms the whole corpus never uses.
- ``type_asked`` / ``type_missing``: the question asks for a number, date, person, place, name,
  a default or what someone said, and what the answer would quote (the best sentence and its near-ties,
  each with what it brings along: ``qa.answering.grouping``) holds none the question does not
  already give; ``stated_type_missing``: the same for numbers, dates of events ("when did …",
  not "when is X raised?", a condition), names, speech (by the person and on the named topic
  asked about), a role holder ("who is the president of X?") and closed classes (a colour, a
  currency, an exception, an email or web address, a phone number, a means of travel, a
  complexity, a version) only, whose tests hold in any text (a name may be a code identifier; people and
  places are recognised by capitals, which technical text lacks). The decision refuses
  ``stated_type_missing`` questions outright (``qa.answering.decision``).
- ``time_missing``: the question is pinned to a time ("in 2019", "last year") that the quoted
  evidence does not state; also refused outright.
- ``unknown_identifier``: the question names a code identifier (``functools.partial``,
  ``lru_cache``) the corpus never names (``qa.retrieval.identifiers``); also refused outright.
- ``margin``: lead of the best sentence over the runner-up.
- ``dense_rank`` / ``lexical_rank``: reciprocal rank of the best sentence's chunk in the dense
  and in the BM25 ranking; both high means the two retrievers agree.
- ``query_terms``: how many content terms the question has (short questions score noisily).
"""

from __future__ import annotations

import math

from qa.retrieval.answer_type import AnswerType, asks_for_event_time, contains_type, time_unmatched
from qa.retrieval.identifiers import unknown_identifiers
from qa.retrieval.retriever import CorpusTerms, Retrieval

FEATURES: tuple[str, ...] = (
    "best_score",
    "best_dense",
    "best_coverage",
    "window_coverage",
    "missing_salient",
    "missing_share",
    "missing_best",
    "unknown_share",
    "type_asked",
    "type_missing",
    "stated_type_missing",
    "time_missing",
    "unknown_identifier",
    "margin",
    "dense_rank",
    "lexical_rank",
    "query_terms",
)
WINDOW = 3  # top candidates whose terms count as "matched"


def _reciprocal_rank(ranking: list[int], wanted: set[int]) -> float:
    for rank, chunk in enumerate(ranking):
        if chunk in wanted:
            return 1.0 / (rank + 1)
    return 0.0


# Kinds whose absence from the quoted evidence refuses outright.
_STATED_KINDS = (
    AnswerType.NUMBER,
    AnswerType.DATE,
    AnswerType.NAME,
    AnswerType.SPEECH,
    AnswerType.ROLE,
    AnswerType.CLOSED_CLASS,
)
# Signals that refuse outright whatever the model says.
_RULES = ("stated_type_missing", "time_missing", "unknown_identifier")


def rule_refuses(signals: list[float]) -> bool:
    """The question asks for a number, date, name or speech that the quoted evidence lacks, for
    a time it does not state, or about an identifier the corpus never names: refused whatever
    the model says."""
    return any(signals[FEATURES.index(name)] > 0 for name in _RULES)


def compute_signals(
    retrieval: Retrieval,
    terms: CorpusTerms,
    chunks_of_sentence: dict[int, set[int]],
    quoted: list[str] | None = None,
) -> list[float]:
    """The feature vector for one retrieval, in ``FEATURES`` order.

    ``quoted``: the texts an answer would quote for the best sentence (default: that sentence).
    """
    ranked = retrieval.sentences
    weights = retrieval.weights
    if not ranked:
        return [0.0] * len(FEATURES)
    best = ranked[0]
    top = ranked[:WINDOW]
    matched: set[str] = set()
    for scored in top:
        matched |= terms.context_terms[scored.sentence.sentence_id]
    total = sum(weights.values())
    window_coverage = sum(w for t, w in weights.items() if t in matched) / total if total else 0.0
    missing = [w for t, w in weights.items() if t not in matched]
    missing_salient = max(missing, default=0.0) / terms.unknown_idf
    own = terms.context_terms[best.sentence.sentence_id]
    following = best.sentence.sentence_id + 1
    if following < len(terms.sentence_terms):
        own = own | terms.sentence_terms[following]
    missing_best = sum(w for t, w in weights.items() if t not in own)
    unknown = sum(w for t, w in weights.items() if t not in terms.idf)
    asked = retrieval.kind is not AnswerType.OTHER
    # Reasons are phrased too many ways for a pattern to say one is missing, and so are the
    # conditions a "when does / when should" question asks for. What counts is what
    # the answer would quote (the best sentence with what it brings along), not any nearby candidate.
    quoted = quoted or [best.sentence.text]
    # Nor is a condition: "When does the licence terminate?" asks when, not for a date.
    checkable = retrieval.kind is not AnswerType.REASON and (
        retrieval.kind is not AnswerType.DATE or asks_for_event_time(retrieval.query)
    )
    type_missing = (
        asked
        and checkable
        and not any(contains_type(text, retrieval.kind, retrieval.query) for text in quoted)
    )
    runner_up = ranked[1].score if len(ranked) > 1 else 0.0
    own_chunks = chunks_of_sentence.get(best.sentence.sentence_id, set())
    return [
        best.score,
        best.dense,
        best.coverage,
        window_coverage,
        missing_salient,
        sum(missing) / total if total else 1.0,
        missing_best / total if total else 1.0,
        unknown / total if total else 1.0,
        float(asked),
        float(type_missing),
        float(
            type_missing
            and retrieval.kind in _STATED_KINDS
            and (retrieval.kind is not AnswerType.DATE or asks_for_event_time(retrieval.query))
        ),
        float(time_unmatched(retrieval.query, quoted)),
        float(bool(unknown_identifiers(retrieval.query, terms.identifiers))),
        best.score - runner_up,
        _reciprocal_rank(retrieval.dense_chunks, own_chunks),
        _reciprocal_rank(retrieval.lexical_chunks, own_chunks),
        math.log1p(len(weights)),
    ]
