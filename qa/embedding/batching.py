"""Coalescing concurrent single-question embeddings into one model call.

Requests are answered on a thread pool. Sixteen questions embedded one by one would each start
a model run with its own intra-op threads, oversubscribing a small machine; one batch of sixteen
costs much less than sixteen singles. There is no timer: whoever finds a free lane embeds
everything queued so far (leader/follower), so a lone question pays no waiting at all and
questions arriving while the lanes are busy form the next batch. ``lanes`` batches may run at
once (one per core with single-threaded inference), so batching never idles a core.

One bad text never fails its batch-mates: when a batch call raises, each of its texts is retried
on its own, so only the text that really fails (e.g. one the tokenizer rejects) gets the error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from qa.embedding.base import Embedder, Vectors


@dataclass(slots=True, eq=False)
class _Pending:
    text: str
    taken: bool = False  # pulled into a batch by some leader
    vector: Vectors | None = None
    error: BaseException | None = None
    done: bool = False


class BatchingEmbedder:
    """An ``Embedder`` that batches concurrent one-text calls; other calls pass straight through."""

    def __init__(self, inner: Embedder, max_batch: int = 32, lanes: int = 1) -> None:
        self._inner = inner
        self._max_batch = max_batch
        self._lanes = lanes
        self._condition = threading.Condition()
        self._queue: list[_Pending] = []
        self._running = 0
        self.batches = 0  # model calls made for single texts (for tests and benchmarks)
        self.batched_texts = 0
        self.isolations = 0  # failed batches retried text by text

    @property
    def queued(self) -> int:
        """Questions waiting for a lane."""
        with self._condition:
            return len(self._queue)

    @property
    def inner(self) -> Embedder:
        return self._inner

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def embed(self, texts: list[str]) -> Vectors:
        if len(texts) != 1:
            return self._inner.embed(texts)  # index builds batch on their own
        item = _Pending(texts[0])
        with self._condition:
            self._queue.append(item)
        while True:
            with self._condition:
                while not item.done and (item.taken or self._running >= self._lanes):
                    self._condition.wait()
                if item.done:
                    break
                # A lane is free: lead a batch of the oldest queued texts (FIFO, so ours comes).
                self._running += 1
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                for pending in batch:
                    pending.taken = True
            self._run(batch)
        if item.error is not None:
            raise item.error
        assert item.vector is not None
        return item.vector

    def _run(self, batch: list[_Pending]) -> None:
        try:
            try:
                vectors = self._inner.embed([p.text for p in batch])
                for row, pending in enumerate(batch):
                    pending.vector = np.ascontiguousarray(vectors[row : row + 1])
            except Exception:
                if len(batch) == 1:
                    raise
                self.isolations += 1
                # Someone's text broke the batch: retry each alone so only that caller fails.
                for pending in batch:
                    try:
                        pending.vector = np.ascontiguousarray(self._inner.embed([pending.text]))
                    except Exception as exc:
                        pending.error = exc
        except BaseException as exc:  # every waiter must learn of the failure, not hang
            for pending in batch:
                if pending.vector is None and pending.error is None:
                    pending.error = exc
        finally:
            with self._condition:
                for pending in batch:
                    pending.done = True
                self.batches += 1
                self.batched_texts += len(batch)
                self._running -= 1
                self._condition.notify_all()
