"""The chat service: one turn = history -> answer (or stream) -> store -> metrics -> answer log.

Every surface (``/v1/chat``, ``/v1/chat/completions``, Slack, the CLI) calls this, so all of them
load history, limit streams, store, count and log the same way. Storage trouble degrades instead
of failing: the question is still answered (without stored history, without being stored), the
failure is logged and counted, and what was stored earlier is untouched.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from qa.answering.events import Finished, StreamEvent, replay
from qa.config import Settings
from qa.contract import Answer, Turn
from qa.errors import BusyError, StorageError
from qa.pipeline import QAPipeline
from qa.service.metrics import Metrics, log_answer
from qa.service.slots import Release, StreamSlots
from qa.storage.sqlite import Store

log = logging.getLogger("qa.service")


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One question as a surface received it."""

    message: str
    history: list[Turn] = field(default_factory=list)  # sent by the client; else the stored one
    conversation_id: str | None = None
    client: str = "local"  # who holds a stream slot (a server key id, an IP, a Slack team)
    surface: str = "api"  # for metrics and logs: api, openai, slack, cli


@dataclass(frozen=True, slots=True)
class AnswerStream:
    """Events of one streamed answer. ``release`` frees its slot; await it however the stream ends."""

    events: AsyncGenerator[StreamEvent, None]
    release: Release


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

    async def answer(self, turn: ChatTurn) -> Answer:
        question = self.pipeline.validate_question(turn.message)
        history = await self._history(turn)
        answer = await self.pipeline.answer(question, history, turn.conversation_id)
        await self._remember(question, answer, turn.surface)
        return answer

    async def stream(self, turn: ChatTurn, *, incremental: bool = True) -> AnswerStream:
        """Validate and take a stream slot now (errors before any byte is sent), answer lazily.

        ``incremental=False`` composes the whole answer before the first event (the model is not
        streamed), for clients that cannot take back text they were sent.
        """
        question = self.pipeline.validate_question(turn.message)
        release = await self._slots.acquire(turn.client)
        if release is None:
            raise BusyError("Too many answers are streaming at once; retry shortly.")
        return AnswerStream(self._events(question, turn, incremental), release)

    async def _events(
        self, question: str, turn: ChatTurn, incremental: bool
    ) -> AsyncGenerator[StreamEvent, None]:
        history = await self._history(turn)
        stream: AsyncIterator[StreamEvent]
        if incremental:
            stream = self.pipeline.answer_stream(question, history, turn.conversation_id)
        else:
            stream = replay(await self.pipeline.answer(question, history, turn.conversation_id))
        async with aclosing(stream):  # type: ignore[type-var]  # both are async generators
            async for event in stream:
                if isinstance(event, Finished):
                    await self._remember(question, event.answer, turn.surface)
                yield event

    async def _history(self, turn: ChatTurn) -> list[Turn]:
        """The client's history if it sent one, else the stored one for a known conversation.

        Only the last ``max_history_messages`` turns are used (the stored history is read the
        same way); requests may carry up to ``MAX_HISTORY_MESSAGES``.
        """
        if turn.history or not turn.conversation_id:
            limit = self._settings.max_history_messages
            return turn.history[-limit:] if limit else []
        try:
            return await self.store.history(turn.conversation_id)
        except StorageError as exc:
            self._count_store_error("history", exc)
            return []

    async def _remember(self, question: str, answer: Answer, surface: str) -> None:
        """Count, log and persist one answer; a storage failure is logged, not raised."""
        self._metrics.observe_answer(answer, surface)
        log_answer(self._settings.observability, question, answer, surface)
        try:
            await self.store.record(question, answer)
        except StorageError as exc:
            self._count_store_error("record", exc)

    def _count_store_error(self, operation: str, exc: StorageError) -> None:
        log.warning("store %s failed: %s", operation, exc.message)
        self._metrics.store_errors.labels(operation).inc()
