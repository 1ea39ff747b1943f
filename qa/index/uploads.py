"""Adding and removing one document while servers run (``POST``/``DELETE /v1/documents``).

Checks come first and raise ``InvalidUploadError`` (a 4xx with the reason): a bad name, an
unsupported type, a file too large, unreadable, or with no text. Then:

- FAISS: the file joins the corpus directory and the index is rebuilt incrementally (only the
  new document is embedded) and published by swapping ``current``; an exclusive lock file in the
  index directory serialises changes from every process sharing that disk. If the rebuild fails
  the file is taken out again, so the corpus and the still-current build agree.
- Milvus: the document's rows are written to (or deleted from) the shared collections directly.

Either way the previous documents keep answering until the change is complete, and servers pick
the change up by polling (``qa.service.runtime``).
"""

from __future__ import annotations

import fcntl
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from qa.config import Settings
from qa.corpus.documents import SUPPORTED_SUFFIXES, corpus_files, read_document
from qa.embedding.base import Embedder
from qa.errors import CorpusError, InvalidInputError, NotFoundError

# A file stem becomes the doc_id, which appears in URLs, citations and Milvus expressions.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,119}$")


class InvalidUploadError(InvalidInputError):
    code = "invalid_document"
    status_code = 422


class UploadTooLargeError(InvalidUploadError):
    code = "payload_too_large"
    status_code = 413


class UnsupportedTypeError(InvalidUploadError):
    code = "unsupported_media_type"
    status_code = 415


@dataclass(frozen=True, slots=True)
class UploadResult:
    doc_id: str
    status: str  # "added" | "replaced" | "unchanged" | "removed"
    sentences: int | None = None


def check_name(filename: str) -> tuple[str, str]:
    """(doc_id, suffix) of an uploaded file's name, or why it cannot be used."""
    name = Path(filename.replace("\\", "/")).name
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedTypeError(
            f"Unsupported file type {suffix or '(none)'!r}; use {', '.join(SUPPORTED_SUFFIXES)}."
        )
    if not _NAME.match(path.stem):
        raise InvalidUploadError(
            "Bad file name: use letters, digits, '.', '_', '-' or spaces (at most 120), starting "
            "with a letter or digit."
        )
    return path.stem, suffix


@contextmanager
def _exclusive(settings: Settings) -> Iterator[None]:
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.index_dir / ".ingest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def add_upload(settings: Settings, embedder: Embedder, filename: str, data: bytes) -> UploadResult:
    """Check an uploaded file and add (or replace) its document in the configured backend."""
    doc_id, suffix = check_name(filename)
    if len(data) > settings.max_upload_bytes:
        raise UploadTooLargeError(f"The file is larger than {settings.max_upload_bytes} bytes.")
    with tempfile.TemporaryDirectory(prefix="qa-upload-") as tmp:
        path = Path(tmp) / f"{doc_id}{suffix}"
        path.write_bytes(data)
        try:
            document = read_document(path, doc_id)
        except CorpusError as exc:
            raise InvalidUploadError(exc.message.replace(str(path), path.name)) from None
        if not document.text.strip():
            raise InvalidUploadError(f"{path.name} has no text.")
        if settings.index.backend == "milvus":
            from qa.index.milvus import MilvusIndex

            milvus = MilvusIndex(settings, embedder.dimension)
            try:
                before = milvus.stored_stamps().get(doc_id)
                if before == milvus.stamp_of(document):
                    return UploadResult(doc_id, "unchanged")
                sentences = milvus.add_document(document, embedder)
                milvus.flush()
            finally:
                milvus.close()
            return UploadResult(doc_id, "replaced" if before else "added", sentences)
        with _exclusive(settings):
            return _add_faiss(settings, embedder, path, doc_id)


def _add_faiss(settings: Settings, embedder: Embedder, path: Path, doc_id: str) -> UploadResult:
    from qa.index.ingest import add_documents

    before = {p.stem: p for p in corpus_files(settings.corpus_dir)} if settings.corpus_dir.is_dir() else {}
    target = settings.corpus_dir / path.name
    try:
        report = add_documents(settings, embedder, [path])
    except Exception:
        # The build failed, so `current` is unchanged: take the new file out again so the
        # corpus matches what is answering (a replaced file cannot be restored; say so in the log).
        if doc_id not in before:
            target.unlink(missing_ok=True)
        raise
    if report.skipped:
        raise InvalidUploadError("; ".join(report.skipped.values()).replace(str(path), path.name))
    status = (
        "unchanged" if doc_id in report.unchanged else "replaced" if doc_id in report.replaced else "added"
    )
    return UploadResult(doc_id, status)


def remove_upload(settings: Settings, embedder: Embedder, doc_id: str) -> UploadResult:
    """Remove a document from the configured backend; ``NotFoundError`` if there is none."""
    if settings.index.backend == "milvus":
        from qa.index.milvus import MilvusIndex

        milvus = MilvusIndex(settings, embedder.dimension)
        try:
            if not milvus.remove_document(doc_id):
                raise NotFoundError(f"No document with id {doc_id!r}.")
            milvus.flush()
        finally:
            milvus.close()
        return UploadResult(doc_id, "removed")
    from qa.index.ingest import remove_document

    with _exclusive(settings):
        try:
            remove_document(settings, embedder, doc_id)
        except NotFoundError:
            raise NotFoundError(f"No document with id {doc_id!r}.") from None
        except CorpusError as exc:
            raise InvalidUploadError(exc.message.replace(str(settings.corpus_dir), "the corpus")) from None
    return UploadResult(doc_id, "removed")
