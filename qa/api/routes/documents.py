"""Read access to the corpus: the exact text every citation's offsets point into."""

from __future__ import annotations

from fastapi import APIRouter

from qa.api.deps import PipelineDep
from qa.api.schemas import DocumentDetail, DocumentList, DocumentSummary, ErrorResponse
from qa.corpus.documents import Document

router = APIRouter(prefix="/v1/documents", tags=["documents"])


def _summary(document: Document) -> DocumentSummary:
    return DocumentSummary(
        doc_id=document.doc_id,
        title=document.title,
        source=document.source,
        chars=len(document.text),
    )


@router.get("", response_model=DocumentList)
async def list_documents(pipeline: PipelineDep) -> DocumentList:
    return DocumentList(documents=[_summary(d) for d in pipeline.documents()])


@router.get("/{doc_id}", response_model=DocumentDetail, responses={404: {"model": ErrorResponse}})
async def get_document(doc_id: str, pipeline: PipelineDep) -> DocumentDetail:
    document = pipeline.document(doc_id)
    return DocumentDetail(**_summary(document).model_dump(), text=document.text)
