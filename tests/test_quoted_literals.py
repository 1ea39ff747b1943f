"""What a question quotes ('^', "once") must be found as written: tokenizing drops it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.embedding.base import Embedder
from qa.retrieval.retriever import quoted_literals
from tests.conftest import pipeline_over


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
    source = tmp_path / "format.md"
    source.write_text(FORMAT)
    pipeline = pipeline_over(tmp_path / "format", {"format.md": source}, real_embedder)
    answer = pipeline.ask("What does the ',' option mean in a format specification?")
    assert answer.answerable
    assert "','" in answer.citations[0].quote and "comma" in answer.citations[0].quote
