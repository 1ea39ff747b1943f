"""Raw retrieval: the best chunks for a query, without composing an answer."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from qa.api.deps import PipelineDep
from qa.api.schemas import ErrorResponse, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", response_model=SearchResponse, responses={422: {"model": ErrorResponse}})
async def search(body: SearchRequest, pipeline: PipelineDep) -> SearchResponse:
    results = await run_in_threadpool(pipeline.search, body.query, body.k)
    return SearchResponse(results=results)
