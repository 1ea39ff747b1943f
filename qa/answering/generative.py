"""LLM composition: the model writes over numbered evidence sentences, we verify what it wrote.

The composer is given the evidence the pipeline already retrieved and never retrieves, refuses or
falls back on its own: every failure is an ``LLMError`` with a ``reason``, and the pipeline
composes the extractive answer from the same evidence instead.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

from qa.answering.attribution import attribution_for
from qa.answering.citations import verify_citations
from qa.answering.llm import ChatGenerator, LLMError
from qa.answering.prompts import REFUSAL_TOKEN, ChatMessage, NumberedSentence, PromptSet
from qa.answering.verify import Candidate, VerifiedReply, verify_reply
from qa.config import LLMSettings
from qa.contract import Turn
from qa.corpus.chunking import Chunk, Sentence
from qa.corpus.documents import Document
from qa.retrieval.retriever import ScoredSentence

log = logging.getLogger("qa.llm")

_MAX_REWRITE_CHARS = 500


@dataclass(frozen=True, slots=True)
class Sources:
    """What the composer reads evidence from: the loaded index's documents and sentences."""

    documents: dict[str, Document]
    sentences: list[Sentence]
    chunk_for: Callable[[int], Chunk | None]


@dataclass(frozen=True, slots=True)
class Prompted:
    """What the model is asked, and what its reply is checked against."""

    question: str
    candidates: dict[int, Candidate]
    messages: list[ChatMessage]


class LLMComposer:
    """Writes fluent answers with an LLM, keeping every rule of the extractive answerer."""

    def __init__(
        self,
        generator: ChatGenerator,
        prompts: PromptSet,
        settings: LLMSettings,
        max_answer_sentences: int,
        sources: Sources,
    ) -> None:
        self._generator = generator
        self._prompts = prompts
        self._settings = settings
        self._max_answer_sentences = max_answer_sentences
        self._sources = sources

    @property
    def generator(self) -> ChatGenerator:
        return self._generator

    @property
    def prompts(self) -> PromptSet:
        return self._prompts

    async def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        """A standalone version of a follow-up question, or None when the model's rewrite is unusable."""
        reply = await self._generator.complete(self._prompts.rewrite_messages(question, history))
        lines = [line.strip().strip("\"'“”") for line in reply.strip().splitlines() if line.strip()]
        rewritten = lines[0] if lines else ""
        if not rewritten or len(rewritten) > _MAX_REWRITE_CHARS:
            # A babbling rewrite must not steer retrieval; the caller's plain folding is the default.
            log.info("follow-up rewrite unusable; using the conversation-folded query")
            return None
        return rewritten

    def prompt(self, question: str, evidence: list[ScoredSentence]) -> Prompted:
        candidates = self._candidates(evidence)
        numbered = [NumberedSentence(c.number, _shown_text(c)) for c in candidates.values()]
        messages = self._prompts.answer_messages(
            question, numbered, self._max_answer_sentences, self._settings.system_in_user
        )
        return Prompted(question, candidates, messages)

    async def complete(self, prompted: Prompted) -> str:
        return await self._generator.complete(prompted.messages)

    def stream(self, prompted: Prompted) -> AsyncGenerator[str, None]:
        return self._generator.stream(prompted.messages)

    def verify(self, reply: str, prompted: Prompted) -> VerifiedReply:
        """The reply with exact citations and unsupported sentences removed, or ``LLMError``."""
        if REFUSAL_TOKEN in reply:
            raise LLMError("model_declined", "The model found no answer in the sources.")
        documents = self._sources.documents
        verified = verify_reply(
            reply, prompted.candidates, documents, prompted.question, self._settings.min_support
        )
        if not verified.citations:
            raise LLMError("no_supported_sentences", "No sentence of the model's reply was supported.")
        verify_citations(verified.citations, documents)
        if verified.unsupported:
            log.info("removed %d unsupported sentence(s) from an LLM answer", len(verified.unsupported))
        return verified

    def _candidates(self, evidence: list[ScoredSentence]) -> dict[int, Candidate]:
        """The best sentences, numbered 1..n in reading order, each with its speaker's sentence."""
        best = evidence[: self._settings.max_sentences]
        ordered = sorted(best, key=lambda s: (s.sentence.doc_id, s.sentence.start))
        return {
            number: Candidate(
                number=number,
                sentence=scored.sentence,
                score=scored.score,
                chunk_id=_chunk_id(self._sources.chunk_for(scored.sentence.sentence_id)),
                context=attribution_for(scored.sentence, self._sources.sentences),
            )
            for number, scored in enumerate(ordered, start=1)
        }


def _shown_text(candidate: Candidate) -> str:
    """A quotation is shown with its speaker, so the model does not misattribute it."""
    if candidate.context is None:
        return candidate.sentence.text
    return f"{candidate.sentence.text} (context: {candidate.context.text})"


def _chunk_id(chunk: Chunk | None) -> str | None:
    return chunk.chunk_id if chunk is not None else None
