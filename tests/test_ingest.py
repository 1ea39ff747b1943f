"""Many documents: HTML and PDF ingestion, `qa index add/remove`, vector reuse, bad files skipped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fpdf import FPDF

from qa.config import Settings
from qa.corpus.documents import load_corpus, read_document
from qa.embedding.base import Vectors
from qa.errors import CorpusError, NotFoundError
from qa.index import build_index, load_index, read_manifest, staleness
from qa.index.ingest import add_documents, remove_document
from qa.pipeline import QAPipeline
from tests.conftest import REPO
from tests.fakes import FakeEmbedder

HTML = """<!doctype html><html><head><title>Volcanoes of Kamchatka</title></head><body>
<nav><a href="/">Home</a> | <a href="/world">World</a> | <a href="/login">Log in</a></nav>
<article><h1>Volcanoes of Kamchatka</h1>
<p>The Kamchatka Peninsula has more than 160 volcanoes, about 29 of them still active.
Klyuchevskaya Sopka is the highest active volcano in Eurasia, at 4,750 metres.</p>
<p>Scientists from the Institute of Volcanology watch the eruptions by satellite. Ash clouds
can disrupt flights across the North Pacific for days.</p>
</article><footer>Copyright 2024 Example News. All rights reserved. Cookie settings.</footer>
<script>var tracking = "do not index me";</script></body></html>
"""
PDF_PARAGRAPHS = [
    "Darjeeling tea is grown on the slopes of the Himalayas at altitudes of up to 2,000 metres. The "
    "first flush is picked in March and fetches the highest prices at the auctions in Kolkata.",
    "Monsoon rains arrive in June, and the second flush gives a fuller, muscatel flavour that many "
    "buyers prefer for blending with teas from Assam.",
]


class CountingEmbedder(FakeEmbedder):
    """Counts every text it embeds, to prove which documents were (not) embedded again."""

    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed(self, texts: list[str]) -> Vectors:
        self.texts += len(texts)
        return super().embed(texts)


def write_pdf(path: Path, paragraphs: list[str], title: str = "Tea in Darjeeling") -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.set_title(title)
    for paragraph in paragraphs:
        pdf.multi_cell(0, 6, paragraph)
        pdf.ln(4)
    pdf.output(str(path))


@pytest.fixture
def incoming(tmp_path: Path) -> Path:
    """A directory of new files: good HTML and PDF, plus three that must be skipped."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "volcanoes.html").write_text(HTML, encoding="utf-8")
    write_pdf(folder / "tea.pdf", PDF_PARAGRAPHS)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (folder / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (folder / "empty.html").write_text("<html><head><title>Nothing</title></head><body></body></html>")
    return folder


def test_html_keeps_the_main_text_and_drops_the_boilerplate(incoming: Path) -> None:
    document = read_document(incoming / "volcanoes.html")
    assert document.doc_id == "volcanoes" and document.title == "Volcanoes of Kamchatka"
    assert "more than 160 volcanoes" in document.text
    assert "Ash clouds can disrupt flights" in document.text
    for boilerplate in ("Log in", "Cookie settings", "do not index me", "<p>"):
        assert boilerplate not in document.text
    assert document.text.startswith(
        "The Kamchatka Peninsula"
    )  # the <h1> repeating the title is kept as title


def test_pdf_text_is_reflowed_into_paragraphs(incoming: Path) -> None:
    document = read_document(incoming / "tea.pdf")
    assert document.title == "Tea in Darjeeling"
    # Hard line breaks inside a paragraph are gone: each paragraph is one line of the text.
    assert "The first flush is picked in March and fetches the highest prices" in document.text
    assert len(document.text.splitlines()) == len(PDF_PARAGRAPHS)


class PagedReport(FPDF):
    """A PDF with a running header and page numbers on every page, like most reports."""

    def header(self) -> None:
        self.set_font("Helvetica", size=9)
        self.cell(0, 8, "Darjeeling Tea Board - Annual Report", align="C")
        self.ln(12)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=9)
        self.cell(0, 10, f"Page {self.page_no()}", align="C")


def test_pdf_page_furniture_is_dropped_and_paragraphs_run_across_pages(tmp_path: Path) -> None:
    paragraphs = [
        f"Estate {n} reported its harvest for the season, noting that the pickers worked from March "
        f"to November and that the rains came {n} days later than in the previous year, which "
        "delayed the second flush and raised the price of the finest lots at the Kolkata auctions."
        for n in range(1, 25)
    ]
    pdf = PagedReport()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for paragraph in paragraphs:
        pdf.multi_cell(0, 6, paragraph)
        pdf.ln(4)
    path = tmp_path / "report.pdf"
    pdf.output(str(path))
    assert pdf.page_no() >= 3

    lines = read_document(path).text.splitlines()
    assert not any("Annual Report" in line or line.startswith("Page ") for line in lines)
    # Every paragraph is whole, including those a page break cut mid-sentence.
    assert lines == paragraphs


@pytest.mark.parametrize("name", ["broken.pdf", "latin1.txt", "empty.html"])
def test_a_bad_file_is_an_error_naming_it(incoming: Path, name: str) -> None:
    def read() -> None:
        if not read_document(incoming / name).text.strip():
            raise CorpusError(f"{name} has no text")

    with pytest.raises(CorpusError, match=re.escape(name)):
        read()


def test_build_skips_bad_files_and_reports_them(settings: Settings, incoming: Path) -> None:
    for path in incoming.iterdir():
        path.rename(settings.corpus_dir / path.name)
    with pytest.raises(CorpusError):  # strict by default (server start-up)
        load_corpus(settings.corpus_dir)
    skipped: list[str] = []
    build_index(settings, FakeEmbedder(), on_skip=lambda path, reason: skipped.append(path.name))
    assert sorted(skipped) == ["broken.pdf", "empty.html", "latin1.txt"]
    manifest = read_manifest(settings.index_dir)
    assert sorted(manifest.skipped) == sorted(skipped)
    assert manifest.counts.documents == 3
    assert staleness(settings) is None  # skipped files are part of the recorded corpus


def test_citations_verify_against_extracted_text(settings: Settings, incoming: Path) -> None:
    report = add_documents(settings, FakeEmbedder(), [incoming])
    assert sorted(report.added) == ["tea", "volcanoes"]
    pipeline = QAPipeline.load(settings, embedder_factory=lambda _: FakeEmbedder())
    for question, expected in [
        ("When is the first flush picked?", "March"),
        ("How high is Klyuchevskaya Sopka volcano?", "4,750 metres"),
        ("How many volcanoes are on Kamchatka?", "160 volcanoes"),
    ]:
        answer = pipeline.ask(question)
        assert answer.answerable and expected in answer.answer
        for citation in answer.citations:
            document = pipeline.document(citation.doc_id)
            assert document.text[citation.start : citation.end] == citation.quote


def test_add_reuses_vectors_of_unchanged_documents(settings: Settings, incoming: Path) -> None:
    embedder = CountingEmbedder()
    build_index(settings, embedder)
    before = load_index(settings.index_dir)
    # Each sentence is embedded twice (alone and read after its predecessor), each chunk once.
    article_texts = 2 * len(before.sentences) + len(before.chunks)
    assert embedder.texts == article_texts

    embedder.texts = 0
    report = add_documents(settings, embedder, [incoming])
    assert sorted(report.added) == ["tea", "volcanoes"]
    bad = ("broken.pdf", "empty.html", "latin1.txt")
    assert sorted(report.skipped) == sorted(str(incoming / n) for n in bad)
    assert report.reused_documents == 1 and report.embedded_documents == 2
    after = load_index(settings.index_dir)
    new_texts = 2 * sum(1 for s in after.sentences if s.doc_id != "kim-russia-visit") + sum(
        1 for c in after.chunks if c.doc_id != "kim-russia-visit"
    )
    assert embedder.texts == new_texts  # the article was not embedded again
    # ... and its vectors were copied exactly.
    old = before.sentence_vectors.reconstruct_n(0, len(before.sentences))
    new_ids = [s.sentence_id for s in after.sentences if s.doc_id == "kim-russia-visit"]
    assert np.array_equal(after.sentence_vectors.reconstruct_batch(np.asarray(new_ids)), old)
    old_contexts = before.context_vectors.reconstruct_n(0, len(before.sentences))
    assert np.array_equal(after.context_vectors.reconstruct_batch(np.asarray(new_ids)), old_contexts)
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == [
        "kim-russia-visit.txt",
        "tea.pdf",
        "volcanoes.html",
    ]
    assert staleness(settings) is None


def test_add_again_replace_and_remove(settings: Settings, incoming: Path, tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    add_documents(settings, embedder, [incoming / "tea.pdf", incoming / "volcanoes.html"])

    embedder.texts = 0
    again = add_documents(settings, embedder, [incoming / "tea.pdf"])
    assert again.unchanged == ["tea"] and embedder.texts == 0 and again.reused_documents == 3

    changed = tmp_path / "changed"
    changed.mkdir()
    write_pdf(changed / "tea.pdf", [*PDF_PARAGRAPHS, "Autumn flush tea is picked in October."])
    replaced = add_documents(settings, embedder, [changed / "tea.pdf"])
    assert replaced.replaced == ["tea"] and replaced.embedded_documents == 1
    assert "October" in QAPipeline.load(settings, lambda _: FakeEmbedder()).document("tea").text

    (changed / "volcanoes.md").write_text("# Volcanoes\n\nNow a Markdown file about volcanoes.\n")
    add_documents(settings, embedder, [changed / "volcanoes.md"])
    assert not (settings.corpus_dir / "volcanoes.html").exists()  # same id, other type: replaced

    removed = remove_document(settings, embedder, "volcanoes")
    assert removed.removed == ["volcanoes"] and removed.embedded_documents == 0
    index = load_index(settings.index_dir)
    assert sorted(index.documents) == ["kim-russia-visit", "tea"]
    assert all(s.doc_id != "volcanoes" for s in index.sentences)
    with pytest.raises(NotFoundError):
        remove_document(settings, embedder, "volcanoes")


@pytest.mark.integration
def test_cli_add_and_remove_with_the_real_model(
    real_embedder: object,
    tmp_path: Path,
    incoming: Path,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "kim-russia-visit.txt").write_bytes((REPO / "corpus" / "kim-russia-visit.txt").read_bytes())
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(corpus),
        "QA_INDEX_DIR": str(tmp_path / "index"),
        "QA_EMBEDDING__CACHE_DIR": str(REPO / "index" / "models"),  # the session's export
        "HF_HUB_OFFLINE": "1",
    }

    def qa(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "qa.cli", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

    added = qa("index", "add", str(incoming))
    assert added.returncode == 0, added.stderr
    summary = " ".join(added.stderr.split())
    assert "2 added" in summary and "3 skipped" in summary
    for name in ("broken.pdf", "latin1.txt", "empty.html"):
        assert name in summary
    assert "Traceback" not in added.stderr

    asked = qa("ask", "--json", "When is the first flush of Darjeeling tea picked?")
    assert asked.returncode == 0 and '"doc_id": "tea"' in asked.stdout and "March" in asked.stdout

    removed = qa("index", "remove", "tea")
    assert removed.returncode == 0 and "1 removed" in " ".join(removed.stderr.split())
    missing = qa("index", "remove", "tea")
    assert missing.returncode == 1 and "No document with id 'tea'" in missing.stderr
    assert "Traceback" not in missing.stderr
