"""Validate eval/pydocs/questions.jsonl against the pages listed in pages.txt.

Usage::

    python eval/pydocs/validate.py [--source DIR | --corpus DIR] [--pages FILE] [--questions FILE]

Pages are read from the python3.11-doc HTML root (``--source``, default: the same
lookup as prepare.py) or from a directory already built by prepare.py
(``--corpus``, flat ``tutorial-foo.html`` files). The visible text of each page is
extracted with html.parser (script/style skipped, all whitespace runs collapsed
to one space). Evidence must come from prose: only the page body
(<div role="main">) counts, and text inside <pre> blocks, headings and API
signatures (<dt>) is excluded from the text evidence is matched against.

Checks:
  * every line is a JSON object with a unique id and a known category;
  * answerable items name a doc_id that is in pages.txt, carry 1-3 evidence
    strings of 4-15 words written with single spaces, each found verbatim in
    the prose text of that page, and answer groups of lowercase alternatives,
    every group having an alternative within ~300 characters of an evidence
    occurrence;
  * unanswerable items have ``"unanswerable": true`` and a "why";
  * totals: >= 70 questions, >= 55 answerable, >= 18 unanswerable, answerable
    questions spread over >= 20 pages.

Exits 0 when everything passes, 1 otherwise, 2 when the docs are missing.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

HERE: Path = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from prepare import NOT_INSTALLED, find_source, flat_name, read_page_list  # noqa: E402

CATEGORIES: frozenset[str] = frozenset(
    {
        "factoid",
        "definition",
        "howto",
        "paraphrase",
        "keyword",
        "code_behaviour",
        "list",
        "unanswerable_ontopic",
        "unanswerable_offtopic",
        "injection",
    }
)
UNANSWERABLE_CATEGORIES: frozenset[str] = frozenset(
    {"unanswerable_ontopic", "unanswerable_offtopic", "injection"}
)
KEY_WINDOW: int = 300
MIN_WORDS, MAX_WORDS = 4, 15
MIN_TOTAL, MIN_ANSWERABLE, MIN_UNANSWERABLE, MIN_PAGES = 70, 55, 18, 20
SKIP_TAGS: frozenset[str] = frozenset({"script", "style"})
NON_PROSE_TAGS: frozenset[str] = frozenset({"pre", "h1", "h2", "h3", "h4", "h5", "h6", "dt"})
BLOCK_TAGS: frozenset[str] = frozenset(
    {
        "p", "div", "li", "ul", "ol", "dl", "dd", "dt", "pre", "table", "tr", "td", "th",
        "section", "h1", "h2", "h3", "h4", "h5", "h6", "br", "blockquote", "nav", "footer",
    }
)  # fmt: skip
WS = re.compile(r"\s+")


def collapse(text: str) -> str:
    return WS.sub(" ", text).strip()


class TextExtractor(HTMLParser):
    """Collects the visible text of a page, and separately the prose of its main body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.visible: list[str] = []
        self.prose: list[str] = []
        self._skip = 0
        self._non_prose = 0
        self._main_divs = 0  # div nesting depth inside <div role="main">; 0 = outside

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div":
            if self._main_divs:
                self._main_divs += 1
            elif ("role", "main") in attrs:
                self._main_divs = 1
        if tag in SKIP_TAGS:
            self._skip += 1
        if tag in NON_PROSE_TAGS:
            self._non_prose += 1
        if tag in BLOCK_TAGS:
            self.visible.append(" ")
            self.prose.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._main_divs:
            self._main_divs -= 1
        if tag in SKIP_TAGS and self._skip:
            self._skip -= 1
        if tag in NON_PROSE_TAGS and self._non_prose:
            self._non_prose -= 1
        if tag in BLOCK_TAGS:
            self.visible.append(" ")
            self.prose.append(" ")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.visible.append(data)
        # A block boundary stands in for skipped non-prose content so that
        # evidence can never straddle a code block or a heading.
        self.prose.append(data if self._main_divs and not self._non_prose else " ")


def page_texts(html: str) -> tuple[str, str]:
    """(visible text, prose text) of an HTML page, whitespace collapsed."""
    parser = TextExtractor()
    parser.feed(html)
    parser.close()
    return collapse("".join(parser.visible)), collapse("".join(parser.prose))


def load_pages(pages: list[str], source: Path | None, corpus: Path | None) -> dict[str, tuple[str, str]]:
    """doc_id -> (visible, prose) for every listed page."""
    texts: dict[str, tuple[str, str]] = {}
    for relative in pages:
        name = flat_name(relative)
        path = corpus / name if corpus is not None else (source or Path(".")) / relative
        html = path.resolve().read_text(encoding="utf-8", errors="replace")
        texts[Path(name).stem] = page_texts(html)
    return texts


def windows(text: str, needle: str) -> list[str]:
    """Text within KEY_WINDOW characters of every occurrence of needle."""
    found: list[str] = []
    start = text.find(needle)
    while start >= 0:
        found.append(text[max(0, start - KEY_WINDOW) : start + len(needle) + KEY_WINDOW])
        start = text.find(needle, start + 1)
    return found


def check_answerable(item: dict[str, object], texts: dict[str, tuple[str, str]], errors: list[str]) -> None:
    qid = item.get("id")
    doc_id = item.get("doc_id")
    if not isinstance(doc_id, str) or doc_id not in texts:
        errors.append(f"{qid}: doc_id {doc_id!r} is not a page of pages.txt")
        return
    prose = texts[doc_id][1].lower()
    evidence = item.get("evidence")
    if not isinstance(evidence, list) or not 1 <= len(evidence) <= 3:
        errors.append(f"{qid}: evidence must be a list of 1-3 strings")
        return
    regions: list[str] = []
    for ev in evidence:
        if not isinstance(ev, str):
            errors.append(f"{qid}: evidence {ev!r} is not a string")
            continue
        if ev != collapse(ev):
            errors.append(f"{qid}: evidence {ev!r} must use single spaces and no outer whitespace")
        words = len(ev.split())
        if not MIN_WORDS <= words <= MAX_WORDS:
            errors.append(f"{qid}: evidence {ev!r} has {words} words (want {MIN_WORDS}-{MAX_WORDS})")
        found = windows(prose, collapse(ev).lower())
        if not found:
            errors.append(f"{qid}: evidence not found in the prose of {doc_id}: {ev!r}")
        regions.extend(found)
    answer = item.get("answer")
    if not isinstance(answer, list) or not answer:
        errors.append(f"{qid}: answer must be a non-empty list of groups")
        return
    for group in answer:
        if not isinstance(group, list) or not group or not all(isinstance(k, str) and k for k in group):
            errors.append(f"{qid}: answer group {group!r} must be a non-empty list of strings")
            continue
        for key in group:
            if key != key.lower():
                errors.append(f"{qid}: answer key {key!r} is not lowercase")
            if key.strip() in {"yes", "no"}:
                errors.append(f"{qid}: answer key {key!r} is a bare yes/no")
        if regions and not any(key.lower() in region for key in group for region in regions):
            errors.append(f"{qid}: no key of {group!r} appears near its evidence in {doc_id}")


def validate(
    items: list[dict[str, object]], texts: dict[str, tuple[str, str]]
) -> tuple[list[str], Counter[str], set[str]]:
    errors: list[str] = []
    categories: Counter[str] = Counter()
    pages_used: set[str] = set()
    ids: Counter[str] = Counter(str(item.get("id")) for item in items)
    for dup, count in ids.items():
        if count > 1:
            errors.append(f"{dup}: id used {count} times")
    for item in items:
        qid = item.get("id")
        category = item.get("category")
        if not isinstance(qid, str) or not qid:
            errors.append(f"item without an id: {item!r}")
        if not isinstance(item.get("q"), str) or not str(item.get("q")).strip():
            errors.append(f"{qid}: missing question text 'q'")
        if category not in CATEGORIES:
            errors.append(f"{qid}: unknown category {category!r}")
            continue
        categories[str(category)] += 1
        if category in UNANSWERABLE_CATEGORIES:
            if item.get("unanswerable") is not True:
                errors.append(f'{qid}: category {category} needs "unanswerable": true')
            if not isinstance(item.get("why"), str) or not str(item.get("why")).strip():
                errors.append(f"{qid}: unanswerable item needs a short 'why'")
            for key in ("doc_id", "evidence", "answer"):
                if key in item:
                    errors.append(f"{qid}: unanswerable item must not carry {key!r}")
        else:
            if item.get("unanswerable"):
                errors.append(f"{qid}: answerable category {category} marked unanswerable")
            check_answerable(item, texts, errors)
            if isinstance(item.get("doc_id"), str):
                pages_used.add(str(item["doc_id"]))
    answerable = sum(n for c, n in categories.items() if c not in UNANSWERABLE_CATEGORIES)
    unanswerable = sum(n for c, n in categories.items() if c in UNANSWERABLE_CATEGORIES)
    if len(items) < MIN_TOTAL:
        errors.append(f"only {len(items)} questions (want >= {MIN_TOTAL})")
    if answerable < MIN_ANSWERABLE:
        errors.append(f"only {answerable} answerable questions (want >= {MIN_ANSWERABLE})")
    if unanswerable < MIN_UNANSWERABLE:
        errors.append(f"only {unanswerable} unanswerable questions (want >= {MIN_UNANSWERABLE})")
    if len(pages_used) < MIN_PAGES:
        errors.append(f"answerable questions cover only {len(pages_used)} pages (want >= {MIN_PAGES})")
    return errors, categories, pages_used


def read_questions(path: Path) -> tuple[list[dict[str, object]], list[str]]:
    items: list[dict[str, object]] = []
    errors: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {number}: invalid JSON ({exc})")
            continue
        if not isinstance(obj, dict):
            errors.append(f"line {number}: not a JSON object")
            continue
        items.append(obj)
    return items, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate the Python-docs evaluation questions.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--source", type=Path, default=None, help="python3.11-doc HTML root")
    where.add_argument("--corpus", type=Path, default=None, help="directory built by prepare.py")
    parser.add_argument("--pages", type=Path, default=HERE / "pages.txt")
    parser.add_argument("--questions", type=Path, default=HERE / "questions.jsonl")
    args = parser.parse_args(argv)

    source: Path | None = args.source
    if args.corpus is None and source is None:
        source = find_source()
        if source is None:
            print(NOT_INSTALLED, file=sys.stderr)
            return 2
    try:
        texts = load_pages(read_page_list(args.pages), source, args.corpus)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    items, errors = read_questions(args.questions)
    more, categories, pages_used = validate(items, texts)
    errors.extend(more)

    answerable = sum(n for c, n in categories.items() if c not in UNANSWERABLE_CATEGORIES)
    print(f"pages: {len(texts)} listed, {len(pages_used)} with answerable questions")
    print(f"questions: {len(items)} ({answerable} answerable, {len(items) - answerable} unanswerable)")
    for category in sorted(categories):
        print(f"  {category:22} {categories[category]}")
    for error in errors:
        print(f"FAIL {error}")
    print("OK" if not errors else f"{len(errors)} problem(s)")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
