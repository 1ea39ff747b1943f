"""Follow-up questions without an LLM: weighted query expansion from earlier user turns.

"What did he say about the triad?" cannot be retrieved on its own: "he" names nobody. When a
question leans on the conversation (a pronoun, or almost no content words of its own), we append
informative words of the earlier user turns to the retrieval query. Each candidate word is
weighted by its rarity in the corpus (IDF), by recency (each older turn counts ``DECAY`` times
less) and by how often the corpus uses it next to the question's own words (a sentence and the
one before it). A word that never meets the question's words is dropped: for "Who is Chun In-bum?"
→ "What did he say about the triad?", "Chun" meets "triad" (“… triad …,” Mr. Chun said) and is
added, "In-bum" does not and would only pull retrieval back to the first question. A question
that stands on its own is left untouched, so topic switches and the eval set are unaffected.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from qa.contract import Turn
from qa.index.lexical import tokenize
from qa.retrieval.retriever import CorpusTerms

# Words that point back into the conversation instead of naming their subject. "that", "there"
# and "then" are left out: as in "the frigate that Kim visited" they mostly do not.
ANAPHORA = frozenset(
    [
        *("he", "him", "his", "himself", "she", "her", "hers", "herself"),
        *("they", "them", "their", "theirs", "themselves", "it", "its", "itself", "this", "these", "those"),
    ]
)
ELLIPSIS = re.compile(
    r"^\s*(and|also|what about|how about)\b|^\s*(why|why not|how so|really)\s*\??\s*$", re.IGNORECASE
)
WORD = re.compile(r"[^\W\d_][\w'’-]*|\d[\w.,]*", re.UNICODE)
DECAY = 0.5  # weight of a turn relative to the one after it
MAX_TERMS = 6  # expansion words appended at most
MAX_TURNS = 3  # earlier user turns considered
MIN_CONTENT_TERMS = 2  # a question with fewer content words of its own is a follow-up


class FollowUpExpander:
    """Builds the retrieval query for a question in the context of earlier user turns."""

    def __init__(self, terms: CorpusTerms) -> None:
        self._idf = terms.idf
        # A sentence and the one before it: the window in which words count as "used together".
        self._windows = terms.context_terms

    def _cooccurrence(self, own: set[str], candidates: set[str]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for window in self._windows:
            if own & window:
                counts.update(candidates & window)
        return counts

    @staticmethod
    def is_follow_up(question: str) -> bool:
        """True when the question needs the conversation to be understood."""
        words = {w.lower().strip("'’") for w in WORD.findall(question)}
        if words & ANAPHORA or ELLIPSIS.match(question):
            return True
        return len(set(tokenize([question])[0])) < MIN_CONTENT_TERMS

    def expansion_terms(self, question: str, history: Sequence[Turn]) -> list[str]:
        """The earlier turns' words worth adding, best first (surface forms, not stems)."""
        own = set(tokenize([question])[0])
        user_turns = [t.content for t in history if t.role == "user"][-MAX_TURNS:]
        weights: dict[str, float] = {}
        surface: dict[str, str] = {}
        for age, text in enumerate(reversed(user_turns)):
            recency = DECAY**age
            for word in WORD.findall(text):
                stems = tokenize([word])[0]
                # Words the corpus never uses cannot help retrieval; stop words have no stems.
                known = [s for s in stems if s in self._idf and s not in own]
                if not known:
                    continue
                weight = recency * max(self._idf[s] for s in known)
                key = word.lower()
                if weight > weights.get(key, 0.0):
                    weights[key] = weight
                    surface[key] = word
        if own:
            # Keep only words the corpus uses near the question's own words, more so the more often.
            word_stems = {k: tokenize([surface[k]])[0] for k in weights}
            together = self._cooccurrence(own, {s for group in word_stems.values() for s in group})
            weights = {
                k: w * math.log1p(max(together[s] for s in word_stems[k]))
                for k, w in weights.items()
                if any(together[s] for s in word_stems[k])
            }
        best = sorted(weights, key=lambda k: (-weights[k], k))[:MAX_TERMS]
        return [surface[k] for k in best]

    def expand(self, question: str, history: Sequence[Turn] | None) -> str:
        """The question, followed by weighted context words when it is a follow-up."""
        if not history or not self.is_follow_up(question):
            return question
        terms = self.expansion_terms(question, history)
        return f"{question} {' '.join(terms)}" if terms else question
