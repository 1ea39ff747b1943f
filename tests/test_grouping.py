"""What quoting a sentence brings along (``qa.answering.grouping``), on real parsed documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.answering.extractive import ExtractiveAnswerer, described_api, shown_text
from qa.answering.grouping import carried_on_by, introduced_by, opens_with_anaphor, quoted_group
from qa.corpus.chunking import Sentence, sentences_of
from qa.corpus.documents import read_document
from qa.embedding.base import Embedder
from qa.retrieval.answer_type import AnswerType, contains_type, expected_type
from qa.retrieval.retriever import ScoredSentence
from tests.conftest import pipeline_over_text

GUIDE = """# Brewing guide

## Kettles

The workshop sells kettles in three finishes:

- Copper, polished by hand and lacquered against tarnish.
- Enamel, fired twice and available in four colours.
- Cast iron, seasoned with linseed oil.

Each kettle holds the water for a full pot. It takes 4 minutes to boil on a gas ring.

## Storage

It is unknown whether the glaze is dishwasher safe. Keep the lid off while it dries.

The pot should be rinsed with hot water before brewing. This warms the clay.

A steeping time is set by the leaf grade:

    def steep(grade):
        return {"fine": 2, "broken": 3, "whole": 5}[grade]
"""


@pytest.fixture(scope="module")
def sentences(tmp_path_factory: pytest.TempPathFactory) -> list[Sentence]:
    path: Path = tmp_path_factory.mktemp("guide") / "guide.md"
    path.write_text(GUIDE)
    document = read_document(path)
    parsed = sentences_of([document])
    assert all(document.text[s.start : s.end] == s.text for s in parsed)
    return parsed


def find(sentences: list[Sentence], start: str) -> Sentence:
    return next(s for s in sentences if s.text.startswith(start))


def test_a_colon_brings_the_list_items_it_introduces(sentences: list[Sentence]) -> None:
    intro = find(sentences, "The workshop sells kettles")
    introduced = introduced_by(intro, sentences)
    assert [s.text.split(",")[0] for s in introduced] == ["Copper", "Enamel"]  # at most two units
    assert all(s.kind == "item" for s in introduced)
    assert quoted_group(intro, sentences) == [intro, *introduced]


def test_a_list_question_gets_the_whole_list_and_it_counts_as_one_sentence(
    sentences: list[Sentence],
) -> None:
    intro = find(sentences, "The workshop sells kettles")
    # Only the list: the prose after it ("Each kettle holds …") is not what the colon introduced.
    assert [s.text.split(",")[0] for s in introduced_by(intro, sentences, units=8)] == [
        "Copper",
        "Enamel",
        "Cast iron",
    ]
    other = find(sentences, "The pot should be rinsed")
    ranked = [ScoredSentence(intro, 1.0, 0.9, 0.5), ScoredSentence(other, 0.99, 0.9, 0.5)]
    answerer = ExtractiveAnswerer(max_sentences=3, margin=0.05)
    listed = answerer.select(ranked, sentences, question="What are the finishes on sale?")
    # The intro and its three items use two of the three sentences; the near-tie still fits.
    assert [s.text[:12] for s, _ in listed] == [
        "The workshop",
        "Copper, poli",
        "Enamel, fire",
        "Cast iron, s",
        "The pot shou",
    ]
    # A question that asks for no list gets two items, each counting as a sentence.
    plain = answerer.select(ranked, sentences, question="Who sells kettles?")
    assert [s.text[:12] for s, _ in plain] == ["The workshop", "Copper, poli", "Enamel, fire"]


def test_a_colon_before_code_brings_nothing(sentences: list[Sentence]) -> None:
    intro = find(sentences, "A steeping time is set")
    assert introduced_by(intro, sentences) == []
    assert quoted_group(intro, sentences) == [intro]


def test_a_sentence_without_a_colon_introduces_nothing(sentences: list[Sentence]) -> None:
    assert introduced_by(find(sentences, "Each kettle holds"), sentences) == []


def test_expletive_it_is_not_an_anaphor(sentences: list[Sentence]) -> None:
    assert not opens_with_anaphor(find(sentences, "It is unknown whether"))
    assert opens_with_anaphor(find(sentences, "It takes 4 minutes"))
    assert opens_with_anaphor(find(sentences, "This warms the clay"))


def test_the_continuation_comes_along_only_with_the_kind_of_answer_asked_for(
    sentences: list[Sentence],
) -> None:
    question = "How long does a kettle take to boil?"
    kind = AnswerType.NUMBER

    def holds(text: str) -> bool:
        return contains_type(text, kind, question)

    first = find(sentences, "Each kettle holds")
    continuation = find(sentences, "It takes 4 minutes")
    assert carried_on_by(first, sentences, holds) == continuation
    assert quoted_group(first, sentences, holds) == [first, continuation]
    # Untyped questions, or a sentence already holding the answer, bring no continuation.
    assert quoted_group(first, sentences) == [first]
    assert carried_on_by(first, sentences, lambda text: True) is None
    # "This warms the clay." holds no number: nothing to add for a number question.
    rinse = find(sentences, "The pot should be rinsed")
    assert carried_on_by(rinse, sentences, holds) is None


def test_select_cuts_what_follows_to_fit_but_keeps_the_sentence(sentences: list[Sentence]) -> None:
    intro = find(sentences, "The workshop sells kettles")
    other = find(sentences, "The pot should be rinsed")
    ranked = [ScoredSentence(other, 1.0, 0.9, 0.5), ScoredSentence(intro, 0.99, 0.9, 0.5)]
    chosen = ExtractiveAnswerer(max_sentences=3, margin=0.05).select(ranked, sentences)
    # The near-tie's group [intro, Copper, Enamel] is cut to the two sentences left.
    assert [s.text[:12] for s, _ in chosen] == ["The pot shou", "The workshop", "Copper, poli"]
    one = ExtractiveAnswerer(max_sentences=1, margin=0.05).select(list(reversed(ranked)), sentences)
    assert [s for s, _ in one] == [intro]


REFERENCE = """# kettlelib reference

## kettlelib.boil(kettle, minutes=4)

Heat the water in kettle until it boils, then switch the ring off.
Raises DryKettleError if the kettle is empty.

## kettlelib.descale(kettle)

Remove limescale from the element with citric acid.
Call kettlelib.descale() once a month in hard-water areas.

## exception kettlelib.DryKettleError

This exception is raised when a kettle is switched on without water.
"""


def reference_sentences(tmp_path: Path) -> list[Sentence]:
    path = tmp_path / "kettlelib.md"
    path.write_text(REFERENCE)
    return sentences_of([read_document(path)])


def test_a_reference_quote_is_shown_under_the_api_it_describes(tmp_path: Path) -> None:
    sentences = reference_sentences(tmp_path)
    implied = find(sentences, "Remove limescale")
    assert described_api(implied) == "kettlelib.descale(kettle)"
    # A sentence that names its API needs no title; a prose section gets none.
    assert described_api(find(sentences, "Call kettlelib.descale()")) is None


def test_a_reference_sentence_brings_the_next_one_about_its_api(tmp_path: Path) -> None:
    sentences = reference_sentences(tmp_path)
    heat = find(sentences, "Heat the water")
    question = "What does kettlelib.boil raise when the kettle is empty?"
    assert expected_type(question) is AnswerType.CLOSED_CLASS

    def holds(text: str) -> bool:
        return contains_type(text, AnswerType.CLOSED_CLASS, question)

    # No pronoun links the two, but both describe the API the section title names.
    assert carried_on_by(heat, sentences, holds) == find(sentences, "Raises DryKettleError")
    # In prose only a pronoun makes the next sentence go on about the same subject.
    prose = tmp_path / "log.md"
    prose.write_text("# Log\n\nThe kettle was switched on. Engineers logged a DryKettleError later.\n")
    logged = sentences_of([read_document(prose)])
    assert carried_on_by(find(logged, "The kettle was"), logged, holds) is None


def test_what_the_answer_shows_includes_the_api_title(tmp_path: Path) -> None:
    raised = find(reference_sentences(tmp_path), "This exception is raised")
    question = "What is raised when a kettle is switched on without water?"
    shown = shown_text(raised)
    assert shown == f"exception kettlelib.DryKettleError: {raised.text}"
    assert contains_type(shown, AnswerType.CLOSED_CLASS, question)
    assert not contains_type(raised.text, AnswerType.CLOSED_CLASS, question)


def test_prose_sections_add_nothing(sentences: list[Sentence]) -> None:
    assert all(described_api(s) is None for s in sentences)


def test_answers_from_a_reference_page_name_the_api(tmp_path: Path, real_embedder: Embedder) -> None:
    pipeline = pipeline_over_text(tmp_path / "reference", "kettlelib.md", REFERENCE, real_embedder)
    answer = pipeline.ask("Which function removes limescale?")
    assert answer.answerable
    first = answer.citations[0]
    assert first.quote == "Remove limescale from the element with citric acid."
    assert first.section == "kettlelib.descale(kettle)"
    assert answer.answer.startswith(f"kettlelib.descale(kettle): {first.quote} [1]")
    document = pipeline.index.documents[first.doc_id]
    assert document.text[first.start : first.end] == first.quote


NEWS = """Chun In-bum, a retired general, said the arms complex should not be underestimated.

“They have 2 million workers making munitions,” he said.

Officials in Seoul declined to comment.
"""


def test_why_questions_bring_the_speakers_next_words(tmp_path: Path) -> None:
    path = tmp_path / "news.txt"
    path.write_text(NEWS)
    sentences = sentences_of([read_document(path)])
    claim, reason, other = sentences[0], sentences[1], sentences[2]
    assert quoted_group(claim, sentences, explains=True) == [claim, reason]
    assert quoted_group(claim, sentences) == [claim]  # not for other questions
    assert quoted_group(reason, sentences, explains=True) == [claim, reason]  # speaker first
    assert quoted_group(other, sentences, explains=True) == [other]


def test_the_matching_quotation_is_cited_before_its_speaker(tmp_path: Path) -> None:
    path = tmp_path / "news.txt"
    path.write_text(NEWS)
    sentences = sentences_of([read_document(path)])
    claim, reason = sentences[0], sentences[1]
    ranked = [ScoredSentence(reason, 1.0, 0.9, 0.5)]
    chosen = ExtractiveAnswerer(max_sentences=3, margin=0.05).select(ranked, sentences)
    # Citation [1] is the sentence that answers; the one naming its speaker comes along as [2].
    assert [s for s, _ in chosen] == [reason, claim]
    # Limited to one sentence, the answer still quotes the one that matched.
    assert [s for s, _ in ExtractiveAnswerer(max_sentences=1, margin=0.05).select(ranked, sentences)] == [
        reason
    ]
