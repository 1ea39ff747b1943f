#!/usr/bin/env python3
"""Validate the article question set against the article text.

Usage: python3 validate.py [ARTICLE_PATH] [QUESTIONS_PATH]

Defaults: ../../corpus/kim-russia-visit.txt relative to this file, and
questions.jsonl beside this file.  Standard library only.

Checks:
  * every line is a JSON object with a unique "id", a known "category", a "q";
  * answerable items have "evidence" (1-4 strings, each a verbatim substring
    of the article, 4-20 words, inside a single sentence) and "answer"
    (non-empty list of non-empty groups of lowercase strings), and every key
    of every group occurs (case-insensitively) in the full text of the
    sentence(s) that contain the evidence strings;
  * unanswerable items have "unanswerable": true and no evidence/answer;
    any "gap_evidence" is a verbatim substring of the article;
  * per-category minimum counts are met.
Exit status is 1 if any check fails.
"""
import json
import os
import re
import sys
from collections import Counter

ANSWERABLE = {
    "factoid": 40,
    "paraphrase": 25,
    "keyword": 15,
    "lowercase_typo": 15,
    "why_how": 20,
    "list": 15,
    "yes_no": 15,
    "who_said": 15,
    "gap": 0,
}
UNANSWERABLE = {
    "unanswerable_number": 12,
    "unanswerable_unnamed": 10,
    "unanswerable_unquoted": 10,
    "unanswerable_background": 12,
    "unanswerable_temporal": 8,
    "unanswerable_detail": 10,
    "unanswerable_offtopic": 10,
    "injection": 8,
}
MAX_GAP = 10
MIN_ANSWERABLE = 175
MIN_UNANSWERABLE = 85

ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "st.", "jr.", "u.s.", "u.n.", "u.k.", "no."}


def sentence_spans(text):
    """Return (start, end) character spans of the article's sentences.

    Lines (paragraphs, headings) are split at . ? ! (optionally followed by a
    closing quote) when followed by whitespace, except after abbreviations
    such as "Mr." or "U.S.".
    """
    spans = []
    pos = 0
    for line in text.split("\n"):
        start = 0
        for m in re.finditer(r"[.?!][\"”’]?(?=\s)", line):
            end = m.end()
            token = line[:m.start() + 1].split()[-1].lower().lstrip("“\"(")
            if token in ABBREVIATIONS or token.split("-")[-1] in ABBREVIATIONS:
                continue
            if line[start:end].strip():
                spans.append((pos + start, pos + end))
            start = end
        if line[start:].strip():
            spans.append((pos + start, pos + len(line)))
        pos += len(line) + 1
    return spans


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    default_article = os.path.join(here, "..", "..", "corpus", "kim-russia-visit.txt")
    article_path = argv[1] if len(argv) > 1 else default_article
    questions_path = argv[2] if len(argv) > 2 else os.path.join(here, "questions.jsonl")

    with open(article_path, encoding="utf-8") as f:
        article = f.read()
    spans = sentence_spans(article)

    def sentence_of(s, at):
        for a, b in spans:
            if a <= at < b:
                return a, b
        return None

    errors = []
    ids = set()
    counts = Counter()
    n = 0
    with open(questions_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            n += 1
            where = f"line {lineno}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{where}: bad JSON: {e}")
                continue
            qid = item.get("id")
            where = f"line {lineno} ({qid})"
            if not qid or not isinstance(qid, str):
                errors.append(f"{where}: missing id")
            elif qid in ids:
                errors.append(f"{where}: duplicate id")
            ids.add(qid)
            cat = item.get("category")
            counts[cat] += 1
            if cat not in ANSWERABLE and cat not in UNANSWERABLE:
                errors.append(f"{where}: unknown category {cat!r}")
                continue
            if not isinstance(item.get("q"), str) or not item["q"].strip():
                errors.append(f"{where}: missing q")

            if cat in UNANSWERABLE:
                if item.get("unanswerable") is not True:
                    errors.append(f"{where}: unanswerable category without unanswerable: true")
                if "evidence" in item or "answer" in item:
                    errors.append(f"{where}: unanswerable item has evidence/answer")
                gap = item.get("gap_evidence")
                if gap is not None:
                    gaps = gap if isinstance(gap, list) else [gap]
                    for g in gaps:
                        if not isinstance(g, str) or article.find(g) < 0:
                            errors.append(f"{where}: gap_evidence not in article: {g!r}")
                continue

            # answerable
            if item.get("unanswerable"):
                errors.append(f"{where}: answerable category marked unanswerable")
            ev = item.get("evidence")
            ans = item.get("answer")
            if not isinstance(ev, list) or not 1 <= len(ev) <= 4:
                errors.append(f"{where}: evidence must be a list of 1-4 strings")
                continue
            sents = []
            for e in ev:
                if not isinstance(e, str):
                    errors.append(f"{where}: evidence item not a string")
                    continue
                at = article.find(e)
                if at < 0:
                    errors.append(f"{where}: evidence not in article: {e!r}")
                    continue
                words = len(e.split())
                if not 4 <= words <= 20:
                    errors.append(f"{where}: evidence has {words} words (want 4-20): {e!r}")
                sp = sentence_of(e, at)
                if sp is None or at + len(e) > sp[1]:
                    errors.append(f"{where}: evidence crosses a sentence boundary: {e!r}")
                if sp is not None:
                    sents.append(article[sp[0]:sp[1]])
            context = " ".join(sents).lower()
            if not isinstance(ans, list) or not ans:
                errors.append(f"{where}: answer must be a non-empty list of groups")
                continue
            for group in ans:
                if not isinstance(group, list) or not group:
                    errors.append(f"{where}: answer group must be a non-empty list")
                    continue
                for key in group:
                    if not isinstance(key, str) or not key.strip():
                        errors.append(f"{where}: empty/non-string key")
                        continue
                    if key != key.lower():
                        errors.append(f"{where}: key not lowercase: {key!r}")
                    if key.lower() not in context:
                        errors.append(f"{where}: key {key!r} not in evidence sentence(s)")

    for cat, minimum in {**ANSWERABLE, **UNANSWERABLE}.items():
        if counts[cat] < minimum:
            errors.append(f"category {cat}: {counts[cat]} < minimum {minimum}")
    if counts["gap"] > MAX_GAP:
        errors.append(f"category gap: {counts['gap']} > maximum {MAX_GAP}")
    n_ans = sum(counts[c] for c in ANSWERABLE)
    n_unans = sum(counts[c] for c in UNANSWERABLE)
    if n_ans < MIN_ANSWERABLE:
        errors.append(f"answerable total {n_ans} < {MIN_ANSWERABLE}")
    if n_unans < MIN_UNANSWERABLE:
        errors.append(f"unanswerable total {n_unans} < {MIN_UNANSWERABLE}")

    print(f"questions: {n}  answerable: {n_ans}  unanswerable: {n_unans}")
    for cat in list(ANSWERABLE) + list(UNANSWERABLE):
        print(f"  {cat:26s} {counts[cat]}")
    if errors:
        print(f"{len(errors)} error(s):")
        for e in errors:
            print("  " + e)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
