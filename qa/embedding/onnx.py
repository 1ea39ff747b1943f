"""The ONNX Runtime embedder used at query time and for index builds.

sentence-transformers exports the model (``qa.embedding.onnx_export``) and proves it equivalent to PyTorch;
at run time we call the exported graph through ``onnxruntime`` and the model's own fast tokenizer
(``tokenizers``) directly. That skips importing torch and sentence-transformers in the server
(seconds of cold start, hundreds of MB of RSS) and the per-call tensor conversions of
``SentenceTransformer.encode``, which cost as much as the model itself for a short question.
The maths is the model's pipeline: mean pooling over the attention mask, then L2 normalisation;
tests check the vectors against ``SentenceTransformer.encode`` (cosine >= 0.9999).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.config import EmbeddingSettings
from qa.embedding.base import Vectors
from qa.errors import ModelMissingError

if TYPE_CHECKING:
    import onnxruntime


class OnnxEmbedder:
    """An ``Embedder`` over an exported model directory (see ``qa.embedding.onnx_export``)."""

    def __init__(self, exported: Path, settings: EmbeddingSettings, dimension: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        from qa.embedding.onnx_export import read_marker

        marker = read_marker(exported)
        options = onnxruntime.SessionOptions()
        if settings.threads:
            options.intra_op_num_threads = settings.threads
        if not settings.intra_op_spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = onnxruntime.InferenceSession(
                str(exported / str(marker["file_name"])), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = Tokenizer.from_file(str(exported / "tokenizer.json"))
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ModelMissingError(
                f"The ONNX export in {exported} cannot be loaded; delete it to export again."
            ) from exc
        max_length = marker.get("max_seq_length")
        self._tokenizer.enable_truncation(int(max_length) if isinstance(max_length, int) else 256)
        # Pad to the longest text of a batch, not to the fixed length tokenizer.json asks for.
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._model_id = settings.model_id
        self._batch_size = settings.batch_size
        self._dimension = dimension or int(self.embed(["dimension probe"]).shape[1])

    @property
    def session_options(self) -> onnxruntime.SessionOptions:
        """The options the model runs with (threads, spinning)."""
        return self._session.get_session_options()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        if len(texts) <= self._batch_size:
            return self._embed_batch(texts)
        # Long lists (index builds): batches of similar length waste less work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        for first in range(0, len(order), self._batch_size):
            rows = order[first : first + self._batch_size]
            out[rows] = self._embed_batch([texts[i] for i in rows])
        return out

    def _embed_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.ascontiguousarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)
