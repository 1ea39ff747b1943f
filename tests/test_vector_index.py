"""Index type by size (flat / HNSW), parameters in the manifest, memory-mapped loading."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.config import IndexSettings, Settings
from qa.index import build_index, load_index, read_manifest
from qa.index.lexical import tokenize, tokenize_query
from qa.index.vectors import build_vector_index, choose_params
from qa.pipeline import QAPipeline
from qa.retrieval.retriever import _top
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder


def test_index_type_follows_the_size() -> None:
    index_settings = IndexSettings(hnsw_threshold=100, hnsw_m=16, hnsw_ef_construction=40, hnsw_ef_search=32)
    assert choose_params(99, index_settings) == {"type": "flat"}
    hnsw = {"type": "hnsw", "M": 16, "ef_construction": 40, "ef_search": 32}
    assert choose_params(100, index_settings) == hnsw


def test_hnsw_finds_the_same_neighbours_as_exact_search_on_easy_data() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flat = build_vector_index(vectors, 32, {"type": "flat"})
    hnsw = build_vector_index(vectors, 32, {"type": "hnsw", "M": 16, "ef_construction": 80, "ef_search": 200})
    _, exact = flat.search(vectors[:20], 5)
    _, approx = hnsw.search(vectors[:20], 5)
    assert (exact[:, 0] == np.arange(20)).all()  # inner product on unit vectors: self is nearest
    recall = np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.9


def test_large_corpus_gets_hnsw_recorded_in_the_manifest_and_same_answers(tmp_path: Path) -> None:
    flat_settings = make_settings(tmp_path / "flat")
    hnsw_settings = Settings(
        corpus_dir=flat_settings.corpus_dir,
        index_dir=tmp_path / "hnsw",
        index=IndexSettings(hnsw_threshold=10, hnsw_m=16, hnsw_ef_construction=64, hnsw_ef_search=100),
    )
    build_index(flat_settings, FakeEmbedder())
    build_index(hnsw_settings, FakeEmbedder())
    manifest = read_manifest(hnsw_settings.index_dir)
    hnsw_params = {"type": "hnsw", "M": 16, "ef_construction": 64, "ef_search": 100}
    assert manifest.vector_index["chunks"] == hnsw_params
    assert read_manifest(flat_settings.index_dir).vector_index["sentences"] == {"type": "flat"}
    loaded = load_index(hnsw_settings.index_dir, hnsw_settings.index)
    assert type(loaded.chunk_vectors).__name__ == "IndexHNSWFlat"
    assert faiss.downcast_index(loaded.chunk_vectors).hnsw.efSearch == 100  # type: ignore[attr-defined]
    # efSearch is a load-time setting: no rebuild needed to change it.
    faster = load_index(hnsw_settings.index_dir, IndexSettings(hnsw_ef_search=12))
    assert faiss.downcast_index(faster.chunk_vectors).hnsw.efSearch == 12  # type: ignore[attr-defined]
    flat = QAPipeline.load(flat_settings, embedder_factory=lambda _: FakeEmbedder())
    hnsw = QAPipeline.load(hnsw_settings, embedder_factory=lambda _: FakeEmbedder())
    for question in ("How can technical blueprints be sent?", "Who was the visit a jolt for?"):
        assert hnsw.ask(question).answer == flat.ask(question).answer


@pytest.mark.parametrize("mmap", [True, False])
def test_loading_with_and_without_memory_mapping_gives_the_same_vectors(
    settings: Settings, mmap: bool
) -> None:
    build_index(settings, FakeEmbedder())
    reference = load_index(settings.index_dir, IndexSettings(mmap=False))
    loaded = load_index(settings.index_dir, IndexSettings(mmap=mmap))
    count = len(reference.sentences)
    assert np.array_equal(
        loaded.sentence_vectors.reconstruct_n(0, count), reference.sentence_vectors.reconstruct_n(0, count)
    )


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200))
def test_query_tokenizer_equals_bm25s_tokenizer(text: str) -> None:
    assert list(tokenize_query(text)) == tokenize([text])[0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=300),
    st.integers(min_value=1, max_value=40),
)
def test_partial_top_k_equals_a_stable_full_sort(values: list[float], depth: int) -> None:
    scores = np.asarray(values, dtype=np.float32)
    assert _top(scores, depth).tolist() == np.argsort(-scores, kind="stable")[:depth].tolist()
