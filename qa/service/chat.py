"""The chat service: one turn = ownership -> history -> answer (or stream) -> store -> metrics -> log.

Every surface (``/v1/chat``, ``/v1/chat/completions``, Slack, the CLI) calls this, so all of them
check ownership, load history, limit model calls, store, count and log the same way. Storage
trouble degrades instead of failing: the question is still answered (without stored history,
without being stored), the failure is logged and counted, and what was stored earlier is untouched.

Ownership (issue 12): a turn carries the ``owner`` its surface derived from the caller. A
``conversation_id`` the caller sends must name a conversation that caller owns, else
``NotFoundError`` (404): ids are issued by the server (new conversations get an unguessable one)
and never created on a client's say-so. Only surfaces that name their own conversations (Slack
threads) set ``create_conversation``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from qa.answering.events import Finished, StreamEvent, replay
from qa.config import Settings
from qa.contract import Answer, Turn
from qa.errors import BusyError, NotFoundError, StorageError
from qa.pipeline import QAPipeline
from qa.service.metrics import Metrics, log_answer
from qa.service.slots import Release, StreamSlots
from qa.storage.factory import Store

log = logging.getLogger("qa.service")

# The unauthenticated principal: every caller of an open service (no keys configured) is it.
ANONYMOUS_OWNER = "anonymous"
# The CLI runs on the server's host without a key, like a caller of an open service, and is that
# same principal: `qa ask --json` ids can be read and rated over an open API (with keys
# configured, only admin keys read them).
CLI_OWNER = ANONYMOUS_OWNER


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One question as a surface received it."""

    message: str
    history: list[Turn] = field(default_factory=list)  # sent by the client; else the stored one
    conversation_id: str | None = None
    client: str = "local"  # who holds a model slot (a server key id, an IP, a Slack team)
    surface: str = "api"  # for metrics and logs: api, openai, slack, cli
    # Who the conversation belongs to (see qa.storage.protocols); required, so no surface forgets.
    owner: str = field(kw_only=True)
    # The surface chose ``conversation_id`` itself (a Slack thread): create it when new.
    create_conversation: bool = field(default=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class AnswerStream:
    """Events of one streamed answer. ``release`` frees its slot; await it however the stream ends."""

    events: AsyncGenerator[StreamEvent, None]
    release: Release


@dataclass(frozen=True, slots=True)
class _Context:
    history: list[Turn]
    storable: bool  # False when ownership could not be checked (storage down): do not record


class ChatService:
    def __init__(
        self,
        pipeline: QAPipeline,
        store: Store,
        settings: Settings,
        metrics: Metrics,
        slots: StreamSlots,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self._settings = settings
        self._metrics = metrics
        self._slots = slots

    @property
    def holds_model(self) -> bool:
        """Whether a non-streamed answer holds a model slot: only when an LLM composes answers.

        Extractive answers are a few milliseconds of CPU, bounded by the embedding batcher and
        the rate limits; an LLM call holds a remote model (and a connection) for seconds.
        """
        return self.pipeline.llm is not None

    async def answer(self, turn: ChatTurn) -> Answer:
        question = self.pipeline.validate_question(turn.message)
        release = await self._acquire(turn) if self.holds_model else None
        try:
            context = await self._context(turn)
            answer = await self.pipeline.answer(question, context.history, turn.conversation_id)
            await self._remember(question, answer, turn, context)
            return answer
        finally:
            if release is not None:
                await release()

    async def stream(self, turn: ChatTurn, *, incremental: bool = True) -> AnswerStream:
        """Validate, check ownership and take a model slot now (errors before any byte is sent),
        answer lazily.

        ``incremental=False`` composes the whole answer before the first event (the model is not
        streamed), for clients that cannot take back text they were sent.
        """
        question = self.pipeline.validate_question(turn.message)
        context = await self._context(turn)
        release = await self._acquire(turn)
        return AnswerStream(self._events(question, turn, context, incremental), release)

    async def _acquire(self, turn: ChatTurn) -> Release:
        release = await self._slots.acquire(turn.client)
        if release is None:
            raise BusyError("Too many answers are being composed at once; retry shortly.")
        return release

    async def _events(
        self, question: str, turn: ChatTurn, context: _Context, incremental: bool
    ) -> AsyncGenerator[StreamEvent, None]:
        stream: AsyncIterator[StreamEvent]
        if incremental:
            stream = self.pipeline.answer_stream(question, context.history, turn.conversation_id)
        else:
            stream = replay(await self.pipeline.answer(question, context.history, turn.conversation_id))
        async with aclosing(stream):  # type: ignore[type-var]  # both are async generators
            async for event in stream:
                if isinstance(event, Finished):
                    await self._remember(question, event.answer, turn, context)
                yield event

    async def _context(self, turn: ChatTurn) -> _Context:
        """Check the caller owns the conversation; its history (the client's, else the stored).

        Only the last ``max_history_messages`` turns are used (the stored history is read the
        same way); requests may carry up to ``MAX_HISTORY_MESSAGES``.
        """
        limit = self._settings.max_history_messages
        sent = turn.history[-limit:] if limit else []
        if not turn.conversation_id:
            return _Context(sent, storable=True)
        try:
            stored = await self.store.history(turn.conversation_id, turn.owner)
        except NotFoundError:
            if not turn.create_conversation:
                raise
            stored = []
        except StorageError as exc:
            self._count_store_error("history", exc)
            # Ownership unknown: answer, but never write into a conversation we could not check.
            return _Context(sent, storable=turn.create_conversation)
        return _Context(sent if turn.history else stored, storable=True)

    async def _remember(self, question: str, answer: Answer, turn: ChatTurn, context: _Context) -> None:
        """Count, log and persist one answer; a storage failure is logged, not raised."""
        self._metrics.observe_answer(answer, turn.surface)
        log_answer(self._settings.observability, question, answer, turn.surface)
        if not context.storable:
            return
        try:
            await self.store.record(question, answer, turn.owner)
        except StorageError as exc:
            self._count_store_error("record", exc)
        except NotFoundError:
            # Another owner created this id between our check and the write: not ours to append to.
            log.warning("answer not stored: the conversation belongs to another owner")

    def _count_store_error(self, operation: str, exc: StorageError) -> None:
        log.warning("store %s failed: %s", operation, exc.message)
        self._metrics.store_errors.labels(operation).inc()
