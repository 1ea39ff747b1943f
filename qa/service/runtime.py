"""What a running service holds: settings, store, metrics, slots, and the pipeline once loaded.

One ``Runtime`` per app (``app.state.runtime``) or per CLI command; surfaces reach the chat
service and the store through it, typed, instead of through loose ``app.state`` attributes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
from anyio import to_thread
from redis.asyncio import Redis

from qa.config import Settings
from qa.errors import NotReadyError, QAError
from qa.pipeline import QAPipeline
from qa.service.chat import ChatService
from qa.service.metrics import Metrics
from qa.service.slots import StreamSlots, make_slots
from qa.storage.factory import Store, UnavailableStore, open_store
from qa.storage.shared import connect_redis

log = logging.getLogger("qa.service")

PipelineLoader = Callable[[Settings], QAPipeline]
T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    store: Store = field(default_factory=lambda: UnavailableStore("the service is starting"))
    pipeline: QAPipeline | None = None
    startup_error: QAError | None = None
    slots: StreamSlots = field(init=False)
    redis: Redis | None = field(init=False)  # shared state for replicas (QA_REDIS_URL), else None
    _chat: ChatService | None = field(default=None, init=False)
    # One index change (upload, removal, reload) at a time in this process.
    _index_lock: anyio.Lock = field(default_factory=anyio.Lock, init=False)
    reloads: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        security = self.settings.security
        self.redis = connect_redis(self.settings)
        self.slots = make_slots(
            self.redis,
            self.settings.redis_key_prefix,
            security.max_streams,
            security.max_streams_per_client,
            self.redis_error,
        )
        self.metrics.streams.set_function(lambda: float(self.slots.active))

    def redis_error(self, concern: str) -> None:
        """Count one failed Redis call (the caller has fallen back to this process's state)."""
        self.metrics.redis_errors.labels(concern).inc()

    @property
    def ready(self) -> bool:
        return self.pipeline is not None

    def require_pipeline(self) -> QAPipeline:
        """The loaded pipeline, or the reason there is none (a 503 on HTTP)."""
        if self.pipeline is None:
            raise self.startup_error or NotReadyError("The service is still starting; try again shortly.")
        return self.pipeline

    @property
    def chat(self) -> ChatService:
        pipeline = self.require_pipeline()
        if self._chat is None or self._chat.pipeline is not pipeline or self._chat.store is not self.store:
            self._chat = ChatService(pipeline, self.store, self.settings, self.metrics, self.slots)
        return self._chat

    async def reload_index(self) -> bool:
        """Serve the current index if another build or replica has published a newer one.

        The new pipeline is built beside the old one and swapped in with one assignment:
        requests already answering keep the pipeline they started with, new ones get the new
        index; nothing is dropped. Returns whether it swapped.
        """
        from qa.index.build import current_generation, load_current

        async with self._index_lock:
            pipeline = self.pipeline
            if pipeline is None:
                return False
            generation = await to_thread.run_sync(current_generation, self.settings)
            if generation is None or generation == pipeline.index.generation:
                return False
            dimension = pipeline.retriever.embedder.dimension
            index = await to_thread.run_sync(load_current, self.settings, dimension)
            self.pipeline = pipeline.with_index(index)
            self.reloads += 1
            log.info("index reloaded: %s documents (%s)", len(index.documents), index.generation)
            return True

    async def change_documents(self, change: Callable[[QAPipeline], T]) -> T:
        """Run ``change`` (an upload or removal, in a worker thread), then serve its result here."""
        pipeline = self.require_pipeline()
        async with self._index_lock:
            result = await to_thread.run_sync(change, pipeline)
        await self.reload_index()
        return result

    async def _watch_index(self) -> None:
        interval = self.settings.index.reload_interval_s
        while True:
            await anyio.sleep(interval)
            try:
                await self.reload_index()
            except QAError as exc:  # keep serving what is loaded; say why once per attempt
                log.warning("index reload failed: %s", exc.message)
            except Exception as exc:  # e.g. Milvus briefly unreachable
                log.warning("index reload failed: %s", type(exc).__name__)

    @asynccontextmanager
    async def running(self, loader: PipelineLoader) -> AsyncIterator[Runtime]:
        """Open the store, load the pipeline (and its LLM session); close them on the way out.

        A pipeline that cannot load leaves the runtime up but not ready, with the reason kept:
        probes and surfaces explain it instead of the process dying.
        """
        s = self.settings
        # An outdated PostgreSQL schema raises SchemaOutdatedError here: the service must not start.
        opened = self.store = await open_store(
            s.database_url, s.max_history_messages, s.database_busy_timeout_s, s.database_pool_size
        )
        try:
            try:
                self.pipeline = await to_thread.run_sync(loader, s)
                log.info("ready: %s documents", len(self.pipeline.index.documents))
            except QAError as exc:
                self.startup_error = exc
                log.error("not ready: %s", exc.message)
            async with AsyncExitStack() as stack:
                if self.pipeline is not None:
                    # LLM mode: one outbound httpx client for the runtime's lifetime (no-op when unset).
                    try:
                        await stack.enter_async_context(self.pipeline.llm_session())
                    except QAError as exc:  # e.g. broken prompt templates: refuse, but explain
                        self.pipeline, self.startup_error = None, exc
                        log.error("not ready: %s", exc.message)
                # A plain task, not a task group: errors raised by the caller's block must reach
                # it as themselves, not wrapped in an ExceptionGroup.
                watcher = None
                if self.pipeline is not None and self.settings.index.reload_interval_s > 0:
                    watcher = asyncio.get_running_loop().create_task(self._watch_index())
                try:
                    yield self
                finally:
                    if watcher is not None:
                        watcher.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await watcher
        finally:
            # In-flight answers have finished; queued writes complete before the database closes.
            await opened.close()  # the one we opened, even if a test swapped in another
            if self.redis is not None:
                await self.redis.aclose()
