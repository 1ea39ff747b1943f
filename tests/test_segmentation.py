from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qa.corpus.segmentation import split_sentences
from tests.conftest import ARTICLE


def texts(spans_of: str) -> list[str]:
    return [spans_of[s.start : s.end] for s in split_sentences(spans_of)]


def test_abbreviations_and_quotes_do_not_break_sentences() -> None:
    text = (
        "Mr. Kim met Mr. Putin. The U.S. and the U.N. Security Council objected. "
        "“They have 2 million workers,” he said. “Of course,” said Dr. Lee."
    )
    assert texts(text) == [
        "Mr. Kim met Mr. Putin.",
        "The U.S. and the U.N. Security Council objected.",
        "“They have 2 million workers,” he said.",
        "“Of course,” said Dr. Lee.",
    ]


def test_the_article_splits_into_whole_sentences() -> None:
    article = ARTICLE.read_text(encoding="utf-8")
    sentences = texts(article)
    assert 55 <= len(sentences) <= 65
    assert (
        "Mr. Mikheyev applauded Pyongyang’s resistance to pressure from the U.S. and its allies." in sentences
    )
    assert not any(s.endswith(("Mr.", "U.S", "U.N.")) for s in sentences)


def test_a_question_mark_or_a_number_inside_a_sentence_does_not_cut_it() -> None:
    # Both from the Rust book: pysbd cut after the "?" of "the ? operator", and read a number
    # ending a sentence as the enumerator of the next one.
    text = (
        "The ? operator can only be used where the ? fits. Then x is 6. "
        "When the scope is over, x returns to being 6. When we run it, it prints 6."
    )
    assert texts(text) == [
        "The ? operator can only be used where the ? fits.",
        "Then x is 6.",
        "When the scope is over, x returns to being 6.",
        "When we run it, it prints 6.",
    ]
    # Nor does the dot opening a file name (pyenv's README).
    assert texts("Write the version to a .python-version file in the current directory. Done.") == [
        "Write the version to a .python-version file in the current directory.",
        "Done.",
    ]
    # A real question still ends its sentence.
    assert texts("Is it done? Yes. What now? nothing, it seems.") == [
        "Is it done?",
        "Yes.",
        "What now? nothing, it seems.",
    ]


def test_sentences_never_cross_paragraphs() -> None:
    text = "First line without a stop\nSecond line. Third sentence."
    spans = split_sentences(text)
    assert [text[s.start : s.end] for s in spans] == [
        "First line without a stop",
        "Second line.",
        "Third sentence.",
    ]
    assert [s.paragraph for s in spans] == [0, 1, 1]


def test_repeated_sentences_get_their_own_offsets() -> None:
    text = "Yes. No. Yes. No."
    spans = split_sentences(text)
    assert [(s.start, s.end) for s in spans] == [(0, 4), (5, 8), (9, 13), (14, 17)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400))
def test_every_span_round_trips_for_arbitrary_text(text: str) -> None:
    previous_end = 0
    for span in split_sentences(text):
        sentence = text[span.start : span.end]
        assert sentence and sentence == sentence.strip()
        assert span.start >= previous_end  # in order, never overlapping
        assert "\n" not in sentence
        previous_end = span.end


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["Mr. Kim left.", "The U.S. said no.", "“Why?” he asked.", "It rose 3.5 percent.", "Hi!"]
        ),
        min_size=1,
        max_size=8,
    )
)
def test_no_text_is_lost_between_sentences(parts: list[str]) -> None:
    text = " ".join(parts)
    joined = "".join(text[s.start : s.end] for s in split_sentences(text))
    assert joined.replace(" ", "") == text.replace(" ", "")
