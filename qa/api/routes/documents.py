"""The corpus over HTTP: read any document (the text citations point into); admins add and remove.

Uploads are synchronous: the response comes when the document is indexed and this replica answers
from it (other replicas pick it up within ``QA_INDEX__RELOAD_INTERVAL_S``). One document embeds in
seconds, and a job queue would need shared job state (which replica holds job 7?) for no gain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile

from qa.api.deps import PipelineDep, RuntimeDep
from qa.api.schemas import DocumentChange, DocumentDetail, DocumentList, DocumentSummary, ErrorResponse
from qa.api.security import get_principal
from qa.corpus.documents import Document
from qa.errors import QAError
from qa.index.uploads import UploadResult, add_upload, remove_upload
from qa.pipeline import QAPipeline
from qa.service.runtime import Runtime

log = logging.getLogger("qa.api")
router = APIRouter(prefix="/v1/documents", tags=["documents"])

_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 404, 413, 415, 422, 503)
}


class AdminKeyError(QAError):
    code = "forbidden"
    status_code = 403


class IngestionFailedError(QAError):
    code = "ingestion_failed"
    status_code = 500


async def _apply(runtime: Runtime, change: Callable[[QAPipeline], UploadResult]) -> DocumentChange:
    try:
        result = await runtime.change_documents(change)
    except QAError:
        raise
    except Exception:
        # Unexpected (a model or storage fault): the previous index is still the one answering.
        log.exception("document change failed")
        raise IngestionFailedError(
            "The document could not be indexed; the previous documents are still answering."
        ) from None
    documents = len(runtime.require_pipeline().index.documents)
    return DocumentChange(
        doc_id=result.doc_id, status=result.status, sentences=result.sentences, documents=documents
    )


def _require_admin(request: Request, runtime: Runtime) -> None:
    if not runtime.settings.admin_keys:
        raise AdminKeyError("Changing documents over HTTP is disabled: no admin key is configured.")
    # The access-control middleware matched the bearer against QA_ADMIN_KEYS (constant time).
    if get_principal(request).kind != "admin":
        raise AdminKeyError("An admin key (QA_ADMIN_KEYS) is required: send `Authorization: Bearer <key>`.")


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


@router.post("", response_model=DocumentChange, status_code=201, responses=_ERRORS)
async def upload_document(
    request: Request,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="txt, md, html or pdf")],
) -> DocumentChange:
    """Add or replace the document ``<file stem>`` (admin key); answered from once this returns."""
    _require_admin(request, runtime)
    name = file.filename or ""
    limit = runtime.settings.max_upload_bytes
    data = await file.read(limit + 1)

    def change(pipeline: QAPipeline) -> UploadResult:
        return add_upload(runtime.settings, pipeline.retriever.embedder, name, data)

    return await _apply(runtime, change)


@router.delete("/{doc_id}", response_model=DocumentChange, responses=_ERRORS)
async def delete_document(doc_id: str, request: Request, runtime: RuntimeDep) -> DocumentChange:
    """Remove a document (admin key); no longer answered from once this returns."""
    _require_admin(request, runtime)

    def change(pipeline: QAPipeline) -> UploadResult:
        return remove_upload(runtime.settings, pipeline.retriever.embedder, doc_id)

    return await _apply(runtime, change)
