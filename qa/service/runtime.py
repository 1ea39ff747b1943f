"""What a running service holds: settings, store, metrics, slots, and the pipeline once loaded.

One ``Runtime`` per app (``app.state.runtime``) or per CLI command; surfaces reach the chat
service and the store through it, typed, instead of through loose ``app.state`` attributes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

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
                yield self
        finally:
            # In-flight answers have finished; queued writes complete before the database closes.
            await opened.close()  # the one we opened, even if a test swapped in another
            if self.redis is not None:
                await self.redis.aclose()
