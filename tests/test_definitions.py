"""Reference-documentation questions. Definition questions about an API ("What does
kettlelib.descale do?") are answered by the summary that opens its reference entry, not by a later
sentence that merely names it more often; questions about a default get the sentence that states
it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.answering.extractive import ExtractiveAnswerer
from qa.corpus.chunking import Sentence, sentences_of
from qa.corpus.documents import read_document
from qa.embedding.base import Embedder
from qa.retrieval.answer_type import AnswerType, contains_type, expected_type
from qa.retrieval.identifiers import (
    api_names,
    corpus_identifiers,
    defined_name,
    defined_subject,
    documented_name,
    names_match,
    unknown_identifiers,
)
from qa.retrieval.retriever import ScoredSentence
from tests.conftest import pipeline_over_text


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("class weakref.WeakSet([elements])", "weakref.weakset"),
        ("exception shutil.SameFileError", "shutil.samefileerror"),
        ("textwrap.shorten(text, width, *, placeholder=' [...]')", "textwrap.shorten"),
        ("gc.garbage", "gc.garbage"),
        ("prepare()", "prepare"),  # a method, documented under its class
        ("@functools.total_ordering", "functools.total_ordering"),
        ("pub const fn take(&mut self) -> Option<T>", "take"),  # rustdoc
        ("pub fn take_if<P>(&mut self, predicate: P) -> Option<T>", "take_if"),
        ("std::vec::Vec::push(&mut self, value: T)", "std.vec.vec.push"),
        ("impl<T> Option<T>", None),
        ("Creating virtual environments", None),  # prose headings document no API
        ("Introduction", None),
        ("The pass statement", None),
    ],
)
def test_the_name_a_reference_entry_documents(title: str, name: str | None) -> None:
    assert documented_name(title) == name


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("What does textwrap.shorten do?", ("textwrap.shorten", False)),
        ("What is a WeakSet?", ("weakset", False)),
        ("What is the lru_cache decorator?", ("lru_cache", False)),
        ("What does TopologicalSorter.prepare() do?", ("topologicalsorter.prepare", False)),
        ("What does shlex.quote return?", ("shlex.quote", True)),
        ("What does Option::take do?", ("option.take", False)),  # "::" paths are dotted ones
        ("What is recursion?", None),  # a prose word, not an identifier
        ("What does shlex.quote do with an empty string?", None),  # asks more than a definition
        ("Who is Kim Jong-un?", None),
    ],
)
def test_what_a_definition_question_asks_about(question: str, asked: tuple[str, bool] | None) -> None:
    assert defined_name(question) == asked


def test_an_api_title_names_what_its_signature_documents() -> None:
    assert api_names("pub const fn take(&mut self) -> Option<T>") == ["take"]
    assert api_names("statistics.pstdev(data, mu=None)") == ["pstdev"]
    assert api_names("Creating virtual environments") == []


def test_a_path_written_with_colons_is_an_identifier_too() -> None:
    known = corpus_identifiers(["Option::take takes the value out."])
    assert unknown_identifiers("What does Option::take do?", known) == []
    assert unknown_identifiers("What does Option::frobnicate do?", known) == ["option.frobnicate"]


def test_a_dotted_tail_names_the_same_api() -> None:
    assert names_match("shorten", "textwrap.shorten")
    assert names_match("topologicalsorter.prepare", "prepare")
    assert not names_match("shutil.copy", "copy.copy")
    assert not names_match("copy", "copyfile")


REFERENCE = """# kettlelib — kettles

## kettlelib.descale(kettle)

Remove limescale from the element with citric acid.
Calling kettlelib.descale() on a kettle kettlelib.boil() never heated leaves kettlelib.descale() idle.

## kettlelib.boil(kettle, *, whistle=True)

Heat the water to its boiling point.
Call kettlelib.descale() first when the water is hard.
"""


def test_a_definition_question_is_answered_by_the_entry_summary(
    tmp_path: Path, real_embedder: Embedder
) -> None:
    pipeline = pipeline_over_text(tmp_path / "reference", "kettlelib.md", REFERENCE, real_embedder)
    summary = "Remove limescale from the element with citric acid."
    assert pipeline.retriever.definition_leads("What does kettlelib.descale do?") == {
        next(s.sentence_id for s in pipeline.index.sentences if s.text == summary)
    }
    answer = pipeline.ask("What does kettlelib.descale do?")
    assert answer.answerable
    assert answer.citations[0].quote == summary
    # "What does it return?" wants a summary that speaks of returning: this one does not.
    assert pipeline.retriever.definition_leads("What does kettlelib.descale return?") == set()


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is the default maximum line width used by TextWrapper?", AnswerType.DEFAULT),
        ("Which string terminates the lines by default?", AnswerType.DEFAULT),
        ("What does the delimiter default to?", AnswerType.DEFAULT),
        ("How many bytes does token_bytes return by default?", AnswerType.NUMBER),  # a number first
        ("Does defaultdict.get() use the default_factory?", AnswerType.OTHER),  # names, not defaults
        ("What is a default dict?", AnswerType.OTHER),
        ("Which method sorts instances with the default ordering?", AnswerType.OTHER),
    ],
)
def test_questions_about_a_default(question: str, kind: AnswerType) -> None:
    assert expected_type(question) is kind


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("It defaults to ','.", True),
        ("(default: 70) The maximum length of wrapped lines.", True),
        ("If omitted, the platform's line separator is used.", True),
        ("A one-character string used to separate fields.", False),
        ("Set the default_factory attribute.", False),  # an identifier, not a default
    ],
)
def test_a_sentence_stating_a_default(text: str, holds: bool) -> None:
    assert contains_type(text, AnswerType.DEFAULT, "What is the default delimiter?") is holds


DIALECT = """# csvlib — CSV files

## Dialect.delimiter

A one-character string used to separate fields. It defaults to ','.

## Dialect.quotechar

A one-character string used to quote fields containing special characters.
"""


def test_a_default_question_brings_the_sentence_stating_it(tmp_path: Path, real_embedder: Embedder) -> None:
    pipeline = pipeline_over_text(tmp_path / "dialect", "csvlib.md", DIALECT, real_embedder)
    answer = pipeline.ask("What is the default field delimiter of a dialect?")
    assert answer.answerable
    assert [c.quote for c in answer.citations[:2]] == [
        "A one-character string used to separate fields.",
        "It defaults to ','.",
    ]


CONSTANTS = """# strlib — string constants

## strlib.whitespace

A string containing all ASCII characters that are considered whitespace. This includes the
characters space, tab, linefeed, return, formfeed, and vertical tab.

## strlib.digits

The string '0123456789'.
"""


def test_a_list_question_brings_the_sentence_that_goes_on_with_the_members(
    tmp_path: Path, real_embedder: Embedder
) -> None:
    pipeline = pipeline_over_text(tmp_path / "constants", "strlib.md", CONSTANTS, real_embedder)
    answer = pipeline.ask("Which characters does strlib.whitespace contain?")
    assert answer.answerable
    assert any(c.quote.startswith("This includes the characters space, tab") for c in answer.citations)


NODE_STYLE = """# kettle

## `kettle.pour(cup[, amount])`

Added in: v0.3.0

* `cup` {Cup} The cup to fill.
* `amount` {number} Millilitres to pour.
* Returns: {number}

The `kettle.pour()` method fills the cup and returns the millilitres it poured.
"""


def test_the_summary_is_prose_after_the_version_note_and_the_parameters(
    tmp_path: Path, real_embedder: Embedder
) -> None:
    pipeline = pipeline_over_text(tmp_path / "node", "kettle.md", NODE_STYLE, real_embedder)
    (lead,) = pipeline.retriever.definition_leads("What does kettle.pour do?")
    assert pipeline.index.sentences[lead].text.startswith("The kettle.pour() method fills the cup")
    answer = pipeline.ask("What does kettle.pour do?")
    assert answer.citations[0].quote.startswith("The kettle.pour() method fills the cup")


POUR = """# kettle

## `kettle.pour(cup[, amount])`

* `amount` {number} Millilitres to pour. **Default:** `250`.

Pours water into the cup. Pouring stops when the cup is full. Pouring is slower when the kettle is cold.
"""


def test_of_near_ties_the_one_holding_the_kind_asked_for_comes_first(tmp_path: Path) -> None:
    path = tmp_path / "kettle.md"
    path.write_text(POUR)
    sentences = sentences_of([read_document(path)])

    def find(start: str) -> Sentence:
        return next(s for s in sentences if s.text.startswith(start))

    prose = [find("Pours water"), find("Pouring stops"), find("Pouring is slower")]
    item = find("amount {number}")
    ranked = [ScoredSentence(s, 1.0 - 0.01 * i, 0.8, 0.5) for i, s in enumerate([*prose, item])]
    answerer = ExtractiveAnswerer(max_sentences=3, margin=0.05)
    question = "What is the default amount kettle.pour pours?"
    chosen = [s.text for s, _ in answerer.select(ranked, sentences, expected_type(question), question)]
    # The parameter item brings the "Default: 250." after it, and that group leads.
    assert chosen[:2] == [item.text, "Default: 250."]
    # An untyped question keeps the score order.
    plain = answerer.select(ranked, sentences, question="Tell me about kettle.pour")
    assert [s for s, _ in plain] == prose


COMMANDS = """# Commands

## `kettle pour`

Pours the water into the cup that is on the tray.
When run without a cup, kettle pour reports the water level and the cup size it would pour into.

## `kettle boil`

Heats the water until it boils.
"""


def test_a_section_titled_with_the_subject_opens_the_answer(tmp_path: Path, real_embedder: Embedder) -> None:
    pipeline = pipeline_over_text(tmp_path / "commands", "commands.md", COMMANDS, real_embedder)
    assert defined_subject("What does `kettle pour` do?") == "kettle pour"
    answer = pipeline.ask("What does kettle pour do?")
    assert answer.citations[0].quote == "Pours the water into the cup that is on the tray."
    # Prose questions that are no definition keep the usual ranking.
    assert defined_subject("How do I pour the water?") is None
