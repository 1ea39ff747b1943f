"""Hard-wrapped plain text (licences, READMEs, RFCs) is read as paragraphs, not as line fragments."""

from __future__ import annotations

from pathlib import Path

from qa.corpus.chunking import sentences_of
from qa.corpus.documents import read_document
from qa.corpus.plaintext import unwrap, wrap_width
from tests.conftest import ARTICLE

DATA = Path(__file__).parent / "data"
LICENCE = DATA / "apache-2.0-excerpt.txt"  # the first 40 lines of the Apache License 2.0, as shipped


def test_text_written_one_paragraph_per_line_is_left_alone() -> None:
    article = ARTICLE.read_text(encoding="utf-8")
    assert wrap_width(article.split("\n")) is None
    assert unwrap(article) == article


def test_a_wrapped_paragraph_becomes_one_line() -> None:
    text = unwrap(LICENCE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    # Centred title lines and the numbered clause heading stay lines of their own.
    assert lines[:3] == ["Apache License", "Version 2.0, January 2004", "http://www.apache.org/licenses/"]
    assert "1. Definitions." in lines
    assert (
        '"Licensor" shall mean the copyright owner or entity authorized by the copyright owner that is'
        " granting the License." in lines
    )


def test_sentences_of_a_wrapped_file_are_whole_and_verifiable() -> None:
    document = read_document(LICENCE)
    sentences = sentences_of([document])
    assert all(document.text[s.start : s.end] == s.text for s in sentences)
    texts = [s.text for s in sentences]
    assert (
        '"Legal Entity" shall mean the union of the acting entity and all other entities that control,'
        " are controlled by, or are under common control with that entity." in texts
    )
    assert not any(text.endswith(("reproduction,", "the copyright owner")) for text in texts)
