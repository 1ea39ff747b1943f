"""LLM mode: retrieval → refusal threshold → the model over numbered sentences → verification.

Any fault (the server, the reply, or the verification leaving nothing) gives the extractive answer
instead, with ``mode: "extractive"`` and a ``fallback_reason``, so users never see a 500.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from qa.answering.attribution import attribution_for
from qa.answering.citations import verify_citations
from qa.answering.llm import ChatGenerator, LLMError
from qa.answering.prompts import REFUSAL_TOKEN, ChatMessage, NumberedSentence, PromptSet
from qa.answering.verify import Candidate, VerifiedReply, verify_reply
from qa.contract import Answer, Turn
from qa.retrieval.retriever import ScoredSentence

if TYPE_CHECKING:
    from qa.pipeline import QAPipeline

log = logging.getLogger("qa.llm")

# Replaying an answer that is already complete: a sentence (with its marker) at a time.
PIECE = re.compile(r".+?\[\d+\]\s*|.+$", re.DOTALL)
_MAX_REWRITE_CHARS = 500


@dataclass(frozen=True, slots=True)
class Started:
    conversation_id: str
    mode: str


@dataclass(frozen=True, slots=True)
class Token:
    text: str


@dataclass(frozen=True, slots=True)
class Reset:
    """Text streamed so far is withdrawn; a fallback answer follows."""

    reason: str


@dataclass(frozen=True, slots=True)
class Finished:
    answer: Answer


StreamEvent = Started | Token | Reset | Finished


async def replay(answer: Answer, announce: bool = True) -> AsyncIterator[StreamEvent]:
    """A finished answer as stream events."""
    if announce:
        yield Started(answer.conversation_id, answer.mode)
    for piece in PIECE.findall(answer.answer):
        yield Token(piece)
    yield Finished(answer)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


@dataclass(slots=True)
class _Prepared:
    """What the model is asked, and what its reply is checked against."""

    question: str
    candidates: dict[int, Candidate]
    timings: dict[str, float]


class GenerativeAnswerer:
    """Writes fluent answers with an LLM, keeping every rule of the extractive answerer."""

    def __init__(self, pipeline: QAPipeline, generator: ChatGenerator, prompts: PromptSet) -> None:
        self._pipeline = pipeline
        self._generator = generator
        self._prompts = prompts
        self._settings = pipeline.settings.llm

    async def answer(self, question: str, history: list[Turn] | None, conversation_id: str | None) -> Answer:
        from qa.pipeline import new_conversation_id

        question = self._pipeline.validate_question(question)
        conversation = conversation_id or new_conversation_id()
        try:
            async with asyncio.timeout(self._settings.total_timeout):
                prepared = await self._prepare(question, history or [], conversation)
                if isinstance(prepared, Answer):
                    return prepared
                started = time.perf_counter()
                reply = await self._generator.complete(self._messages(prepared))
                prepared.timings["llm"] = _elapsed_ms(started)
                return self._finish(reply, prepared, conversation)
        except LLMError as exc:
            return await self._fallback(exc.reason, question, history, conversation)
        except TimeoutError:
            return await self._fallback("timeout", question, history, conversation)

    async def stream(
        self, question: str, history: list[Turn] | None, conversation_id: str | None
    ) -> AsyncIterator[StreamEvent]:
        """Model tokens as they come, then the verified answer (or a reset and the fallback)."""
        from qa.pipeline import new_conversation_id

        question = self._pipeline.validate_question(question)
        conversation = conversation_id or new_conversation_id()
        deadline = asyncio.get_running_loop().time() + self._settings.total_timeout
        try:
            async with asyncio.timeout(self._settings.total_timeout):
                prepared = await self._prepare(question, history or [], conversation)
        except (LLMError, TimeoutError) as exc:
            reason = exc.reason if isinstance(exc, LLMError) else "timeout"
            answer = await self._fallback(reason, question, history, conversation)
            async for event in replay(answer):
                yield event
            return
        if isinstance(prepared, Answer):
            async for event in replay(prepared):
                yield event
            return
        started = time.perf_counter()
        pieces: list[str] = []
        try:
            async with aclosing(self._generator.stream(self._messages(prepared))) as tokens:
                while True:
                    # The budget covers waiting for each piece, never the consumer's time between
                    # them: a timeout scope must not span a ``yield``.
                    try:
                        async with asyncio.timeout_at(deadline):
                            piece = await anext(tokens)
                    except StopAsyncIteration:
                        break
                    if not pieces:
                        yield Started(conversation, "llm")
                    pieces.append(piece)
                    yield Token(piece)
            prepared.timings["llm"] = _elapsed_ms(started)
            answer = self._finish("".join(pieces), prepared, conversation)
        except LLMError as exc:
            answer = await self._fallback(exc.reason, question, history, conversation)
        except TimeoutError:
            answer = await self._fallback("timeout", question, history, conversation)
        if answer.mode == "llm":
            yield Finished(answer)
            return
        if pieces:
            yield Reset(answer.fallback_reason or "fallback")
        async for event in replay(answer, announce=not pieces):
            yield event

    async def _prepare(self, question: str, history: list[Turn], conversation: str) -> _Prepared | Answer:
        """Rewrite a follow-up, retrieve, and refuse when the evidence is too weak."""
        from qa.pipeline import new_message_id

        timings: dict[str, float] = {}
        query = question
        if history:
            started = time.perf_counter()
            query = await self._rewrite(question, history)
            timings["rewrite"] = _elapsed_ms(started)
        started = time.perf_counter()
        ranked = await run_in_threadpool(self._pipeline.retriever.rank_sentences, query)
        timings["retrieval"] = _elapsed_ms(started)
        if not ranked or ranked[0].score < self._pipeline.settings.retrieval.min_answer_score:
            return Answer(
                answer=self._pipeline.refusal_message,
                answerable=False,
                citations=[],
                conversation_id=conversation,
                message_id=new_message_id(),
                timings_ms=timings,
            )
        return _Prepared(query, self._candidates(ranked), timings)

    async def _rewrite(self, question: str, history: Sequence[Turn]) -> str:
        """A standalone version of a follow-up question, for retrieval and for the model."""
        reply = await self._generator.complete(self._prompts.rewrite_messages(question, history))
        lines = [line.strip().strip("\"'“”") for line in reply.strip().splitlines() if line.strip()]
        rewritten = lines[0] if lines else ""
        if not rewritten or len(rewritten) > _MAX_REWRITE_CHARS:
            # A babbling rewrite must not steer retrieval; the plain folding is a safe default.
            log.info("follow-up rewrite unusable; using the conversation-folded query")
            return self._pipeline.retrieval_query(question, list(history))
        return rewritten

    def _candidates(self, ranked: list[ScoredSentence]) -> dict[int, Candidate]:
        """The best sentences, numbered 1..n in reading order, each with its speaker's sentence."""
        retriever = self._pipeline.retriever
        sentences = retriever.index.sentences
        best = ranked[: self._settings.max_sentences]
        ordered = sorted(best, key=lambda s: (s.sentence.doc_id, s.sentence.start))
        return {
            number: Candidate(
                number=number,
                sentence=scored.sentence,
                score=scored.score,
                chunk_id=retriever.chunk_for(scored.sentence.sentence_id).chunk_id,
                context=attribution_for(scored.sentence, sentences),
            )
            for number, scored in enumerate(ordered, start=1)
        }

    def _messages(self, prepared: _Prepared) -> list[ChatMessage]:
        numbered = [NumberedSentence(c.number, self._shown_text(c)) for c in prepared.candidates.values()]
        return self._prompts.answer_messages(
            prepared.question,
            numbered,
            self._pipeline.settings.retrieval.max_answer_sentences,
            self._settings.system_in_user,
        )

    @staticmethod
    def _shown_text(candidate: Candidate) -> str:
        """A quotation is shown with its speaker, so the model does not misattribute it."""
        if candidate.context is None:
            return candidate.sentence.text
        return f"{candidate.sentence.text} (context: {candidate.context.text})"

    def _finish(self, reply: str, prepared: _Prepared, conversation: str) -> Answer:
        from qa.pipeline import new_message_id

        if REFUSAL_TOKEN in reply:
            raise LLMError("model_declined", "The model found no answer in the sources.")
        started = time.perf_counter()
        documents = self._pipeline.index.documents
        verified: VerifiedReply = verify_reply(
            reply, prepared.candidates, documents, prepared.question, self._settings.min_support
        )
        if not verified.citations:
            raise LLMError("no_supported_sentences", "No sentence of the model's reply was supported.")
        verify_citations(verified.citations, documents)
        prepared.timings["verify"] = _elapsed_ms(started)
        if verified.unsupported:
            log.info("removed %d unsupported sentence(s) from an LLM answer", len(verified.unsupported))
        return Answer(
            answer=verified.text,
            answerable=True,
            citations=verified.citations,
            conversation_id=conversation,
            message_id=new_message_id(),
            mode="llm",
            timings_ms=prepared.timings,
            unsupported_sentences=verified.unsupported,
        )

    async def _fallback(
        self, reason: str, question: str, history: list[Turn] | None, conversation: str
    ) -> Answer:
        log.warning("LLM answer unavailable (%s); answering extractively", reason)
        answer = await run_in_threadpool(self._pipeline.ask, question, history, conversation)
        return answer.model_copy(update={"fallback_reason": reason})
