"""Contextual headers on real documentation (python3.11-doc pages of the training set only).

A sentence under a section is embedded under its page title and section and counts the section
title's terms as its own, so "Return a shifted left by b." answers a question naming
operator.lshift; the quoted span stays the exact sentence. Terms described together share one
section, and a parenthesised fragment ("(default: 70)") stays with its sentence.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.config import Settings
from qa.corpus.chunking import context_texts, heading_of, sentences_of
from qa.corpus.documents import read_document
from qa.corpus.segmentation import split_paragraph
from qa.embedding.base import Embedder
from qa.index import build_index, staleness
from qa.index.manifest import FORMAT_VERSION
from qa.pipeline import QAPipeline
from qa.retrieval.retriever import CorpusTerms
from tests.conftest import ARTICLE, pipeline_over
from tests.fakes import FakeEmbedder

LIBRARY = Path("/usr/share/doc/python3.11/html/library")
needs_pydocs = pytest.mark.skipif(
    not LIBRARY.is_dir(), reason="python3.11-doc is not installed (apt-get install python3.11-doc)"
)
OPERATOR_TITLE = "operator — Standard operators as functions"


@needs_pydocs
def test_a_docs_sentence_is_embedded_under_its_title_and_section() -> None:
    document = read_document(LIBRARY / "operator.html")
    sentences = sentences_of([document])
    contexts = dict(
        zip((s.sentence_id for s in sentences), context_texts(sentences, document.title), strict=True)
    )
    shifted = next(s for s in sentences if s.text == "Return a shifted left by b.")
    assert document.text[shifted.start : shifted.end] == shifted.text  # the quote is the sentence
    # operator.lshift and operator.__lshift__ are described together: the section names both.
    assert shifted.section == "operator.lshift(a, b), operator.__lshift__(a, b)"
    assert (
        contexts[shifted.sentence_id] == f"{OPERATOR_TITLE} › {shifted.section}\nReturn a shifted left by b."
    )
    # Each term is still a heading of its own in the text, never merged there.
    headings = [s.text for s in sentences if s.kind == "heading"]
    assert "operator.lshift(a, b)" in headings and "operator.__lshift__(a, b)" in headings
    # Under the page's own title the header is the title alone, not repeated.
    intro = next(s for s in sentences if s.text.startswith("The operator module exports"))
    assert intro.section == document.title == OPERATOR_TITLE
    assert heading_of(intro, document.title) == OPERATOR_TITLE
    assert contexts[intro.sentence_id] == f"{OPERATOR_TITLE}\n{intro.text}"


def test_plain_text_keeps_the_sentence_before_as_its_context() -> None:
    document = read_document(ARTICLE)
    sentences = sentences_of([document])
    contexts = context_texts(sentences, document.title)
    assert all(not s.section for s in sentences)
    assert contexts[0] == sentences[0].text
    assert contexts[5] == f"{sentences[4].text} {sentences[5].text}"


@needs_pydocs
def test_a_parenthesised_fragment_stays_with_its_sentence() -> None:
    document = read_document(LIBRARY / "textwrap.html")
    texts = {s.text for s in sentences_of([document])}
    assert "(default: 70) The maximum length of wrapped lines." in texts
    assert "(default: 70)" not in texts
    # A parenthesis that ends like a sentence is one; a trailing fragment joins the one before.
    text = "Gamma distribution. (Not the gamma function!) Conditions apply. See there. (see bpo-17482)"
    assert [text[a:b] for a, b in split_paragraph(text, 0, len(text))] == [
        "Gamma distribution.",
        "(Not the gamma function!)",
        "Conditions apply.",
        "See there. (see bpo-17482)",
    ]


@needs_pydocs
def test_section_terms_count_as_the_sentences_own() -> None:
    document = read_document(LIBRARY / "gc.html")
    sentences = sentences_of([document])
    terms = CorpusTerms(sentences)
    returned = next(s for s in sentences if s.text == "The number of unreachable objects found is returned.")
    assert returned.section == "gc.collect(generation=2)"
    assert {"gc", "collect"} <= terms.section_terms[returned.sentence_id]
    assert {"gc", "collect"} <= terms.context_terms[returned.sentence_id]
    assert "collect" not in terms.sentence_terms[returned.sentence_id]  # idf stays the sentences'


@pytest.fixture(scope="module")
def library_pipeline(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> QAPipeline:
    """The real model over four library pages of the training set."""
    if not LIBRARY.is_dir():
        pytest.skip("python3.11-doc is not installed (apt-get install python3.11-doc)")
    pages = {
        f"library-{page}.html": LIBRARY / f"{page}.html" for page in ("operator", "gc", "textwrap", "pprint")
    }
    return pipeline_over(tmp_path_factory.mktemp("library"), pages, real_embedder)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("question", "best"),
    [
        ("What does operator.lshift(a, b) return?", "Return a shifted left by b."),
        (
            "How does pprint.saferepr show a recursive reference?",
            "If the representation of object exposes a recursive entry, the recursive reference will be "
            "represented as <Recursion on typename with id=number>.",
        ),
        (
            "What is the default maximum line width used by TextWrapper?",
            "(default: 70) The maximum length of wrapped lines.",
        ),
    ],
)
def test_a_question_naming_an_api_finds_the_sentence_under_it(
    library_pipeline: QAPipeline, question: str, best: str
) -> None:
    ranked = library_pipeline.retriever.retrieve(question).sentences
    assert ranked[0].sentence.text == best


def test_an_index_of_the_previous_format_is_stale(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    build_index(settings, fake_embedder)
    assert staleness(settings) is None
    manifest = settings.index_dir / "current" / "manifest.json"
    data = json.loads(manifest.read_text())
    assert data["format_version"] == FORMAT_VERSION == 7
    manifest.write_text(json.dumps({**data, "format_version": 6}))
    assert staleness(settings) == "format_version changed"
