"""``QAPipeline``: the one entry point that the CLI, the HTTP API, the widget and Slack call."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from starlette.concurrency import run_in_threadpool

from qa.answering.citations import verify_citations
from qa.answering.extractive import ExtractiveAnswerer
from qa.answering.generative import GenerativeAnswerer, StreamEvent, replay
from qa.answering.llm import ChatGenerator, OpenAICompatibleGenerator, make_client
from qa.answering.prompts import PromptSet, load_prompts
from qa.config import Settings
from qa.contract import Answer, SearchHit, Turn
from qa.corpus.documents import Document
from qa.embedding.base import Embedder
from qa.embedding.factory import make_embedder
from qa.errors import InvalidInputError, NotFoundError
from qa.index import Progress, SearchIndex, ensure_index
from qa.retrieval.followup import FollowUpExpander
from qa.retrieval.retriever import Retriever

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


class QAPipeline:
    """Question in, verified ``Answer`` out. Cheap to call; heavy state is loaded once."""

    def __init__(self, settings: Settings, embedder: Embedder, index: SearchIndex) -> None:
        self.settings = settings
        self.retriever = Retriever(index, embedder, settings.retrieval)
        self.answerer = ExtractiveAnswerer(
            settings.retrieval.max_answer_sentences, settings.retrieval.answer_margin
        )
        self.followups = FollowUpExpander(self.retriever.terms)
        # Set while an LLM is attached (``llm_session`` / ``attach_llm``); None = extractive only.
        self.llm: GenerativeAnswerer | None = None

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

    @property
    def refusal_message(self) -> str:
        where = "the article" if len(self.index.documents) == 1 else "the documents"
        return f"I couldn't find that in {where}."

    def validate_question(self, question: str) -> str:
        """The question without surrounding whitespace; empty or overlong ones are refused."""
        cleaned = question.strip()
        if not cleaned:
            raise InvalidInputError("The message is empty; ask a question about the article.")
        limit = self.settings.max_message_chars
        if len(cleaned) > limit:
            raise InvalidInputError(f"The message is longer than {limit} characters.")
        return cleaned

    async def answer(
        self,
        question: str,
        history: list[Turn] | None = None,
        conversation_id: str | None = None,
    ) -> Answer:
        """The entry point for every surface (HTTP, widget, Slack, CLI)."""
        if self.llm is not None:
            return await self.llm.answer(question, history, conversation_id)
        return await run_in_threadpool(self.ask, question, history, conversation_id)

    async def answer_stream(
        self,
        question: str,
        history: list[Turn] | None = None,
        conversation_id: str | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """``answer`` as events: started, tokens, (reset,) finished with the verified ``Answer``."""
        if self.llm is not None:
            async for event in self.llm.stream(question, history, conversation_id):
                yield event
            return
        async for event in replay(await self.answer(question, history, conversation_id)):
            yield event

    def attach_llm(self, generator: ChatGenerator, prompts: PromptSet | None = None) -> None:
        """Answer with ``generator`` from now on (prompts default to the configured templates)."""
        prompts = prompts or load_prompts(self.settings.llm.prompts_dir)
        self.llm = GenerativeAnswerer(self, generator, prompts)

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

    def retrieval_query(self, question: str, history: list[Turn] | None) -> str:
        """The text to retrieve with: the question, in the context of the conversation."""
        return self.followups.expand(question, history)

    def ask(
        self,
        question: str,
        history: list[Turn] | None = None,
        conversation_id: str | None = None,
    ) -> Answer:
        """Answer extractively from the corpus, or say honestly that the corpus does not say."""
        question = self.validate_question(question)
        timings: dict[str, float] = {}
        conversation = conversation_id or new_conversation_id()
        with _timed(timings, "retrieval"):
            ranked = self.retriever.rank_sentences(self.retrieval_query(question, history))
        if not ranked or ranked[0].score < self.settings.retrieval.min_answer_score:
            return Answer(
                answer=self.refusal_message,
                answerable=False,
                citations=[],
                conversation_id=conversation,
                message_id=new_message_id(),
                timings_ms=timings,
            )
        with _timed(timings, "answer"):
            draft = self.answerer.compose(ranked, self.retriever)
            verify_citations(draft.citations, self.index.documents)
        return Answer(
            answer=draft.text,
            answerable=True,
            citations=draft.citations,
            conversation_id=conversation,
            message_id=new_message_id(),
            mode="extractive",
            timings_ms=timings,
        )

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
