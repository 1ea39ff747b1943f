"""The ONNX query path: a checked, cached export whose vectors and answers match PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.config import EmbeddingSettings, Settings
from qa.embedding.base import Embedder
from qa.embedding.factory import make_embedder
from qa.embedding.onnx import OnnxEmbedder
from qa.embedding.onnx_export import MIN_COSINE, exported_model_dir, read_marker
from qa.embedding.torch_model import SentenceTransformerEmbedder, resolve_model_path
from qa.eval import evaluate, load_items
from qa.pipeline import QAPipeline
from tests.conftest import ARTICLE, DEV_QUESTIONS, REPO, make_settings

pytestmark = pytest.mark.integration
MODELS = REPO / "index" / "models"


@pytest.fixture(scope="session")
def torch_embedder() -> Embedder:
    return SentenceTransformerEmbedder(EmbeddingSettings(backend="torch"))


@pytest.fixture(scope="session")
def onnx_embedder(real_embedder: Embedder) -> OnnxEmbedder:
    # real_embedder made the export; this opens it directly, without the batching wrapper.
    settings = EmbeddingSettings()
    return OnnxEmbedder(exported_model_dir(resolve_model_path(settings), MODELS, "O2"), settings)


def article_sentences() -> list[str]:
    return [line for line in ARTICLE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_default_backend_is_onnx_behind_query_batching(real_embedder: Embedder) -> None:
    assert Settings().embedding.backend == "onnx"
    inner = getattr(real_embedder, "inner", None)
    assert isinstance(inner, OnnxEmbedder)


def test_export_is_cached_checked_and_reused(onnx_embedder: OnnxEmbedder) -> None:
    source = resolve_model_path(EmbeddingSettings())
    exported = exported_model_dir(source, MODELS, "O2")
    marker = read_marker(exported)
    assert float(str(marker["min_cosine_vs_torch"])) >= MIN_COSINE
    assert (exported / str(marker["file_name"])).is_file()
    stamp = (exported / "export.json").stat().st_mtime_ns
    assert exported_model_dir(source, MODELS, "O2") == exported  # no second export
    assert (exported / "export.json").stat().st_mtime_ns == stamp
    assert not str(exported).startswith(str(source))  # never written into site-packages


def test_onnx_vectors_match_pytorch(onnx_embedder: OnnxEmbedder, torch_embedder: Embedder) -> None:
    texts = article_sentences() + [item.q for item in load_items(DEV_QUESTIONS)] + ["", "a"]
    onnx, torch = onnx_embedder.embed(texts), torch_embedder.embed(texts)
    assert onnx.shape == torch.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(onnx * torch, axis=1))) >= 0.9999
    # One at a time (the query path) equals the batched result (the index-build path).
    single = np.vstack([onnx_embedder.embed([t]) for t in texts[:5]])
    assert float(np.min(np.sum(single * onnx[:5], axis=1))) >= 0.9999


def test_intra_op_threads_do_not_spin_unless_asked(onnx_embedder: OnnxEmbedder) -> None:
    """Spin-waiting threads would take the CPU a server's event loop and other answers need."""
    key = "session.intra_op.allow_spinning"
    assert onnx_embedder.session_options.get_session_config_entry(key) == "0"
    settings = EmbeddingSettings(intra_op_spinning=True)
    spinning = OnnxEmbedder(exported_model_dir(resolve_model_path(settings), MODELS, "O2"), settings)
    with pytest.raises(RuntimeError, match="does not have configuration"):
        spinning.session_options.get_session_config_entry(key)  # unset: ONNX Runtime's default, spin


def test_long_text_is_truncated_not_rejected(onnx_embedder: OnnxEmbedder) -> None:
    vector = onnx_embedder.embed([ARTICLE.read_text(encoding="utf-8")])
    assert vector.shape == (1, 384) and np.isfinite(vector).all()


def test_eval_passes_with_onnx_and_equals_pytorch(
    real_pipeline: QAPipeline, torch_embedder: Embedder, tmp_path: Path
) -> None:
    items = load_items(DEV_QUESTIONS)
    onnx_report = evaluate(real_pipeline, items)
    torch_pipeline = QAPipeline.load(make_settings(tmp_path), embedder_factory=lambda _: torch_embedder)
    torch_report = evaluate(torch_pipeline, items)
    metrics = onnx_report.metrics()
    # Quality bars live in test_quality.py (held-out test split); here: both backends agree.
    assert metrics["quote_validity"] == 1.0
    assert metrics["answer_accuracy"] is not None and metrics["answer_accuracy"] >= 0.8
    assert metrics == torch_report.metrics()
    # Same answers; a float-level near-tie may differ on another CPU, so allow one.
    same = sum(o.answer == t.answer for o, t in zip(onnx_report.items, torch_report.items, strict=True))
    assert same >= len(items) - 1


def test_torch_backend_is_still_a_setting(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path, embedding=EmbeddingSettings(backend="torch", batch_queries=False))
    embedder = make_embedder(settings)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert not (tmp_path / "models").exists()  # no export for the torch backend
