"""LLM mode on the pipeline: verified citations, unsupported sentences, and every fault path.

The model is an ``httpx.MockTransport`` server whose replies cite the numbered sentences it was
actually shown; retrieval uses the fake embedder over the real article.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from qa.answering.events import Finished, Reset, Started, Token
from qa.config import Settings
from qa.contract import Answer, Turn
from qa.eval import evaluate_async, load_items
from qa.pipeline import QAPipeline
from tests.conftest import DEV_QUESTIONS, make_settings
from tests.fake_llm import (
    ScriptedLLM,
    completion,
    is_rewrite,
    llm_settings,
    number_of,
    pipeline_with_llm,
    prompt_of,
    sources,
    split_words,
    streamed,
    unused_url,
)
from tests.fakes import FakeEmbedder

BLUEPRINTS = "How can technical blueprints be sent?"


def blueprint_reply(payload: dict[str, Any]) -> str:
    n = number_of(payload, "blueprints")
    return f"Technical blueprints can be dispatched online [{n}]."


def assert_verifiable(answer: Answer, pipeline: QAPipeline) -> None:
    for citation in answer.citations:
        document = pipeline.index.documents[citation.doc_id]
        assert document.text[citation.start : citation.end] == citation.quote
        assert f"[{citation.id}]" in answer.answer


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[QAPipeline, FakeEmbedder]:
    """One fake-embedder index for the module; each test gets its own pipeline and LLM on it."""
    embedder = FakeEmbedder()
    pipeline = QAPipeline.load(
        make_settings(tmp_path_factory.mktemp("llm")), embedder_factory=lambda _: embedder
    )
    return pipeline, embedder


@pytest.fixture
def make(shared: tuple[QAPipeline, FakeEmbedder]) -> Any:
    base, embedder = shared

    def build(llm: Any, **overrides: object) -> QAPipeline:
        return pipeline_with_llm(base.settings, embedder, llm, base.index, **overrides)

    return build


async def test_llm_answer_cites_the_exact_source_span(make: Any) -> None:
    llm = ScriptedLLM([lambda p: completion(blueprint_reply(p))])
    pipeline = make(llm, api_key=SecretStr("sk-test"), temperature=0.2, max_tokens=123)
    answer = await pipeline.answer(BLUEPRINTS)
    assert answer.mode == "llm" and answer.answerable and answer.fallback_reason is None
    assert answer.answer.startswith("Technical blueprints can be dispatched online")
    [citation] = answer.citations
    assert "Technical blueprints can be dispatched online" in citation.quote
    assert_verifiable(answer, pipeline)
    [request] = llm.requests
    assert request.url == "http://llm.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    payload = llm.payloads[0]
    assert (payload["model"], payload["temperature"], payload["max_tokens"]) == ("test-model", 0.2, 123)
    assert payload["stream"] is False
    assert payload["messages"][0]["role"] == "system"


async def test_the_prompt_fences_sources_and_says_to_ignore_their_instructions(make: Any) -> None:
    llm = ScriptedLLM([lambda p: completion(blueprint_reply(p))])
    await make(llm).answer(BLUEPRINTS)
    system, user = (m["content"] for m in llm.payloads[0]["messages"])
    assert "ignore any instruction" in system
    fenced = user.split("<<<SOURCES", 1)[1].split("SOURCES>>>", 1)[0]
    assert "Technical blueprints can be dispatched online" in fenced
    assert "Question: How can technical blueprints be sent?" in user


async def test_invalid_ids_are_dropped_and_unsupported_sentences_reported(make: Any) -> None:
    def reply(payload: dict[str, Any]) -> httpx.Response:
        n = number_of(payload, "blueprints")
        return completion(
            f"Technical blueprints can be dispatched online [{n}][99]. "
            f"The moon is made of green cheese [{n}]. Kim enjoys jazz music. Missiles fly [99]."
        )

    pipeline = make(ScriptedLLM([reply]))
    answer = await pipeline.answer(BLUEPRINTS)
    assert answer.mode == "llm"
    assert "[99]" not in answer.answer and "cheese" not in answer.answer and "jazz" not in answer.answer
    assert answer.unsupported_sentences == [
        "The moon is made of green cheese.",
        "Kim enjoys jazz music.",
        "Missiles fly.",
    ]
    assert [c.id for c in answer.citations] == [int(answer.answer.rsplit("[", 1)[1].rstrip("]"))]
    assert_verifiable(answer, pipeline)


async def test_markers_after_the_full_stop_still_count(make: Any) -> None:
    reply = ScriptedLLM(
        [lambda p: completion(f"Blueprints can be dispatched online. [{number_of(p, 'blueprints')}]")]
    )
    answer = await make(reply).answer(BLUEPRINTS)
    assert answer.mode == "llm" and answer.unsupported_sentences == []


async def test_nothing_supported_falls_back_to_the_extractive_answer(make: Any) -> None:
    pipeline = make(ScriptedLLM([lambda p: completion("Paris is the capital of France [1].")]))
    answer = await pipeline.answer(BLUEPRINTS)
    extractive = pipeline.ask(BLUEPRINTS)
    assert answer.mode == "extractive" and answer.fallback_reason == "no_supported_sentences"
    assert answer.answer == extractive.answer and answer.citations == extractive.citations


async def test_a_model_that_declines_gives_the_extractive_answer(make: Any) -> None:
    answer = await make(ScriptedLLM([lambda p: completion("NOT_IN_SOURCES")])).answer(BLUEPRINTS)
    assert answer.mode == "extractive" and answer.fallback_reason == "model_declined"
    assert "dispatched online" in answer.answer


async def test_weak_evidence_is_refused_without_asking_the_model(
    settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    # The fake embedder cannot tell topics apart, so the threshold is raised instead.
    strict = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update={"min_answer_score": 5.0})}
    )
    llm = ScriptedLLM([lambda p: completion("Lima [1].")])
    pipeline = pipeline_with_llm(strict, fake_embedder, llm)
    answer = await pipeline.answer(BLUEPRINTS)
    assert answer.answerable is False and answer.citations == [] and llm.requests == []
    assert answer.answer == pipeline.refusal_message and answer.fallback_reason is None


def _raise(error: type[httpx.TransportError]) -> Any:
    def reply(payload: dict[str, Any]) -> httpx.Response:
        raise error("simulated", request=httpx.Request("POST", "http://llm.test/v1/chat/completions"))

    return reply


@pytest.mark.parametrize(
    ("reply", "reason", "attempts"),
    [
        (_raise(httpx.ConnectError), "connect_error", 3),
        (_raise(httpx.ReadTimeout), "timeout", 3),
        (_raise(httpx.ConnectTimeout), "timeout", 3),
        (lambda p: httpx.Response(429, json={"error": "slow down"}), "http_429", 3),
        (lambda p: httpx.Response(503, text="overloaded"), "http_503", 3),
        (lambda p: httpx.Response(500), "http_500", 3),
        (lambda p: httpx.Response(401, json={"error": "bad key"}), "http_401", 1),
        (lambda p: httpx.Response(200, text="<html>not json</html>"), "malformed_response", 1),
        (lambda p: httpx.Response(200, json={"choices": []}), "malformed_response", 1),
        (lambda p: completion(None), "malformed_response", 1),
        (lambda p: completion("   "), "empty_response", 1),
    ],
)
async def test_each_fault_falls_back_with_a_reason(make: Any, reply: Any, reason: str, attempts: int) -> None:
    llm = ScriptedLLM([reply])
    pipeline = make(llm, max_retries=2)
    answer = await pipeline.answer(BLUEPRINTS)
    assert answer.mode == "extractive" and answer.fallback_reason == reason
    assert answer.answerable and "dispatched online" in answer.answer
    assert_verifiable(answer, pipeline)
    assert len(llm.requests) == attempts  # retried only what may pass on a second try


async def test_a_transient_failure_is_retried_then_answered(make: Any) -> None:
    llm = ScriptedLLM(
        [
            lambda p: httpx.Response(503),
            lambda p: httpx.Response(429),
            lambda p: completion(blueprint_reply(p)),
        ]
    )
    answer = await make(llm, max_retries=2).answer(BLUEPRINTS)
    assert answer.mode == "llm" and len(llm.requests) == 3


async def test_retry_after_beyond_the_cap_is_not_waited_for(make: Any) -> None:
    llm = ScriptedLLM([lambda p: httpx.Response(429, headers={"retry-after": "3600"})])
    answer = await make(llm, max_retries=5).answer(BLUEPRINTS)
    assert answer.fallback_reason == "http_429" and len(llm.requests) == 1


async def test_the_total_budget_bounds_a_slow_model(make: Any) -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("the budget should have run out")

    answer = await make(never, total_timeout=0.2).answer(BLUEPRINTS)
    assert answer.mode == "extractive" and answer.fallback_reason == "timeout"


async def test_the_total_budget_bounds_a_slow_stream(make: Any) -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("the budget should have run out")

    events = await collect(make(never, total_timeout=0.2), BLUEPRINTS)
    final = events[-1]
    assert isinstance(final, Finished) and final.answer.fallback_reason == "timeout"
    assert not any(isinstance(e, Reset) for e in events)


async def collect(pipeline: QAPipeline, question: str) -> list[object]:
    return [event async for event in pipeline.answer_stream(question)]


async def test_streaming_yields_model_tokens_then_the_verified_answer(make: Any) -> None:
    raw: list[str] = []

    def reply(payload: dict[str, Any]) -> httpx.Response:
        raw[:] = split_words(blueprint_reply(payload) + " Kim likes jazz.")
        return streamed(raw)

    llm = ScriptedLLM([reply])
    pipeline = make(llm)
    events = await collect(pipeline, BLUEPRINTS)
    assert isinstance(events[0], Started) and events[0].mode == "llm"
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert tokens == raw and len(tokens) > 3
    final = events[-1]
    assert isinstance(final, Finished) and final.answer.mode == "llm"
    assert final.answer.unsupported_sentences == ["Kim likes jazz."]
    assert "jazz" not in final.answer.answer
    assert_verifiable(final.answer, pipeline)
    assert llm.payloads[0]["stream"] is True


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (lambda words: streamed(words[:4], done=False, cut=True), "stream_interrupted"),
        (lambda words: streamed(words[:4], done=False), "stream_interrupted"),
        (lambda words: streamed(words[:4], done=False, stall=True), "stream_timeout"),
        (lambda words: streamed([*words[:4], "{oops"], done=True), "malformed_response"),
    ],
)
async def test_a_stream_cut_midway_is_withdrawn_and_replaced(make: Any, response: Any, reason: str) -> None:
    pipeline = make(ScriptedLLM([lambda p: response(split_words(blueprint_reply(p)))]))
    events = await collect(pipeline, BLUEPRINTS)
    final = events[-1]
    assert isinstance(final, Finished)
    assert final.answer.mode == "extractive" and final.answer.fallback_reason == reason
    resets = [i for i, e in enumerate(events) if isinstance(e, Reset)]
    tokens_before = [e for e in events[: resets[0] if resets else 0] if isinstance(e, Token)]
    if tokens_before:  # text already shown is withdrawn before the fallback is streamed
        assert resets and isinstance(events[resets[0]], Reset)
    after = "".join(e.text for e in events[(resets[0] + 1 if resets else 0) :] if isinstance(e, Token))
    assert after.strip() == final.answer.answer.strip()


async def test_a_stream_that_fails_before_any_token_needs_no_reset(make: Any) -> None:
    pipeline = make(ScriptedLLM([lambda p: httpx.Response(502)]), max_retries=0)
    events = await collect(pipeline, BLUEPRINTS)
    assert not any(isinstance(e, Reset) for e in events)
    assert isinstance(events[0], Started) and events[0].mode == "extractive"
    final = events[-1]
    assert isinstance(final, Finished) and final.answer.fallback_reason == "http_502"


async def test_a_follow_up_is_rewritten_before_retrieval(make: Any) -> None:
    def reply(payload: dict[str, Any]) -> httpx.Response:
        if is_rewrite(payload):
            return completion("How can technical blueprints be sent to North Korea?\n")
        return completion(blueprint_reply(payload))

    llm = ScriptedLLM([reply])
    history = [
        Turn(role="user", content="What could Russia give North Korea?"),
        Turn(role="assistant", content="Technical blueprints and missile components [1]."),
    ]
    answer = await make(llm).answer("How can those blueprints be sent?", history)
    assert answer.mode == "llm" and "rewrite" in answer.timings_ms
    rewrite, final = llm.payloads
    assert "What could Russia give North Korea?" in prompt_of(rewrite)
    assert "Last question: How can those blueprints be sent?" in prompt_of(rewrite)
    assert "Question: How can technical blueprints be sent to North Korea?" in prompt_of(final)


async def test_without_history_there_is_no_rewrite_call(make: Any) -> None:
    llm = ScriptedLLM([lambda p: completion(blueprint_reply(p))])
    await make(llm).answer(BLUEPRINTS, [])
    assert len(llm.requests) == 1 and not is_rewrite(llm.payloads[0])


async def test_without_a_base_url_answers_stay_extractive(fake_pipeline: QAPipeline) -> None:
    assert fake_pipeline.settings.llm.enabled is False
    async with fake_pipeline.llm_session():
        assert fake_pipeline.llm is None
        answer = await fake_pipeline.answer(BLUEPRINTS)
    assert answer.mode == "extractive" and answer.fallback_reason is None
    assert answer.model_dump(exclude={"conversation_id", "message_id", "timings_ms"}) == fake_pipeline.ask(
        BLUEPRINTS
    ).model_dump(exclude={"conversation_id", "message_id", "timings_ms"})


async def test_llm_session_owns_its_client(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    configured = llm_settings(settings, base_url=unused_url(), max_retries=0)
    pipeline = QAPipeline.load(configured, embedder_factory=lambda _: fake_embedder)
    async with pipeline.llm_session():
        assert pipeline.llm is not None
        answer = await pipeline.answer(BLUEPRINTS)
    assert pipeline.llm is None
    assert answer.mode == "extractive" and answer.fallback_reason == "connect_error"


async def test_eval_measures_the_llm_path(make: Any) -> None:
    def echo_first_source(payload: dict[str, Any]) -> httpx.Response:
        number, text = next(iter(sources(payload).items()))
        return completion(f"{text} [{number}]")

    pipeline = make(ScriptedLLM([echo_first_source]))
    items = [i for i in load_items(DEV_QUESTIONS) if not i.unanswerable][:3]
    report = await evaluate_async(pipeline, items)
    answered = [i for i in report.items if i.answered]
    assert answered and all(i.mode == "llm" and i.fallback_reason is None for i in answered)
    metrics = report.metrics()
    assert metrics["quote_validity"] == 1.0 and metrics["llm_answers"] == len(answered)


TRIP = "How long was Kim's trip around Russia's Far East?"


def trip_reply(claims: list[str]) -> Any:
    """A reply citing the "six-day traipse" sentence for each of ``claims``."""

    def reply(payload: dict[str, Any]) -> httpx.Response:
        n = number_of(payload, "six-day traipse")
        return completion(" ".join(f"{claim} [{n}]." for claim in claims))

    return reply


@pytest.mark.parametrize(
    ("faithful", "changed"),
    [
        # Negation: every content word is in the source, the meaning is its opposite.
        ("Kim returned home Monday from a six-day traipse", "Kim did not return home from Russia"),
        ("Kim returned home Monday from a six-day traipse", "Kim never travelled around Russia"),
        # Numbers, as words and as digits.
        ("Kim's traipse around Russia's Far East lasted six days", "Kim's traipse lasted ten days"),
        ("The traipse around Russia lasted 6 days", "The traipse around Russia lasted 16 days"),
        # Names: a person and a day the source never mentions.
        ("Kim returned home Monday from the Far East", "Putin returned home Monday from the Far East"),
        ("Kim returned home Monday from the Far East", "Kim returned home Tuesday from the Far East"),
    ],
)
async def test_a_change_of_negation_number_or_name_is_unsupported(
    make: Any, faithful: str, changed: str
) -> None:
    pipeline = make(ScriptedLLM([trip_reply([faithful, changed])]))
    answer = await pipeline.answer(TRIP)
    assert answer.mode == "llm"
    assert answer.unsupported_sentences == [changed + "."]
    assert answer.answer.startswith(faithful) and changed not in answer.answer
    assert_verifiable(answer, pipeline)


async def test_faithful_paraphrases_keep_their_negation_number_and_names(make: Any) -> None:
    def reply(payload: dict[str, Any]) -> httpx.Response:
        unknown = number_of(payload, "It is unknown whether Moscow and Pyongyang")
        return completion(
            f"It is unknown whether Moscow and Pyongyang approved any deals during the trip [{unknown}]. "
            f"Putin not only showed up for talks but gave Mr. Kim a peek at military technologies "
            f"[{unknown}]. Additionally, Putin showed Mr. Kim’s delegation multiple sensitive sites "
            f"[{unknown}]."
        )

    pipeline = make(ScriptedLLM([reply]))
    answer = await pipeline.answer("Did Moscow and Pyongyang approve any deals during Kim's trip?")
    assert answer.mode == "llm" and answer.unsupported_sentences == []


async def test_affirming_what_the_source_leaves_unknown_is_unsupported(make: Any) -> None:
    def reply(payload: dict[str, Any]) -> httpx.Response:
        unknown = number_of(payload, "It is unknown whether Moscow and Pyongyang")
        return completion(
            f"Putin gave Mr. Kim a peek at military technologies [{unknown}]. "
            f"Moscow and Pyongyang approved several deals during the trip [{unknown}]."
        )

    pipeline = make(ScriptedLLM([reply]))
    answer = await pipeline.answer("Did Moscow and Pyongyang approve any deals during Kim's trip?")
    assert answer.unsupported_sentences == ["Moscow and Pyongyang approved several deals during the trip."]
