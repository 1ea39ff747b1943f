"""Ingestion that keeps document structure, on real input.

HTML: pages of Debian's python3.11-doc (Sphinx). Markdown: systemd's HACKING.md as shipped in
Debian's systemd package (front matter, headings, fenced code, lists; LGPL-2.1, copied into
tests/data). PDF: written here with fpdf2, with a heading font, a list and a monospaced listing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fpdf import FPDF
from typer.testing import CliRunner

from qa.api.app import create_app
from qa.cli import app as cli
from qa.config import get_settings
from qa.corpus.chunking import Sentence, build_chunks, sentences_of
from qa.corpus.documents import Document, parse_document, read_document
from qa.embedding.base import Embedder
from qa.pipeline import QAPipeline
from tests.conftest import REPO, pipeline_over

PYDOCS = Path("/usr/share/doc/python3.11/html")
needs_pydocs = pytest.mark.skipif(
    not PYDOCS.is_dir(), reason="python3.11-doc is not installed (apt-get install python3.11-doc)"
)
HACKING = REPO / "tests" / "data" / "systemd-hacking.md"


def parsed(path: Path) -> tuple[Document, list[Sentence]]:
    document = read_document(path)
    sentences = sentences_of([document])
    assert all(document.text[s.start : s.end] == s.text for s in sentences)  # the invariant
    return document, sentences


@needs_pydocs
def test_sphinx_headings_become_sections_without_permalink_glyphs() -> None:
    raw = (PYDOCS / "tutorial" / "controlflow.html").read_text()
    assert raw.count("¶") > 10
    document, sentences = parsed(PYDOCS / "tutorial" / "controlflow.html")
    assert "¶" not in document.text
    assert document.title == "4. More Control Flow Tools"  # the <h1>, not "… — Python 3.11 documentation"
    heading = next(s for s in sentences if s.text == "4.5. pass Statements")
    assert heading.kind == "heading" and heading.section == "4.5. pass Statements"
    following = sentences[heading.sentence_id + 1]
    assert following.kind == "text" and following.section == "4.5. pass Statements"
    assert following.text == "The pass statement does nothing."
    chunks = build_chunks([document], sentences, size=3, overlap=1)
    assert all(c.section for c in chunks)
    assert not any(heading.sentence_id in c.sentence_ids for c in chunks)  # headings only title chunks


@needs_pydocs
def test_sphinx_api_signatures_title_their_descriptions() -> None:
    _, sentences = parsed(PYDOCS / "library" / "bisect.html")
    signature = next(s for s in sentences if s.text.startswith("bisect.bisect_left("))
    described = sentences[signature.sentence_id + 1]
    assert signature.kind == "heading"
    assert described.section == signature.text and described.text.startswith("Locate the insertion point")


@needs_pydocs
def test_sphinx_navigation_and_sidebars_are_dropped() -> None:
    raw = (PYDOCS / "tutorial" / "controlflow.html").read_text()
    chrome = ("Table of Contents", "Previous topic", "Next topic", "This Page", "Quick search")
    assert all(text in raw for text in chrome)
    document, _ = parsed(PYDOCS / "tutorial" / "controlflow.html")
    assert not any(text in document.text for text in chrome)
    assert "Besides the while statement just introduced" in document.text


@needs_pydocs
def test_sphinx_code_blocks_stay_whole() -> None:
    _, sentences = parsed(PYDOCS / "tutorial" / "controlflow.html")
    busy = next(s for s in sentences if "Busy-wait" in s.text)
    assert busy.kind == "code"
    assert busy.text == ">>> while True:\n...     pass  # Busy-wait for keyboard interrupt (Ctrl+C)\n..."
    # Only code keeps line breaks: every other sentence lies on one line.
    assert all("\n" not in s.text for s in sentences if s.kind != "code")
    assert sum(s.kind == "code" for s in sentences) > 20


@needs_pydocs
def test_sphinx_hard_wrapped_lines_are_joined_before_segmentation() -> None:
    raw = (PYDOCS / "tutorial" / "controlflow.html").read_text()
    assert "uses the usual\nflow control statements" in raw
    _, sentences = parsed(PYDOCS / "tutorial" / "controlflow.html")
    assert any(
        s.text.endswith("Python uses the usual flow control statements known from other languages, "
                        "with some twists.")
        for s in sentences
    )  # fmt: skip


@needs_pydocs
def test_sphinx_list_items_are_units() -> None:
    _, sentences = parsed(PYDOCS / "tutorial" / "classes.html")
    items = [s for s in sentences if s.text.startswith(("the innermost scope", "the outermost scope"))]
    assert [s.kind for s in items] == ["item", "item"]
    assert items[0].paragraph != items[1].paragraph  # each item is its own paragraph
    # A table row is one unit too, even where its cells look like sentence ends.
    _, rows = parsed(PYDOCS / "library" / "fnmatch.html")
    assert ("row", "? | matches any single character") in {(s.kind, s.text) for s in rows}


def test_markdown_front_matter_headings_code_and_lists() -> None:
    document, sentences = parsed(HACKING)
    assert document.title == "Hacking on systemd"
    assert "SPDX-License-Identifier" not in document.text and "```" not in document.text
    assert "# " not in document.text.split("\n")[0]
    heading = next(s for s in sentences if s.text == "Fuzzers")
    assert heading.kind == "heading" and sentences[heading.sentence_id + 1].section == "Fuzzers"
    code = next(s for s in sentences if s.text.startswith("# Fedora"))
    assert code.kind == "code" and "\n$ sudo apt-get build-dep systemd\n" in code.text
    # A hard-wrapped paragraph is one line; link targets are gone, link texts stay.
    assert "If you notice a bug or a missing feature, please feel invited to fix it" in document.text
    assert "(https://github.com" not in document.text
    # A list item with two paragraphs is one unit: both sentences share its paragraph.
    meson = next(s for s in sentences if s.text.startswith("meson's configure_file()"))
    see = sentences[meson.sentence_id + 1]
    assert meson.kind == see.kind == "item" and meson.paragraph == see.paragraph
    assert see.text == "See the Meson docs for configure_file() for details."


def test_markdown_formatting_tags_are_markup_but_other_inline_html_is_text() -> None:
    # From pyenv's README: a "<br>" inside a table cell, <kbd> keys; "Vec<T>" is prose, not a tag.
    document = parse_document(
        "readme",
        "# Tools\n\n| variable | meaning |\n|---|---|\n"
        "| PYENV_ROOT | Where versions reside.<br>See root. |\n\n"
        "Press <kbd>Ctrl</kbd>+<kbd>C</kbd> to stop filling a Vec<T>.\n",
        "readme.md",
        markdown=True,
    )
    assert "PYENV_ROOT | Where versions reside. See root." in document.text
    assert "Press Ctrl+C to stop filling a Vec<T>." in document.text


def write_structured_pdf(path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_title("Tea guide")
    line = {"new_x": "LMARGIN", "new_y": "NEXT"}
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 10, "Growing tea in Darjeeling", **line)  # type: ignore[arg-type]
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(
        0, 6,
        "Darjeeling tea is grown on the slopes of the Himalayas at altitudes of up to 2,000 metres. "
        "The first flush is picked in March and fetches the highest prices at the auctions in Kolkata.",
        **line,  # type: ignore[arg-type]
    )  # fmt: skip
    pdf.ln(4)
    for item in (
        "- Plucking: only the top two leaves and a bud are taken, by hand, every five to seven days "
        "during the growing season that runs from March to November.",
        "- Withering: the leaves rest on troughs for up to eighteen hours.",
    ):
        pdf.multi_cell(0, 6, item, **line)  # type: ignore[arg-type]
    pdf.ln(4)
    pdf.set_font("Courier", size=10)
    pdf.multi_cell(0, 5, "def brew(leaves, water):\n    return steep(leaves, water, minutes=3)", **line)  # type: ignore[arg-type]
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 10, "Selling tea", **line)  # type: ignore[arg-type]
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "Most estates sell through the Kolkata auction house.", **line)  # type: ignore[arg-type]
    pdf.output(str(path))


def test_pdf_headings_lists_code_and_wrapped_lines(tmp_path: Path) -> None:
    write_structured_pdf(tmp_path / "tea.pdf")
    _, sentences = parsed(tmp_path / "tea.pdf")
    kinds = {s.text: (s.kind, s.section) for s in sentences}
    assert kinds["Growing tea in Darjeeling"] == ("heading", "Growing tea in Darjeeling")
    # The wrapped paragraph was joined: its second sentence crosses the PDF's line break.
    assert kinds[
        "The first flush is picked in March and fetches the highest prices at the auctions in Kolkata."
    ] == ("text", "Growing tea in Darjeeling")
    plucking = next(s for s in sentences if s.text.startswith("- Plucking"))
    assert plucking.kind == "item" and plucking.text.endswith("runs from March to November.")
    code = next(s for s in sentences if s.kind == "code")
    assert code.text == "def brew(leaves, water):\n    return steep(leaves, water, minutes=3)"
    assert kinds["Most estates sell through the Kolkata auction house."] == ("text", "Selling tea")


@pytest.fixture(scope="module")
def docs_pipeline(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> QAPipeline:
    """The real model over three Python tutorial pages and the Markdown file."""
    if not PYDOCS.is_dir():
        pytest.skip("python3.11-doc is not installed (apt-get install python3.11-doc)")
    files = {
        f"tutorial-{page}.html": PYDOCS / "tutorial" / f"{page}.html"
        for page in ("controlflow", "datastructures", "classes")
    }
    files["hacking.md"] = HACKING
    return pipeline_over(tmp_path_factory.mktemp("docs"), files, real_embedder)


QUESTIONS = [
    "What does the pass statement do?",
    "How do I loop over a dictionary's keys and values at the same time?",
    "What is a set?",
    "What are Python scopes and namespaces?",
    "How do I create a virtual machine image for testing systemd?",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_answers_never_quote_a_heading_and_cite_their_section(
    docs_pipeline: QAPipeline, question: str
) -> None:
    answer = docs_pipeline.ask(question)
    sentences = {(s.doc_id, s.start): s for s in docs_pipeline.index.sentences}
    for citation in answer.citations:
        quoted = sentences[(citation.doc_id, citation.start)]
        assert (
            docs_pipeline.index.documents[citation.doc_id].text[citation.start : citation.end]
            == citation.quote
        )
        assert quoted.kind != "heading"
        assert citation.section == quoted.section and citation.section


def test_search_and_cli_show_the_section(docs_pipeline: QAPipeline) -> None:
    app = create_app(docs_pipeline.settings, lambda _: docs_pipeline)
    with TestClient(app) as client:
        hits = client.post("/v1/search", json={"query": "pass statement does nothing", "k": 3}).json()[
            "results"
        ]
    assert hits and all(hit["section"] for hit in hits)
    assert any(hit["section"] == "4.5. pass Statements" for hit in hits)


@pytest.mark.integration
def test_cli_citations_show_the_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copyfile(HACKING, corpus / "hacking.md")
    monkeypatch.setenv("QA_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    # The ONNX export the session's real embedder uses: not exported again for this index.
    monkeypatch.setenv("QA_EMBEDDING__CACHE_DIR", str(REPO / "index" / "models"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["ask", "How do I add a new fuzz target?"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "[1] hacking › Fuzzers " in result.stdout
