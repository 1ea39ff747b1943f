"""Builds stream documents through large embedding calls, report per document, and use every core."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from qa.config import EmbeddingSettings, Settings
from qa.embedding.base import Vectors
from qa.embedding.factory import make_build_embedder, make_embedder
from qa.embedding.onnx import OnnxEmbedder
from qa.index import build_index, load_index
from qa.index.build import current_generation
from tests.conftest import REPO
from tests.fakes import FakeEmbedder


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def embed(self, texts: list[str]) -> Vectors:
        self.sizes.append(len(texts))
        return super().embed(texts)


def write_corpus(settings: Settings, count: int) -> None:
    for number in range(count):
        sentences = " ".join(f"Station {number} logged reading {n} at dawn." for n in range(12))
        (settings.corpus_dir / f"station-{number:02d}.txt").write_text(f"Station {number}\n\n{sentences}\n")


def test_progress_is_per_document_and_texts_go_in_large_calls(settings: Settings) -> None:
    write_corpus(settings, 9)
    embedder = CountingEmbedder()
    events: list[tuple[str, int, int]] = []
    build_index(settings, embedder, lambda stage, done, total: events.append((stage, done, total)))
    per_document = [(done, total) for stage, done, total in events if stage == "Embedding documents"]
    assert per_document == [(n, 10) for n in range(11)]  # 9 stations + the article, one by one
    index = load_index(settings.index_dir)
    texts = 2 * len(index.sentences) + len(index.chunks)
    assert sum(embedder.sizes) == texts
    # Several documents share a call (the per-call size is bounded by batch_size * 16).
    assert max(embedder.sizes) > len(index.sentences) // 10 and len(embedder.sizes) < 10
    assert max(embedder.sizes) <= settings.embedding.batch_size * 16 + texts // 10


def test_vectors_are_those_of_embedding_each_text_alone(settings: Settings) -> None:
    write_corpus(settings, 3)
    embedder = FakeEmbedder()
    build_index(settings, embedder)
    index = load_index(settings.index_dir)
    ids = list(range(len(index.sentences)))
    expected = embedder.embed([s.text for s in index.sentences])
    assert np.allclose(index.search.vectors("sentences", ids), expected)
    assert current_generation(settings) == index.generation == index.path.name


def test_builds_use_every_core_and_questions_two_threads(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path, embedding=EmbeddingSettings(cache_dir=REPO / "index" / "models"))
    builder = make_build_embedder(settings)
    assert isinstance(builder, OnnxEmbedder)  # no query batching wrapper for builds
    options = builder._session.get_session_options()
    assert options.intra_op_num_threads == (os.cpu_count() or 1)
    query = make_embedder(settings)
    assert query.inner._session.get_session_options().intra_op_num_threads == 2  # type: ignore[attr-defined]
