"""BM25 (``bm25s``) over stemmed, stop-word-free tokens."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# Words of scikit-learn's classic list that carry meaning a question turns on: "when the number
# is even" against "… is odd", "the 'once' action", "an empty sequence", "the system clock",
# "two flavors", the ``re`` module. Not the words questions are framed with ("how many", "what
# is the name of", "what did X call", "not"): evidence rarely repeats them, and counting them
# as unmatched made answerable questions look unanswerable. The rest of the list (articles,
# pronouns, auxiliaries, prepositions, conjunctions) is noise to BM25.
MEANINGFUL = frozenset(
    {
        "even", "once", "next", "empty", "full", "never", "none", "nothing", "few", "several",
        "least", "top", "bottom", "front", "back", "side", "together", "alone", "without",
        "against", "again", "always", "already", "whole", "fire", "found", "system", "bill",
        "interest", "thick", "thin", "fill", "two", "three", "four", "five", "six", "eight",
        "nine", "ten", "eleven", "twelve", "fifteen", "twenty", "forty", "fifty", "sixty",
        "hundred", "re",
    }
)  # fmt: skip
# The rest of scikit-learn's list plus the verbs every question about a quote carries.
STOP_WORDS = sorted((set(ENGLISH_STOP_WORDS) - MEANINGFUL) | {"did", "does", "say", "says", "said"})


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed tokens, one list per text."""
    tokens = bm25s.tokenize(
        texts, stopwords=STOP_WORDS, stemmer=_stemmer(), return_ids=False, show_progress=False
    )
    return [list(t) for t in tokens]


# bm25s.tokenize's own defaults (scikit-learn's token pattern), for the one-text fast path below.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_STOP_SET = frozenset(STOP_WORDS)


@lru_cache(maxsize=4096)
def tokenize_query(text: str) -> tuple[str, ...]:
    """``tokenize([text])[0]`` for one text, without bm25s's per-call set-up (and cached).

    bm25s.tokenize builds a vocabulary and progress bars on every call, which costs more than
    the BM25 search itself for a short question. Same steps: lower-case, split, drop stop
    words, stem. A test holds the two equal on arbitrary text.
    """
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOP_SET]
    return tuple(_stemmer().stemWords(words))


class LexicalIndex:
    """A BM25 index over a fixed list of texts, addressed by position."""

    def __init__(self, model: bm25s.BM25, size: int) -> None:
        self._model = model
        self.size = size

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        model = bm25s.BM25()
        model.index(tokenize(texts), show_progress=False)
        return cls(model, len(texts))

    def save(self, directory: Path) -> None:
        self._model.save(str(directory), show_progress=False)
        (directory / "size.txt").write_text(str(self.size))

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        model = bm25s.BM25.load(str(directory), show_progress=False)
        return cls(model, int((directory / "size.txt").read_text()))

    def scores(self, query_tokens: list[str]) -> npt.NDArray[np.float32]:
        """BM25 score of every text for the query (zeros when no query token is known)."""
        if not query_tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(query_tokens), dtype=np.float32)


def top_positions(scores: npt.NDArray[np.float32], depth: int) -> npt.NDArray[np.intp]:
    """Indices of the ``depth`` best scores, ties by position: ``argsort(-scores, stable)[:depth]``.

    Sorting a million scores for the top 16 is wasteful; a partition finds the cut-off first
    and only the (tied-inclusive) survivors are sorted, so the order is exactly the full sort's.
    """
    if depth <= 0:
        return np.zeros(0, dtype=np.intp)
    if len(scores) <= 4 * depth:
        return np.argsort(-scores, kind="stable")[:depth]
    cutoff = np.partition(scores, len(scores) - depth)[len(scores) - depth]
    survivors = np.flatnonzero(scores >= cutoff)
    return survivors[np.argsort(-scores[survivors], kind="stable")][:depth]
