"""Deterministic stand-ins for the heavy components, for fast unit tests."""

from __future__ import annotations

import hashlib

import numpy as np

from qa.embedding.base import Vectors
from qa.index.lexical import tokenize


class FakeEmbedder:
    """Hashes stemmed words into a small vector: similar wording gives similar vectors.

    No semantics (paraphrases do not match), which is exactly what unit tests need: fast,
    deterministic, and good enough for lexical questions.
    """

    def __init__(self, dimension: int = 64) -> None:
        self._dimension = dimension
        self.calls = 0

    @property
    def model_id(self) -> str:
        return "fake-hashing"

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: list[str]) -> Vectors:
        self.calls += 1
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, tokens in enumerate(tokenize(texts)):
            for token in tokens or ["<empty>"]:
                digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
                vectors[row, int.from_bytes(digest, "little") % self._dimension] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        return normalised
