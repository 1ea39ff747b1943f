"""``GET /v1/conversations/{id}``: a stored conversation, oldest message first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from qa.api.deps import StoreDep
from qa.api.schemas import ErrorResponse
from qa.api.security import get_principal
from qa.contract import ID_PATTERN, MAX_ID_CHARS
from qa.storage.records import Conversation

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

ConversationId = Annotated[str, Path(max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]


@router.get(
    "/{conversation_id}",
    response_model=Conversation,
    responses={404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
async def get_conversation(
    conversation_id: ConversationId, request: Request, store: StoreDep
) -> Conversation:
    """Every question and answer of one of your conversations, with citations, timings and mode.

    Someone else's conversation is 404, like an unknown one; an admin key (``QA_ADMIN_KEYS``)
    reads any, Slack's included.
    """
    principal = get_principal(request)
    owner = None if principal.reads_any_conversation else principal.owner
    return await store.conversation(conversation_id, owner)
