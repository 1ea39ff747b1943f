"""What a question quotes or turns on ('^', "once", "even") must be found as written: tokenizing
used to drop it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.embedding.base import Embedder
from qa.index.lexical import tokenize_query
from qa.retrieval.retriever import quoted_literals
from tests.conftest import pipeline_over_text


@pytest.mark.parametrize(
    ("question", "text", "found"),
    [
        ("What does the ',' option mean?", "The ',' option signals a thousands separator.", True),
        ("What does the ',' option mean?", "Options are separated by commas, as usual.", False),
        ('What does the "once" action do?', "“once” | print only the first occurrence", True),
        ('What does the "once" action do?', "Warnings are shown once per location.", True),  # a word
        ("What does the '^' option do?", "'<' | Forces the field to be left-aligned.", False),
    ],
)
def test_a_quoted_literal_is_found_as_written(question: str, text: str, found: bool) -> None:
    (literal,) = quoted_literals(question)
    assert bool(literal.search(text)) is found


@pytest.mark.parametrize("question", ["What did Kim's bodyguards do?", "Why don't they agree?"])
def test_apostrophes_quote_nothing(question: str) -> None:
    assert quoted_literals(question) == []


FORMAT = """# Format options

## The option table

The meaning of the various options is as follows:

| Option | Meaning |
|---|---|
| '<' | Forces the field to be left-aligned within the available space. |
| '>' | Forces the field to be right-aligned within the available space. |
| ',' | Signals the use of a comma for a thousands separator. |
| '_' | Signals the use of an underscore for a thousands separator. |
"""


def test_the_row_holding_the_quoted_symbol_is_quoted_first(tmp_path: Path, real_embedder: Embedder) -> None:
    pipeline = pipeline_over_text(tmp_path / "format", "format.md", FORMAT, real_embedder)
    answer = pipeline.ask("What does the ',' option mean in a format specification?")
    assert answer.answerable
    assert "','" in answer.citations[0].quote and "comma" in answer.citations[0].quote


def test_meaningful_stop_words_are_terms_but_question_frames_are_not() -> None:
    # "even" and "once" decide between two otherwise identical sentences; "how many" and "the
    # name of" frame the question and never appear in the answer.
    assert {"even", "onc", "empti", "re"} <= set(tokenize_query("Is it even, once, empty? See re."))
    assert tokenize_query("How many, what is the name of it, and not?") == ()


ACTIONS = """# warnings

## Filter actions

The default action prints the first occurrence of matching warnings for each location.
The once action prints only the first occurrence of matching warnings.
The always action prints every occurrence of matching warnings.
"""


def test_a_meaningful_stop_word_counts_as_a_match(tmp_path: Path, real_embedder: Embedder) -> None:
    pipeline = pipeline_over_text(tmp_path / "warnings", "warnings.md", ACTIONS, real_embedder)
    ranked = pipeline.retriever.retrieve("What does the once action print?").sentences
    coverage = {scored.sentence.text.split()[1]: scored.coverage for scored in ranked}
    # "once" is the only word telling the three apart: it must count.
    assert coverage["once"] > coverage["default"] == coverage["always"]
    assert ranked[0].sentence.text.startswith("The once action")
