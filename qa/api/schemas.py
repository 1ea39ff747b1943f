"""Request and response bodies of the HTTP API (the answer itself is ``qa.contract.Answer``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from qa.contract import MAX_HISTORY_MESSAGES, Message, ResourceId, SearchHit, Turn
from qa.pipeline import MAX_SEARCH_RESULTS


def _json_integer(value: object) -> object:
    """What JSON Schema calls an integer: 5 and 5.0, but not "5" or true."""
    if isinstance(value, bool | str):
        raise ValueError("must be an integer")
    return value


JsonInteger = Annotated[int, BeforeValidator(_json_integer)]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "true" is not a boolean

    message: Message = Field(description="The question. 1-2,000 characters after trimming.")
    conversation_id: ResourceId | None = None
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY_MESSAGES)
    stream: bool = Field(default=False, description="Answer as Server-Sent Events.")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Message
    k: JsonInteger = Field(default=5, ge=1, le=MAX_SEARCH_RESULTS)


class SearchResponse(BaseModel):
    results: list[SearchHit]


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    source: str
    chars: int


class DocumentDetail(DocumentSummary):
    text: str


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: str
    detail: str | None = None


class DocumentChange(BaseModel):
    """What an upload or removal did; the change is already served when this is returned."""

    doc_id: str
    status: str = Field(description="added | replaced | unchanged | removed")
    sentences: int | None = None
    documents: int = Field(description="documents this replica now answers from")
