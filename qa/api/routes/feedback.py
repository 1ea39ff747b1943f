"""``POST /v1/feedback``: a reader's thumbs up or down on one answer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from qa.api.deps import StoreDep
from qa.api.schemas import ErrorResponse
from qa.api.security import get_principal
from qa.contract import MAX_COMMENT_CHARS, ResourceId
from qa.storage.protocols import Rating

router = APIRouter(prefix="/v1", tags=["feedback"])


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    message_id: ResourceId
    rating: Rating
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)


class FeedbackReceipt(BaseModel):
    message_id: str
    rating: Rating
    source: str
    replaced: bool = Field(
        description="True when this rating replaced your earlier one (the last one counts)."
    )


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackReceipt,
    responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
async def add_feedback(body: FeedbackRequest, request: Request, store: StoreDep) -> FeedbackReceipt:
    """Rate an answer in one of your conversations by its ``message_id``.

    404 when no such answer was recorded or it is someone else's. Rating again replaces your
    earlier rating (``replaced: true``): one rating per answer and rater, the last one counts.
    """
    principal = get_principal(request)
    comment = body.comment.strip() if body.comment and body.comment.strip() else None
    replaced = await store.add_feedback(
        body.message_id, body.rating, comment, principal.source, principal.owner
    )
    return FeedbackReceipt(
        message_id=body.message_id, rating=body.rating, source=principal.source, replaced=replaced
    )
