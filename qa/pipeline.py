"""``QAPipeline``: the answer graph every surface reaches through the chat service.

validate -> expand / rewrite the follow-up -> retrieve (once) -> decide answerable -> compose
(extractive, or LLM with the extractive composer on the same evidence as the fallback) -> verify.

Longer than our other modules on purpose: the whole graph, streamed and not, reads top to bottom
in one place; the stages themselves live in ``qa.retrieval`` and ``qa.answering``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing, asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from anyio import to_thread

from qa.answering.citations import verify_citations
from qa.answering.decision import Decider, Decision, gap_citation
from qa.answering.events import Finished, Reset, Started, StreamEvent, Token, replay
from qa.answering.extractive import ExtractiveAnswerer
from qa.answering.generative import LLMComposer, Prompted, Sources
from qa.answering.llm import ChatGenerator, LLMError, OpenAICompatibleGenerator, make_client
from qa.answering.prompts import PromptSet, load_prompts
from qa.config import Settings
from qa.contract import Answer, SearchHit, Turn, check_question
from qa.corpus.documents import Document
from qa.embedding.base import Embedder
from qa.embedding.factory import make_embedder
from qa.errors import InvalidInputError, NotFoundError
from qa.index import Progress, SearchIndex, ensure_index
from qa.retrieval.followup import FollowUpExpander
from qa.retrieval.retriever import Retrieval, Retriever, ScoredSentence

MAX_SEARCH_RESULTS = 50


def new_conversation_id() -> str:
    return f"c_{uuid.uuid4().hex}"


def new_message_id() -> str:
    return f"m_{uuid.uuid4().hex}"


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round((time.perf_counter() - started) * 1000, 2)


@dataclass(slots=True)
class _Turn:
    """One question on its way through the graph."""

    question: str
    conversation_id: str
    query: str = ""
    evidence: list[ScoredSentence] | None = None  # set once, by the single retrieval
    retrieval: Retrieval | None = None  # the same retrieval with the signals answerability needs
    timings: dict[str, float] = field(default_factory=dict)


def _reason(exc: LLMError | TimeoutError) -> str:
    return exc.reason if isinstance(exc, LLMError) else "timeout"


class QAPipeline:
    """Question in, verified ``Answer`` out. Cheap to call; heavy state is loaded once."""

    def __init__(self, settings: Settings, embedder: Embedder, index: SearchIndex) -> None:
        self.settings = settings
        self.retriever = Retriever(index, embedder, settings.retrieval)
        self.answerer = ExtractiveAnswerer(
            settings.retrieval.max_answer_sentences, settings.retrieval.answer_margin
        )
        self.decider = Decider(
            settings.answering, settings.retrieval.min_answer_score, self.retriever, self.answerer
        )
        self.followups = FollowUpExpander(self.retriever.terms)
        # Set while an LLM is attached (``llm_session`` / ``attach_llm``); None = extractive only.
        self.llm: LLMComposer | None = None
        self.retrievals = 0  # evidence retrievals made for answers (one per question, fallback included)

    @classmethod
    def load(
        cls,
        settings: Settings,
        embedder_factory: Callable[[Settings], Embedder] | None = None,
        progress: Progress | None = None,
    ) -> QAPipeline:
        """Load the model and the index, building the index first if it is missing or stale."""
        embedder = embedder_factory(settings) if embedder_factory else make_embedder(settings)
        return cls(settings, embedder, ensure_index(settings, embedder, progress))

    @property
    def index(self) -> SearchIndex:
        return self.retriever.index

    def with_index(self, index: SearchIndex) -> QAPipeline:
        """The same pipeline (settings, model, attached LLM) over another index, for reloads."""
        fresh = QAPipeline(self.settings, self.retriever.embedder, index)
        if self.llm is not None:
            fresh.attach_llm(self.llm.generator, self.llm.prompts)
        return fresh

    @property
    def corpus_name(self) -> str:
        """ "the article" for a one-document corpus, else "the documents" (used in messages)."""
        return "the article" if len(self.index.documents) == 1 else "the documents"

    @property
    def refusal_message(self) -> str:
        return f"I couldn't find that in {self.corpus_name}."

    def validate_question(self, question: str) -> str:
        """The question without surrounding whitespace; empty or overlong ones are refused."""
        try:
            # The shared rule (qa.contract): also refuses unencodable text, NUL, invisible-only text.
            return check_question(question, self.settings.max_message_chars, about=self.corpus_name)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None

    def retrieval_query(self, question: str, history: list[Turn] | None) -> str:
        """The text to retrieve with: the question, in the context of the conversation."""
        return self.followups.expand(question, history)

    # -- the graph ---------------------------------------------------------------------------

    def _start(self, question: str, conversation_id: str | None) -> _Turn:
        return _Turn(self.validate_question(question), conversation_id or new_conversation_id())

    def _retrieve(self, turn: _Turn) -> list[ScoredSentence]:
        with _timed(turn.timings, "retrieval"):
            turn.retrieval = self.retriever.retrieve(turn.query)
            turn.evidence = turn.retrieval.sentences
        self.retrievals += 1
        return turn.evidence

    def decide(self, turn: _Turn) -> Decision:
        assert turn.retrieval is not None
        return self.decider.decide(turn.retrieval, turn.question)

    @property
    def gap_message(self) -> str:
        return "The article does not say." if len(self.index.documents) == 1 else "The documents do not say."

    def _refusal(self, turn: _Turn, decision: Decision | None = None) -> Answer:
        """No answer; when the corpus states the gap, its sentence is quoted and cited."""
        text, citations = self.refusal_message, []
        gap = decision.gap if decision else None
        if gap is not None:
            citations = [gap_citation(gap, self.retriever)]
            verify_citations(citations, self.index.documents)
            text = f"{self.gap_message} {gap.sentence.text} [1]"
        return Answer(
            answer=text,
            answerable=False,
            citations=citations,
            conversation_id=turn.conversation_id,
            message_id=new_message_id(),
            timings_ms=turn.timings,
        )

    def _extractive(self, turn: _Turn) -> Answer:
        decision = self.decide(turn)
        if not decision.answerable:
            return self._refusal(turn, decision)
        with _timed(turn.timings, "answer"):
            draft = self.answerer.compose(decision.quoted, self.retriever)
            verify_citations(draft.citations, self.index.documents)
        return Answer(
            answer=draft.text,
            answerable=True,
            citations=draft.citations,
            conversation_id=turn.conversation_id,
            message_id=new_message_id(),
            mode="extractive",
            timings_ms=turn.timings,
        )

    def _answer_extractively(self, turn: _Turn, history: list[Turn] | None) -> Answer:
        turn.query = self.retrieval_query(turn.question, history)
        self._retrieve(turn)
        return self._extractive(turn)

    def ask(
        self,
        question: str,
        history: list[Turn] | None = None,
        conversation_id: str | None = None,
    ) -> Answer:
        """The extractive answer, synchronously (the CLI's and benchmarks' shortcut)."""
        return self._answer_extractively(self._start(question, conversation_id), history)

    async def _prepare(self, llm: LLMComposer, turn: _Turn, history: list[Turn] | None) -> None:
        """Rewrite a follow-up with the model (else fold the conversation in), then retrieve."""
        rewritten = None
        if history:
            with _timed(turn.timings, "rewrite"):
                rewritten = await llm.rewrite(turn.question, history)
        turn.query = rewritten or self.retrieval_query(turn.question, history)
        await to_thread.run_sync(self._retrieve, turn)

    async def _fallback(self, turn: _Turn, history: list[Turn] | None, reason: str) -> Answer:
        """The extractive answer on the evidence already retrieved (retrieving only if none was)."""
        if turn.evidence is None:
            turn.query = self.retrieval_query(turn.question, history)
            await to_thread.run_sync(self._retrieve, turn)
        answer = self._extractive(turn)
        return answer.model_copy(update={"fallback_reason": reason})

    def _llm_answer(self, llm: LLMComposer, turn: _Turn, reply: str, prompted: Prompted) -> Answer:
        with _timed(turn.timings, "verify"):
            verified = llm.verify(reply, prompted)
        return Answer(
            answer=verified.text,
            answerable=True,
            citations=verified.citations,
            conversation_id=turn.conversation_id,
            message_id=new_message_id(),
            mode="llm",
            timings_ms=turn.timings,
            unsupported_sentences=verified.unsupported,
        )

    async def answer(
        self,
        question: str,
        history: list[Turn] | None = None,
        conversation_id: str | None = None,
    ) -> Answer:
        """One verified answer (the chat service calls this for every surface)."""
        turn = self._start(question, conversation_id)
        llm = self.llm
        if llm is None:
            return await to_thread.run_sync(self._answer_extractively, turn, history)
        try:
            async with asyncio.timeout(self.settings.llm.total_timeout):
                await self._prepare(llm, turn, history)
                assert turn.evidence is not None
                decision = self.decide(turn)
                if not decision.answerable:
                    return self._refusal(turn, decision)
                prompted = llm.prompt(turn.query, turn.evidence)
                with _timed(turn.timings, "llm"):
                    reply = await llm.complete(prompted)
                return self._llm_answer(llm, turn, reply, prompted)
        except (LLMError, TimeoutError) as exc:
            return await self._fallback(turn, history, _reason(exc))

    async def answer_stream(
        self,
        question: str,
        history: list[Turn] | None = None,
        conversation_id: str | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """``answer`` as events: started, tokens, (reset,) finished with the verified ``Answer``."""
        turn = self._start(question, conversation_id)
        llm = self.llm
        if llm is None:
            answer = await to_thread.run_sync(self._answer_extractively, turn, history)
            async for event in replay(answer):
                yield event
            return
        deadline = asyncio.get_running_loop().time() + self.settings.llm.total_timeout
        try:
            async with asyncio.timeout_at(deadline):
                await self._prepare(llm, turn, history)
        except (LLMError, TimeoutError) as exc:
            async for event in replay(await self._fallback(turn, history, _reason(exc))):
                yield event
            return
        assert turn.evidence is not None
        decision = self.decide(turn)
        if not decision.answerable:
            async for event in replay(self._refusal(turn, decision)):
                yield event
            return
        prompted = llm.prompt(turn.query, turn.evidence)
        started = time.perf_counter()
        pieces: list[str] = []
        try:
            async with aclosing(llm.stream(prompted)) as tokens:
                while True:
                    # The budget covers waiting for each piece, never the consumer's time between
                    # them: a timeout scope must not span a ``yield``.
                    try:
                        async with asyncio.timeout_at(deadline):
                            piece = await anext(tokens)
                    except StopAsyncIteration:
                        break
                    if not pieces:
                        yield Started(turn.conversation_id, "llm")
                    pieces.append(piece)
                    yield Token(piece)
            turn.timings["llm"] = round((time.perf_counter() - started) * 1000, 2)
            answer = self._llm_answer(llm, turn, "".join(pieces), prompted)
        except (LLMError, TimeoutError) as exc:
            answer = await self._fallback(turn, history, _reason(exc))
        if answer.mode == "llm":
            yield Finished(answer)
            return
        if pieces:
            yield Reset(answer.fallback_reason or "fallback")
        async for event in replay(answer, announce=not pieces):
            yield event

    def attach_llm(self, generator: ChatGenerator, prompts: PromptSet | None = None) -> None:
        """Answer with ``generator`` from now on (prompts default to the configured templates)."""
        prompts = prompts or load_prompts(self.settings.llm.prompts_dir)
        sources = Sources(self.index.documents, self.index.sentences, self.retriever.chunk_for)
        self.llm = LLMComposer(
            generator, prompts, self.settings.llm, self.settings.retrieval.max_answer_sentences, sources
        )

    @asynccontextmanager
    async def llm_session(self) -> AsyncIterator[None]:
        """While open, answer through the configured LLM (no-op if none is set or one is attached).

        The one ``httpx.AsyncClient`` lives exactly as long as the session, inside the event loop
        that uses it (the app lifespan, or ``asyncio.run`` in the CLI).
        """
        if self.llm is not None or not self.settings.llm.enabled:
            yield
            return
        prompts = load_prompts(self.settings.llm.prompts_dir)  # bad templates fail at start-up
        async with make_client(self.settings.llm) as client:
            self.attach_llm(OpenAICompatibleGenerator(self.settings.llm, client), prompts)
            try:
                yield
            finally:
                self.llm = None

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """The ``k`` best chunks for a query, by fused dense + BM25 rank."""
        query = self.validate_question(query)
        if not 1 <= k <= MAX_SEARCH_RESULTS:
            raise InvalidInputError(f"k must be between 1 and {MAX_SEARCH_RESULTS}.")
        return [
            SearchHit(
                doc_id=hit.chunk.doc_id,
                chunk_id=hit.chunk.chunk_id,
                text=hit.chunk.text,
                start=hit.chunk.start,
                end=hit.chunk.end,
                score=round(hit.score, 6),
                section=hit.chunk.section or None,
            )
            for hit in self.retriever.search_chunks(query, k)
        ]

    def documents(self) -> list[Document]:
        return list(self.index.documents.values())

    def document(self, doc_id: str) -> Document:
        try:
            return self.index.documents[doc_id]
        except KeyError:
            raise NotFoundError(f"No document with id {doc_id!r}.") from None
