"""``qa index add`` and ``qa index remove``: change the corpus, then rebuild incrementally.

The corpus directory stays the single source of truth: ``add`` copies each file into it (so the
start-up staleness check, a full rebuild and a Docker build all see the same documents) and
``remove`` deletes the document's file from it. The index is then rebuilt with vectors reused
for every document whose content hash is unchanged, so only new or changed documents are embedded.

A file that cannot be used (unsupported type, unreadable, no extractable text) is reported by
name with the reason and skipped; it never aborts the run and is never copied.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.config import Settings
from qa.corpus.documents import SUPPORTED_SUFFIXES, corpus_files, read_document
from qa.embedding.base import Embedder
from qa.errors import CorpusError, NotFoundError
from qa.index.build import Progress, build_index
from qa.index.manifest import read_manifest


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class IngestReport:
    """What a run did, for the summary line and for tests."""

    added: list[str] = field(default_factory=list)  # doc ids new to the corpus
    replaced: list[str] = field(default_factory=list)  # doc ids whose file content changed
    unchanged: list[str] = field(default_factory=list)  # doc ids given again with the same content
    removed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # file -> reason
    embedded_documents: int = 0
    reused_documents: int = 0
    index_path: Path | None = None


def expand_paths(paths: list[Path], report: IngestReport) -> list[Path]:
    """Files named directly, plus the supported files under named directories (recursively)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
            )
            files.extend(found)
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(path)
            else:
                report.skipped[str(path)] = f"unsupported file type (use {', '.join(SUPPORTED_SUFFIXES)})"
        else:
            report.skipped[str(path)] = "no such file or directory"
    return files


def add_documents(
    settings: Settings,
    embedder: Embedder,
    paths: list[Path],
    progress: Progress = _no_progress,
    on_skip: Callable[[str, str], None] | None = None,
) -> IngestReport:
    """Copy usable files into the corpus (replacing same-id documents) and update the index.

    With Milvus the documents go straight into the shared collections instead (see
    ``qa.index.milvus``); the local corpus directory is left alone.
    """
    report = IngestReport()
    if settings.index.backend == "milvus":
        return _add_to_milvus(settings, embedder, paths, report, progress, on_skip)
    corpus = settings.corpus_dir
    corpus.mkdir(parents=True, exist_ok=True)
    files = expand_paths(paths, report)
    existing = {p.stem: p for p in corpus_files(corpus)}
    progress("Reading files", 0, len(files))
    for done, path in enumerate(files, start=1):
        try:
            _add_one(path, corpus, existing, report)
        except CorpusError as exc:
            report.skipped[str(path)] = exc.message
        progress("Reading files", done, len(files))
    for name, reason in report.skipped.items():
        if on_skip is not None:
            on_skip(name, reason)
    _rebuild(settings, embedder, progress, report, on_skip)
    return report


def _add_one(path: Path, corpus: Path, existing: dict[str, Path], report: IngestReport) -> None:
    document = read_document(path, kind="File")  # proves the file usable before it enters the corpus
    if not document.text.strip():
        raise CorpusError(f"{path} has no text")
    doc_id = document.doc_id
    target = corpus / path.name
    previous = existing.get(doc_id)
    if previous is not None and _sha256(previous) == _sha256(path):
        report.unchanged.append(doc_id)
        return
    _atomic_copy(path, target)
    if previous is not None and previous.resolve() != target.resolve():
        previous.unlink()  # same id, other file type: the new file replaces it
    existing[doc_id] = target
    (report.replaced if previous is not None else report.added).append(doc_id)


def remove_document(
    settings: Settings,
    embedder: Embedder,
    doc_id: str,
    progress: Progress = _no_progress,
    on_skip: Callable[[str, str], None] | None = None,
) -> IngestReport:
    """Delete the document's file from the corpus and update the index (with Milvus: its rows)."""
    report = IngestReport()
    if settings.index.backend == "milvus":
        from qa.index.milvus import MilvusIndex

        milvus = MilvusIndex(settings, embedder.dimension)
        try:
            if not milvus.remove_document(doc_id):
                raise NotFoundError(f"No document with id {doc_id!r} in Milvus.")
            milvus.flush()
        finally:
            milvus.close()
        report.removed.append(doc_id)
        return report
    matches = [p for p in corpus_files(settings.corpus_dir) if p.stem == doc_id]
    if not matches:
        hint = ""
        stem, suffix = Path(doc_id).stem, Path(doc_id).suffix.lower()
        if suffix in SUPPORTED_SUFFIXES and stem:
            hint = f" A document id is the file name without its extension: try {stem!r}."
        raise NotFoundError(f"No document with id {doc_id!r} in {settings.corpus_dir}.{hint}")
    if len(corpus_files(settings.corpus_dir)) == len(matches):
        raise CorpusError(f"{doc_id!r} is the only document; an index needs at least one.")
    for path in matches:
        path.unlink()
    report.removed.append(doc_id)
    _rebuild(settings, embedder, progress, report, on_skip)
    return report


def _add_to_milvus(
    settings: Settings,
    embedder: Embedder,
    paths: list[Path],
    report: IngestReport,
    progress: Progress,
    on_skip: Callable[[str, str], None] | None,
) -> IngestReport:
    from qa.index.milvus import MilvusIndex

    files = expand_paths(paths, report)
    milvus = MilvusIndex(settings, embedder.dimension)
    try:
        stored = milvus.stored_stamps()
        for done, path in enumerate(files, start=1):
            try:
                document = read_document(path)
                if not document.text.strip():
                    raise CorpusError(f"{path} has no text")
            except CorpusError as exc:
                report.skipped[str(path)] = exc.message
                continue
            previous = stored.get(document.doc_id)
            if previous == milvus.stamp_of(document):
                report.unchanged.append(document.doc_id)
            else:
                milvus.add_document(document, embedder)
                report.embedded_documents += 1
                (report.replaced if previous else report.added).append(document.doc_id)
            progress("Embedding documents", done, len(files))
        if report.embedded_documents:
            milvus.flush()
    finally:
        milvus.close()
    for name, reason in report.skipped.items():
        if on_skip is not None:
            on_skip(name, reason)
    return report


def _rebuild(
    settings: Settings,
    embedder: Embedder,
    progress: Progress,
    report: IngestReport,
    on_skip: Callable[[str, str], None] | None,
) -> None:
    def skipped(path: Path, reason: str) -> None:
        if str(path) not in report.skipped and path.name not in report.skipped:
            report.skipped[path.name] = reason
            if on_skip is not None:
                on_skip(path.name, reason)

    report.index_path = build_index(settings, embedder, progress, reuse=True, on_skip=skipped)
    counts = read_manifest(settings.index_dir).counts
    report.embedded_documents = counts.embedded_documents
    report.reused_documents = counts.reused_documents


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _atomic_copy(source: Path, target: Path) -> None:
    """Copy so that readers (a server's staleness check) never see half a file."""
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        shutil.copyfile(source, staging)
        os.replace(staging, target)
    except OSError as exc:
        staging.unlink(missing_ok=True)
        raise CorpusError(f"Cannot copy {source} into {target.parent}: {exc.strerror}.") from exc
