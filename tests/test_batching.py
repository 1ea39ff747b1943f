"""Coalescing concurrent questions: right vector to each caller, fewer model calls, errors shared."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from qa.embedding.base import Vectors
from qa.embedding.batching import BatchingEmbedder
from tests.fakes import FakeEmbedder


class GatedEmbedder(FakeEmbedder):
    """The first model call waits until the test opens the gate, so other callers queue up."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batch_sizes: list[int] = []
        self.fail = False

    def embed(self, texts: list[str]) -> Vectors:
        self.entered.set()
        self.gate.wait(timeout=30)
        self.batch_sizes.append(len(texts))
        if self.fail:
            raise RuntimeError("model failed")
        return super().embed(texts)


def questions(n: int) -> list[str]:
    return [f"question number {i} about munitions workers {i * 7}" for i in range(n)]


def run_concurrently(embedder: BatchingEmbedder, inner: GatedEmbedder, texts: list[str]) -> list[object]:
    """Start a first caller, queue the rest behind it while the model is busy, then open the gate."""
    with ThreadPoolExecutor(len(texts)) as pool:
        first = pool.submit(embedder.embed, [texts[0]])
        assert inner.entered.wait(timeout=30)
        rest = [pool.submit(embedder.embed, [t]) for t in texts[1:]]
        while embedder.queued < len(texts) - 1:
            threading.Event().wait(0.005)
        inner.gate.set()
        futures = [first, *rest]
        return [f.exception() or f.result() for f in futures]


def test_concurrent_questions_are_batched_and_each_gets_its_own_vector() -> None:
    inner = GatedEmbedder()
    embedder = BatchingEmbedder(inner, max_batch=32, lanes=1)
    texts = questions(9)
    results = run_concurrently(embedder, inner, texts)
    expected = FakeEmbedder().embed(texts)
    for row, result in enumerate(results):
        assert isinstance(result, np.ndarray) and result.shape == (1, inner.dimension)
        assert np.allclose(result[0], expected[row])
    assert inner.batch_sizes == [1, 8]  # the eight that waited went in one call
    assert embedder.batches == 2 and embedder.batched_texts == 9


def test_batches_respect_the_maximum_size() -> None:
    inner = GatedEmbedder()
    embedder = BatchingEmbedder(inner, max_batch=3, lanes=1)
    run_concurrently(embedder, inner, questions(8))
    assert inner.batch_sizes == [1, 3, 3, 1]


def test_a_model_failure_reaches_every_caller_in_the_batch() -> None:
    inner = GatedEmbedder()
    inner.fail = True
    embedder = BatchingEmbedder(inner, lanes=1)
    results = run_concurrently(embedder, inner, questions(4))
    assert all(isinstance(r, RuntimeError) for r in results)
    inner.fail = False
    assert embedder.embed(["after the failure"]).shape == (1, inner.dimension)  # not wedged


class PickyEmbedder(GatedEmbedder):
    """Like a tokenizer that rejects lone surrogates: any call containing one poison text fails."""

    def embed(self, texts: list[str]) -> Vectors:
        self.entered.set()
        self.gate.wait(timeout=30)
        self.batch_sizes.append(len(texts))
        if any("\ud800" in t for t in texts):
            raise TypeError("TextEncodeInput must be Union[TextInputSequence, ...]")
        return FakeEmbedder.embed(self, texts)


def test_one_bad_text_never_fails_its_batch_mates() -> None:
    inner = PickyEmbedder()
    embedder = BatchingEmbedder(inner, lanes=1)
    texts = questions(6)
    texts[3] = "poison \ud800 text"
    results = run_concurrently(embedder, inner, texts)
    expected = FakeEmbedder().embed(texts[:3] + texts[4:])
    good = results[:3] + results[4:]
    assert all(
        isinstance(r, np.ndarray) and np.allclose(r[0], e) for r, e in zip(good, expected, strict=True)
    )
    assert isinstance(results[3], TypeError)  # only the bad text's caller fails
    assert embedder.isolations == 1 and inner.batch_sizes[:2] == [1, 5]  # then five singles


def test_lone_questions_and_lists_pass_straight_through() -> None:
    inner = FakeEmbedder()
    embedder = BatchingEmbedder(inner, lanes=2)
    one = embedder.embed(["Where did Kim travel?"])
    assert np.allclose(one, inner.embed(["Where did Kim travel?"]))
    many = embedder.embed(["a b", "c d", "e f"])
    assert many.shape == (3, inner.dimension)
    assert embedder.batches == 1  # only the single question went through the queue
    assert embedder.model_id == inner.model_id and embedder.dimension == inner.dimension


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_many_threads_all_get_correct_vectors(lanes: int) -> None:
    inner = FakeEmbedder()
    embedder = BatchingEmbedder(inner, max_batch=5, lanes=lanes)
    texts = questions(60)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda t: embedder.embed([t]), texts))
    expected = inner.embed(texts)
    assert all(np.allclose(r[0], e) for r, e in zip(results, expected, strict=True))
    assert embedder.batched_texts == 60
