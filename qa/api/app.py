"""The FastAPI application factory. Heavy state loads in ``lifespan``, never at import."""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import SecretStr

from qa import __version__
from qa.api.errors import install_error_handlers
from qa.api.observability import install_observability
from qa.api.openapi import install_openapi_extras
from qa.api.routes import api_docs, chat, conversations, documents, feedback, health, openai_compat, search
from qa.api.routes import web as web_routes
from qa.api.security import install_security
from qa.config import Settings, get_settings
from qa.errors import ConfigError
from qa.pipeline import QAPipeline
from qa.service.runtime import PipelineLoader, Runtime
from qa.slack import mount_slack

log = logging.getLogger("qa.api")


def settings_or_exit() -> Settings:
    """The environment's settings; a bad value ends the process with one line naming it.

    ``uvicorn qa.api.app:create_app --factory`` would otherwise print a long traceback.
    """
    try:
        return get_settings()
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        raise SystemExit(1) from None


def with_page_key(settings: Settings) -> Settings:
    """The settings with a page key for ``/`` made up when keys are required and none is set.

    Setting ``QA_API_KEYS`` must not break the demo page: its key is valid only from this
    server's own pages (see ``AccessControlMiddleware``), like any widget key it is public.
    """
    web = settings.web
    keys_required = bool(settings.api_keys or settings.security.widget_keys)
    if not keys_required or web.page_key is not None or not web.auto_page_key:
        return settings
    key = SecretStr(f"pk_page_{secrets.token_urlsafe(24)}")
    return settings.model_copy(update={"web": web.model_copy(update={"page_key": key})})


def create_app(settings: Settings | None = None, load_pipeline: PipelineLoader | None = None) -> FastAPI:
    """Build the app. ``load_pipeline`` lets tests inject a pipeline built on fakes."""
    settings = with_page_key(settings or settings_or_exit())
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
        # No trailing-slash 307s: Starlette builds them from the request's Host header, so
        # "/v1/documents/x/" with "Host: evil.example" redirected there. A wrong path is a 404.
        redirect_slashes=False,
        docs_url=None,  # ours, served without a CDN and under our CSP (routes/api_docs.py)
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    for router in (health.router, chat.router, search.router, documents.router, openai_compat.router):
        app.include_router(router)
    mount_slack(app, settings)  # POST /slack/events, only when the Slack bot is configured
    app.include_router(web_routes.router)
    app.include_router(api_docs.router)
    for router in (conversations.router, feedback.router):
        app.include_router(router)
    install_security(app, settings, runtime.redis, runtime.redis_error)
    install_observability(app, settings, runtime.metrics)
    install_openapi_extras(app, settings)
    return app
