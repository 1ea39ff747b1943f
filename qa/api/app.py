"""The FastAPI application factory. Heavy state loads in ``lifespan``, never at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from qa import __version__
from qa.api.errors import install_error_handlers
from qa.api.observability import install_observability
from qa.api.openapi import install_openapi_extras
from qa.api.routes import chat, conversations, documents, feedback, health, openai_compat, search
from qa.api.routes import web as web_routes
from qa.api.security import install_security
from qa.config import Settings, get_settings
from qa.errors import QAError
from qa.pipeline import QAPipeline
from qa.slack import mount_slack
from qa.storage.sqlite import open_store

log = logging.getLogger("qa.api")

PipelineLoader = Callable[[Settings], QAPipeline]


def create_app(settings: Settings | None = None, load_pipeline: PipelineLoader | None = None) -> FastAPI:
    """Build the app. ``load_pipeline`` lets tests inject a pipeline built on fakes."""
    settings = settings or get_settings()
    loader: PipelineLoader = load_pipeline or QAPipeline.load

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pipeline = None
        app.state.startup_error = None
        app.state.store = await open_store(
            settings.database_url, settings.max_history_messages, settings.database_busy_timeout_s
        )
        try:
            app.state.pipeline = await run_in_threadpool(loader, settings)
            log.info("ready: %s documents", len(app.state.pipeline.index.documents))
        except QAError as exc:
            # Stay up so /healthz answers and /readyz explains; questions get a 503.
            app.state.startup_error = exc
            log.error("not ready: %s", exc.message)
        async with AsyncExitStack() as stack:
            if app.state.pipeline is not None:
                # LLM mode: one outbound httpx client for the app's lifetime (no-op when unset).
                try:
                    await stack.enter_async_context(app.state.pipeline.llm_session())
                except QAError as exc:  # e.g. broken prompt templates: refuse, but explain
                    app.state.pipeline, app.state.startup_error = None, exc
                    log.error("not ready: %s", exc.message)
            yield
        # uvicorn has let in-flight requests finish; queued writes complete before the file closes.
        await app.state.store.close()

    app = FastAPI(
        title="Article Q&A",
        version=__version__,
        summary="Answers questions about a document corpus with character-exact citations.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for router in (health.router, chat.router, search.router, documents.router, openai_compat.router):
        app.include_router(router)
    mount_slack(app, settings)  # POST /slack/events, only when the Slack bot is configured
    app.include_router(web_routes.router)
    for router in (conversations.router, feedback.router):
        app.include_router(router)
    install_security(app, settings)
    install_observability(app, settings)
    install_openapi_extras(app, settings)
    return app
