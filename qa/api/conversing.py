"""Conversation state around the pipeline: history from the store, answers into it.

Shared by every HTTP surface that answers questions. Storage trouble degrades instead of failing:
the question is still answered (without stored history, without being stored), the failure is
logged and counted, and what was stored earlier is untouched.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from qa.api.observability import get_metrics, log_answer
from qa.config import Settings
from qa.contract import Answer, Turn
from qa.errors import InvalidInputError, StorageError
from qa.storage.sqlite import Store, UnavailableStore

log = logging.getLogger("qa.api")


def get_store(request: Request) -> Store:
    """The conversation store opened in the lifespan (an unavailable one before that)."""
    store: Store | None = getattr(request.app.state, "store", None)
    return store if store is not None else UnavailableStore("the service is starting")


async def _store_dependency(request: Request) -> Store:
    return get_store(request)  # async: no thread-pool hop for an attribute read


StoreDep = Annotated[Store, Depends(_store_dependency)]


def _count_store_error(app: FastAPI, operation: str, exc: StorageError) -> None:
    log.warning("store %s failed: %s", operation, exc.message)
    metrics = get_metrics(app)
    if metrics is not None:
        metrics.store_errors.labels(operation).inc()


async def conversation_history(
    request: Request, settings: Settings, conversation_id: str | None, history: list[Turn]
) -> list[Turn]:
    """The client's history if it sent one, else the stored one for a known conversation."""
    if len(history) > settings.max_history_messages:
        raise InvalidInputError(
            f"history has {len(history)} messages; at most {settings.max_history_messages} are accepted."
        )
    if history or not conversation_id:
        return history
    try:
        return await get_store(request).history(conversation_id)
    except StorageError as exc:
        _count_store_error(request.app, "history", exc)
        return []


async def remember(request: Request, settings: Settings, question: str, answer: Answer) -> None:
    """Count, log and persist one answer; a storage failure is logged, not raised."""
    metrics = get_metrics(request.app)
    if metrics is not None:
        metrics.observe_answer(answer)
    log_answer(settings.observability, question, answer)
    try:
        await get_store(request).record(question.strip(), answer)
    except StorageError as exc:
        _count_store_error(request.app, "record", exc)
