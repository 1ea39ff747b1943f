"""Shared fixtures: fake components for unit tests, the real model and FAISS loaded once."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.config import Settings
from qa.embedding.base import Embedder
from qa.embedding.factory import make_embedder
from qa.pipeline import QAPipeline
from tests.fakes import FakeEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
ARTICLE = REPO / "corpus" / "kim-russia-visit.txt"
DEV_QUESTIONS = REPO / "eval" / "dev_questions.jsonl"


def make_settings(root: Path, **overrides: object) -> Settings:
    """Settings for a private corpus copy and index under ``root``."""
    corpus = root / "corpus"
    if not corpus.exists():
        corpus.mkdir(parents=True)
        shutil.copy(ARTICLE, corpus / ARTICLE.name)
    overrides.setdefault("database_url", f"sqlite:///{root / 'qa.db'}")  # never the repo's data/
    return Settings(corpus_dir=corpus, index_dir=root / "index", **overrides)  # type: ignore[arg-type]


def pipeline_over(root: Path, files: dict[str, Path], embedder: Embedder) -> QAPipeline:
    """A pipeline over a corpus of ``files`` (name in the corpus: source file), indexed under ``root``."""
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    for name, source in files.items():
        shutil.copyfile(source, corpus / name)
    return QAPipeline.load(make_settings(root), embedder_factory=lambda _: embedder)


def pipeline_over_text(root: Path, name: str, text: str, embedder: Embedder) -> QAPipeline:
    """A pipeline over a one-document corpus: ``text`` saved as ``name``, indexed under ``root``."""
    root.mkdir(parents=True)
    source = root / name
    source.write_text(text, encoding="utf-8")
    return pipeline_over(root / "pipeline", {name: source}, embedder)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fake_pipeline(settings: Settings, fake_embedder: FakeEmbedder) -> QAPipeline:
    return QAPipeline.load(settings, embedder_factory=lambda _: fake_embedder)


@pytest.fixture
def fake_client(settings: Settings, fake_embedder: FakeEmbedder) -> Iterator[TestClient]:
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: fake_embedder))
    # A loopback caller, like a developer's curl (loopback may read /metrics).
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield client


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Milvus Lite server for the whole session (tests use their own collection prefixes)."""
    from tests.milvus_server import milvus_server

    root = tmp_path_factory.mktemp("milvus")
    with milvus_server(root / "data", root / "milvus.log") as uri:
        yield uri


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    # The configured backend (ONNX by default), exported once into the repo's index/models.
    return make_embedder(Settings(index_dir=REPO / "index"))


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("real"))


@pytest.fixture(scope="session")
def real_pipeline(real_settings: Settings, real_embedder: Embedder) -> QAPipeline:
    """The real model, real FAISS and BM25 over the article, built once per test session."""
    return QAPipeline.load(real_settings, embedder_factory=lambda _: real_embedder)


@pytest.fixture(scope="session")
def real_client(real_settings: Settings, real_pipeline: QAPipeline) -> Iterator[TestClient]:
    app = create_app(real_settings, lambda _: real_pipeline)
    with TestClient(app) as client:
        yield client
