"""The FastAPI application factory. Heavy state loads in ``lifespan``, never at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from qa import __version__
from qa.api.errors import install_error_handlers
from qa.api.observability import install_observability
from qa.api.openapi import install_openapi_extras
from qa.api.routes import chat, conversations, documents, feedback, health, openai_compat, search
from qa.api.routes import web as web_routes
from qa.api.security import install_security
from qa.config import Settings, get_settings
from qa.pipeline import QAPipeline
from qa.service.runtime import PipelineLoader, Runtime
from qa.slack import mount_slack

log = logging.getLogger("qa.api")


def create_app(settings: Settings | None = None, load_pipeline: PipelineLoader | None = None) -> FastAPI:
    """Build the app. ``load_pipeline`` lets tests inject a pipeline built on fakes."""
    settings = settings or get_settings()
    loader: PipelineLoader = load_pipeline or QAPipeline.load

    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running(loader):
            yield

    app = FastAPI(
        title="Article Q&A",
        version=__version__,
        summary="Answers questions about a document corpus with character-exact citations.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    for router in (health.router, chat.router, search.router, documents.router, openai_compat.router):
        app.include_router(router)
    mount_slack(app, settings)  # POST /slack/events, only when the Slack bot is configured
    app.include_router(web_routes.router)
    for router in (conversations.router, feedback.router):
        app.include_router(router)
    install_security(app, settings)
    install_observability(app, settings, runtime.metrics)
    install_openapi_extras(app, settings)
    return app
