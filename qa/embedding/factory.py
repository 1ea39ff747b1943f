"""Choosing and wrapping the configured embedder."""

from __future__ import annotations

import os

from qa.config import Settings
from qa.embedding.base import Embedder
from qa.embedding.batching import BatchingEmbedder
from qa.embedding.torch_model import SentenceTransformerEmbedder, resolve_model_path


def make_embedder(settings: Settings) -> Embedder:
    """The configured embedder (``QA_EMBEDDING__BACKEND``), ready for concurrent questions.

    ONNX (the default) exports the model once into ``QA_EMBEDDING__CACHE_DIR`` (by default
    ``<index dir>/models``, beside the index builds; see ``qa.embedding.onnx_export``). Single-text calls
    from concurrent requests are coalesced into one model call (``qa.embedding.batching``) unless
    ``QA_EMBEDDING__BATCH_QUERIES=false``.
    """
    embedder = _plain_embedder(settings, settings.embedding.threads)
    embedding = settings.embedding
    if embedding.batch_queries:
        return BatchingEmbedder(embedder, embedding.max_query_batch, embedding.query_batch_lanes)
    return embedder


def make_build_embedder(settings: Settings) -> Embedder:
    """The configured embedder for index builds: every core (``QA_EMBEDDING__BUILD_THREADS``).

    A build embeds thousands of texts in large batches, so intra-op threads pay off there, while a
    server's questions keep one thread each (``make_embedder``).
    """
    threads = settings.embedding.build_threads or os.cpu_count() or 1
    return _plain_embedder(settings, threads)


def _plain_embedder(settings: Settings, threads: int) -> Embedder:
    embedding = settings.embedding.model_copy(update={"threads": threads})
    embedder: Embedder
    if embedding.backend == "onnx":
        from qa.embedding.onnx import OnnxEmbedder
        from qa.embedding.onnx_export import exported_model_dir

        path = resolve_model_path(embedding)
        cache = embedding.cache_dir or settings.index_dir / "models"
        exported = exported_model_dir(path, cache, embedding.onnx_optimization)
        embedder = OnnxEmbedder(exported, embedding)
    else:
        embedder = SentenceTransformerEmbedder(embedding)
    return embedder
