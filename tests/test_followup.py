"""Follow-up questions without an LLM: weighted query expansion from earlier user turns."""

from __future__ import annotations

import pytest

from qa.contract import Turn
from qa.eval import load_items, score_item
from qa.pipeline import QAPipeline
from qa.retrieval.followup import FollowUpExpander
from tests.conftest import DEV_QUESTIONS


def user(text: str) -> Turn:
    return Turn(role="user", content=text)


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        ("What did he say about the triad?", True),
        ("Why?", True),
        ("And the drones?", True),
        ("What did they sign?", True),
        ("What did Putin show Kim?", False),
        ("How can technical blueprints be sent?", False),
        ("Why did Putin show Kim the frigate that he toured?", True),
        ("Why did Putin show Kim the frigate that was docked?", False),
    ],
)
def test_follow_up_detection(question: str, follow_up: bool) -> None:
    assert FollowUpExpander.is_follow_up(question) is follow_up


def test_standalone_questions_are_not_expanded(fake_pipeline: QAPipeline) -> None:
    history = [user("Who is Chun In-bum?"), Turn(role="assistant", content="A general [1].")]
    assert fake_pipeline.retrieval_query("What did Putin show Kim?", history) == "What did Putin show Kim?"
    assert fake_pipeline.retrieval_query("What did he say?", None) == "What did he say?"


def test_expansion_keeps_words_that_meet_the_question(fake_pipeline: QAPipeline) -> None:
    history = [user("Who is Chun In-bum?"), Turn(role="assistant", content="ignored, it is ours")]
    query = fake_pipeline.retrieval_query("What did he say about the triad?", history)
    # "Chun" is used next to "triad" in the article, "In-bum" never is.
    assert query == "What did he say about the triad? Chun"


def test_expansion_prefers_recent_turns_and_ignores_assistant_text(fake_pipeline: QAPipeline) -> None:
    history = [
        user("Who is Alex Neill?"),
        user("Who is Chun In-bum?"),
        Turn(role="assistant", content="Sergey Mikheyev"),
    ]
    terms = fake_pipeline.followups.expansion_terms("Why?", history)
    assert terms[:2] == ["In-bum", "Chun"] and "Mikheyev" not in terms
    assert terms.index("Neill") > terms.index("Chun")


@pytest.mark.integration
def test_triad_follow_up_with_the_real_model(real_pipeline: QAPipeline) -> None:
    first = real_pipeline.ask("Who is Chun In-bum?")
    history = [user("Who is Chun In-bum?"), Turn(role="assistant", content=first.answer)]
    follow = real_pipeline.ask("What did he say about the triad?", history, first.conversation_id)
    assert follow.answerable and follow.conversation_id == first.conversation_id
    assert "“I don’t think North Korea would want the triad" in follow.citations[0].quote
    assert "Mr. Chun said" in follow.answer


@pytest.mark.integration
def test_standalone_questions_are_unharmed_inside_a_conversation(real_pipeline: QAPipeline) -> None:
    """Each dev question asked after an unrelated earlier turn scores as well as on its own."""
    items = load_items(DEV_QUESTIONS)
    earlier = [user("Who is Chun In-bum?"), Turn(role="assistant", content="A retired general [1].")]
    for item in items:
        alone = score_item(real_pipeline, item, real_pipeline.ask(item.q))
        after = score_item(real_pipeline, item, real_pipeline.ask(item.q, earlier))
        assert (after.answered, after.answer_correct, after.citation_hit) == (
            alone.answered,
            alone.answer_correct,
            alone.citation_hit,
        ), item.id
