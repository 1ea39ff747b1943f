"""The manifest of an index build: what it was built from, so staleness and corruption can be told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from qa.config import Settings
from qa.corpus.documents import corpus_checksums
from qa.errors import IndexCorruptError, IndexMissingError

# 4: sentences record their kind (text, item, heading, code) and section; chunks their section.
# 5: sentences under a section are embedded in context under their title and section (contextual
#    headers), and a parenthesised fragment ("(default: 70)") is one sentence with the next.
# 6: BM25 keeps the meaningful words of scikit-learn's stop list ("even", "once", "empty").
# 7: sentences are not cut after a "?" that ends none ("The ? operator") or a file name's dot
#    ("a .python-version file"), nor before a number that ends one ("… returns to being 6.");
#    hard-wrapped plain text is read as paragraphs; PDF page furniture is dropped and paragraphs
#    run across page breaks; Markdown formatting tags ("<br>", "<kbd>") are markup, not text.
FORMAT_VERSION = 7
CURRENT = "current"


class Counts(BaseModel):
    documents: int
    sentences: int
    chunks: int
    reused_documents: int = 0
    embedded_documents: int = 0


class Manifest(BaseModel):
    """``manifest.json``: written last, so a build directory without one was never finished."""

    model_config = ConfigDict(frozen=True)

    model_id: str
    chunking: dict[str, int]
    format_version: int
    dimension: int
    corpus: dict[str, str]  # file name -> sha256
    counts: Counts
    vector_index: dict[str, dict[str, Any]] = {}  # vector set -> FAISS type and parameters
    skipped: dict[str, str] = {}  # file name -> why it was left out
    built_at: str
    qa_version: str

    def fingerprint(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "chunking": self.chunking, "format_version": self.format_version}


def settings_fingerprint(settings: Settings) -> dict[str, Any]:
    """The settings an index depends on; a change in any of them makes the index stale."""
    return {
        "model_id": settings.embedding.model_id,
        "chunking": settings.chunking.model_dump(),
        "format_version": FORMAT_VERSION,
    }


def corrupt_message(path: Path) -> str:
    return f"Index file {path} is corrupt; run `qa index build` to rebuild the index."


def current_path(index_dir: Path) -> Path:
    """The directory of the current build, or ``IndexMissingError`` naming the fix."""
    link = index_dir / CURRENT
    target = link.resolve() if link.is_symlink() else link
    if not (target / "manifest.json").is_file():
        raise IndexMissingError(f"No index in {index_dir}; run `qa index build` to create it.")
    return target


def read_manifest(index_dir: Path) -> Manifest:
    path = current_path(index_dir) / "manifest.json"
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except (OSError, ValueError, ValidationError) as exc:
        raise IndexCorruptError(corrupt_message(path)) from exc


def staleness(settings: Settings) -> str | None:
    """Why the current index no longer matches the corpus and settings, or None if it does."""
    manifest = read_manifest(settings.index_dir)
    found = manifest.fingerprint()
    for key, value in settings_fingerprint(settings).items():
        if found[key] != value:
            return f"{key} changed"
    if manifest.corpus != corpus_checksums(settings.corpus_dir):
        return "corpus changed"
    return None
