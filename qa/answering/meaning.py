"""Meaning checks for an LLM sentence against the sources it cites.

Word overlap cannot see what changes a claim's meaning most cheaply: "Kim did not travel to
Russia" shares every content word with "Kim travelled to Russia", "six days" with "ten days" all
but the number, and "Putin met Kim in Pyongyang" all but the place. So, beside the overlap score:

* **negation** — a claim that negates must cite a source that negates (or says it is unknown);
  a claim that affirms what a source negates (the words right after its "not") is a reversal;
* **numbers** — every number in the claim, as digits or words ("2 million", "six-day"), must
  have the same value in a cited source;
* **names** — every capitalised word inside the claim (people, places, organisations, days)
  must appear in a cited source or in the question (a sentence's first word only when it
  looks like a subject, not an opener such as "Additionally,").

All three are deliberately light heuristics (no model, no download): they only remove a
sentence, never alter one, and a removed sentence is reported in ``unsupported_sentences``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from qa.index.lexical import STOP_WORDS, tokenize_query

_WORD = re.compile(r"\d[\d,]*(?:\.\d+)?|[^\W\d_]+(?:['’][^\W\d_]+)*")
_NEGATION = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "without",
        "cannot",
        "unknown",
        "unclear",
        "unable",
        "failed",
        "fail",
        "fails",
        "refused",
        "denied",
        "lacks",
        "lacked",
    ]
)
_CLAUSE_END = re.compile(r"[,;:—–()\"“”]")
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "dozen": 12,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_STOP = frozenset(STOP_WORDS)
_ANSWER_PARTICLE = re.compile(r"^\s*(?:yes|no)\s*[,;:.—–-]\s*", re.IGNORECASE)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _is_negation(word: str) -> bool:
    return word in _NEGATION or word.endswith(("n't", "n’t"))


def _negations(words: list[str]) -> list[int]:
    """Positions of negations; "not only … but also" affirms, so it is not one."""
    return [
        i
        for i, w in enumerate(words)
        if _is_negation(w) and not (w == "not" and i + 1 < len(words) and words[i + 1] == "only")
    ]


def negates(text: str) -> bool:
    return bool(_negations(_words(text)))


def negated_terms(text: str) -> list[frozenset[str]]:
    """For each negation in ``text``, the first two content terms after it in its clause."""
    scopes = []
    for clause in _CLAUSE_END.split(text):
        words = _words(clause)
        for position in _negations(words):
            after = " ".join(w for w in words[position + 1 :] if not _is_negation(w))
            terms = tokenize_query(after)[:2]
            if terms:
                scopes.append(frozenset(terms))
    return scopes


def numbers(text: str) -> set[float]:
    """Values of the numbers in ``text``: digits ("2,000", "3.5") and number words ("six",
    "two million", "a dozen"). A lone "one" is not counted: it is far more often a pronoun."""
    values: set[float] = set()
    total = current = 0.0
    words_in_phrase = 0
    only_one = False

    def close() -> None:
        nonlocal total, current, words_in_phrase, only_one
        if words_in_phrase and not (only_one and words_in_phrase == 1):
            values.add(total + current)
        total = current = 0.0
        words_in_phrase = 0
        only_one = False

    for word in _words(text):
        if word[0].isdigit():
            if words_in_phrase:
                close()
            current = float(word.replace(",", ""))
        elif word in _UNITS:
            if words_in_phrase and current % (100 if _UNITS[word] >= 10 else 10):
                close()  # "five six" is two numbers; "twenty one" and "hundred five" are one
            only_one = only_one or (word == "one" and not words_in_phrase)
            current += _UNITS[word]
        elif word in _SCALES and words_in_phrase:
            if word == "hundred":
                current *= 100
            else:
                total += (current or 1) * _SCALES[word]
                current = 0.0
        elif word == "and" and words_in_phrase:
            continue
        else:
            close()
            continue
        words_in_phrase += 1
    close()
    return values


def names(sentence: str) -> set[str]:
    """Capitalised words, lower-cased, possessives cut (stop words are dropped by the caller).

    The first word is capitalised anyway, so it counts only when it looks like a subject
    ("Putin met …"), not an opener ("Additionally, …", "Overall, …").
    """
    found = set()
    for position, match in enumerate(_WORD.finditer(sentence)):
        word = match.group(0)
        if not word[0].isupper() or len(word) < 2:
            continue
        opener = sentence[match.end() : match.end() + 1] == "," or word.lower().endswith("ly")
        if position == 0 and opener:
            continue
        found.add(_possessive(word.lower()))
    return found


def _possessive(word: str) -> str:
    return re.sub(r"['’]s$", "", word)


def _name_in(name: str, words: set[str]) -> bool:
    """Present as a word, or as the same stem ("Russia" / "Russian", "Korea" / "Korean")."""
    for word in words:
        shorter = min(len(name), len(word))
        common = len(_common_prefix(name, word))
        if name == word or (common >= 5 and common >= shorter - 1):
            return True
    return False


def _common_prefix(a: str, b: str) -> str:
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return a[:size]


def meaning_change(claim: str, cited: Iterable[str], question: str) -> str | None:
    """Why ``claim`` says something its cited sources do not (negation, number, name), or None."""
    sources = list(cited)
    # A leading "Yes," / "No," answers the question; the claim is what follows it.
    claim = _ANSWER_PARTICLE.sub("", claim)
    if negates(claim) and not any(negates(s) for s in sources):
        return "negation"
    if not negates(claim):
        claim_terms = frozenset(tokenize_query(claim))
        for source in sources:
            if any(scope <= claim_terms for scope in negated_terms(source)):
                return "negation"
    source_numbers = set().union(*(numbers(s) for s in sources)) if sources else set()
    if numbers(claim) - source_numbers:
        return "number"
    known = {_possessive(w) for text in [*sources, question] for w in _words(text)}
    if any(not _name_in(name, known) for name in names(claim) if name not in _STOP):
        return "name"
    return None
