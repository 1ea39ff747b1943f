"""Unit tests of the meaning checks behind LLM verification (qa.answering.meaning)."""

from __future__ import annotations

import pytest

from qa.answering.meaning import meaning_change, names, negates, numbers

SOURCE = (
    "These may be some of the calculations after North Korean leader Kim Jong-un and his "
    "delegation returned home Monday from a closely watched, unexpectedly expansive six-day "
    "traipse around Russia’s Far East."
)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("They have 2 million workers", {2_000_000}),
        ("two million workers and a dozen trains", {2_000_000, 12}),
        ("altitudes of up to 2,000 metres, 3.5 hours", {2_000, 3.5}),
        ("twenty one guns, one hundred and five shells", {21, 105}),
        ("one-on-one talks; one of the sites", set()),  # a lone "one" is a pronoun
        ("a six-day traipse", {6}),
    ],
)
def test_numbers_are_read_as_values(text: str, values: set[float]) -> None:
    assert numbers(text) == values


def test_negation_cues() -> None:
    assert negates("Kim didn’t go") and negates("It is unknown whether") and negates("Kim never went")
    assert not negates("Putin not only talked but also showed sites")


def test_names_skip_openers_but_not_subjects() -> None:
    assert names("Additionally, Kim’s train left Vladivostok.") == {"kim", "vladivostok"}
    assert names("Putin met Kim.") == {"putin", "kim"}


@pytest.mark.parametrize(
    ("claim", "reason"),
    [
        ("Kim returned home Monday after six days in the Russian Far East.", None),
        ("Kim did not return home from Russia.", "negation"),
        ("Kim returned after a ten-day traipse.", "number"),
        ("Kim returned after a 7-day traipse.", "number"),
        ("Putin returned home Monday.", "name"),
        ("Kim returned home from Beijing.", "name"),
        ("No, Kim returned home Monday.", None),  # answers a yes/no question, then the claim
    ],
)
def test_meaning_change_against_a_real_sentence(claim: str, reason: str | None) -> None:
    assert meaning_change(claim, [SOURCE], "Where did Kim go?") == reason


def test_a_name_from_the_question_is_not_a_new_claim() -> None:
    assert meaning_change("Kim travelled with Choe Son-hui.", [SOURCE], "Did Choe Son-hui travel?") is None
