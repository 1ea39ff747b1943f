"""Index builds on disk: written into a staging directory, published by swapping a symlink.

Layout under ``QA_INDEX_DIR`` (generated, never hand-edited)::

    index/current -> build-<id>/      symlink, swapped atomically when a build completes
    index/build-<id>/manifest.json    model, dimension, chunking, corpus checksums, format version
                     store.json       documents, sentences and chunks with their spans
                     chunks.faiss     inner-product index of normalised chunk embeddings
                     sentences.faiss  inner-product index of sentence embeddings (ids = sentence ids)
                     contexts.faiss   the same for each sentence read with the one before it
                     bm25-chunks/     bm25s index over the chunks

Readers resolve ``current`` once, so a rebuild never exposes a half-written index.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from qa.index.manifest import CURRENT


def publish_build(root: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write`` into a fresh staging directory, then make it ``current`` atomically.

    ``write`` must write ``manifest.json`` last. On any failure the staging directory is removed
    and the previous build stays current.
    """
    root.mkdir(parents=True, exist_ok=True)
    build = root / f"build-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    staging = root / f".{build.name}.tmp"
    staging.mkdir()
    try:
        write(staging)
        staging.rename(build)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _point_current_at(root, build)
    _remove_old_builds(root, keep=build)
    return build


def _point_current_at(root: Path, build: Path) -> None:
    link = root / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
    link.symlink_to(build.name)
    os.replace(link, root / CURRENT)  # atomic on POSIX


def _remove_old_builds(root: Path, keep: Path) -> None:
    for entry in root.iterdir():
        is_build = entry.is_dir() and not entry.is_symlink() and entry.name.startswith(("build-", ".build-"))
        if is_build and entry.name != keep.name:
            shutil.rmtree(entry, ignore_errors=True)
