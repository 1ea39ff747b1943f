"""Wiring: the Slack Web API client, ``POST /slack/events``, and Socket Mode, on a FastAPI app."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from qa.config import Settings, SlackSettings
from qa.slack.bot import SlackBot
from qa.slack.dedupe import REPLAY_WINDOW_S, Deduper, MemoryDeduper, request_fingerprint
from qa.storage.shared import make_dedupe

log = logging.getLogger("qa.slack")

EVENTS_PATH = "/slack/events"


def web_client(slack: SlackSettings) -> AsyncWebClient:
    """The Web API client: our base URL (a stand-in in tests) and one polite retry on rate limits."""
    assert slack.bot_token is not None
    options: dict[str, Any] = {}
    if slack.api_base_url:
        options["base_url"] = slack.api_base_url.rstrip("/") + "/"
    return AsyncWebClient(
        token=slack.bot_token.get_secret_value(),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=1),  # waits for Retry-After
        ],
        timeout=15,
        **options,
    )


def _error(status: int, code: str, message: str) -> JSONResponse:
    # The API's error shape, written out here: the Slack adapter sits below the HTTP API.
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def well_formed(body: bytes) -> bool:
    """Whether bolt can read this body: a JSON object, or a form whose ``payload`` (if any) is one.

    Decided the way bolt decides (JSON when it starts with ``{`` or says so), so that a signed
    but malformed request is a 400 here rather than an exception inside bolt (a 500).
    """
    try:
        text = body.decode("utf-8")
        if text.lstrip().startswith(("{", "[")):
            return isinstance(json.loads(text), dict)
        form = parse_qs(text)
        return "payload" not in form or isinstance(json.loads(form["payload"][0]), dict)
    except (UnicodeDecodeError, ValueError):
        return False


def events_router(bot: SlackBot, signing_secret: str, deduper: Deduper | None = None) -> APIRouter:
    """``POST /slack/events``: signature checked here (401 in our error format), replays and
    malformed bodies refused, then bolt."""
    verifier = SignatureVerifier(signing_secret)
    handler = AsyncSlackRequestHandler(bot.app)
    router = APIRouter(tags=["slack"])
    seen = deduper or MemoryDeduper(REPLAY_WINDOW_S)

    @router.post(EVENTS_PATH, include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        try:
            valid = verifier.is_valid_request(body, dict(request.headers))
        except (ValueError, UnicodeDecodeError):  # a non-numeric timestamp or a body that is not UTF-8
            valid = False
        if not valid:
            return _error(401, "invalid_signature", "The Slack signature is missing, wrong or stale.")
        if not well_formed(body):
            return _error(400, "invalid_request", "The Slack request body is not a JSON object.")
        fingerprint = request_fingerprint(
            request.headers.get("x-slack-request-timestamp", ""),
            request.headers.get("x-slack-signature", ""),
            body,
        )
        if not await seen.first_time(fingerprint):
            # The very same signed request again (a replay): acknowledged, not answered twice.
            log.warning("ignoring a replayed Slack request")
            return Response(status_code=200)
        retry = request.headers.get("x-slack-retry-num")
        if retry:
            log.info("Slack redelivery #%s (%s)", retry, request.headers.get("x-slack-retry-reason", "?"))
        return await handler.handle(request)

    return router


def install(app: FastAPI, settings: Settings) -> SlackBot:
    """Attach the bot to ``app``: the HTTP route and/or Socket Mode, plus a drain on shutdown."""
    slack = settings.slack
    bot = SlackBot(settings, app.state.runtime, web_client(slack))
    app.state.slack_bot = bot
    if slack.signing_secret is not None:
        runtime = app.state.runtime
        # Replays are refused across replicas too when they share Redis.
        replays = make_dedupe(runtime.redis, settings, REPLAY_WINDOW_S, runtime.redis_error)
        app.include_router(events_router(bot, slack.signing_secret.get_secret_value(), replays))
        log.info("Slack events accepted at POST %s", EVENTS_PATH)
    _wrap_lifespan(app, bot, slack)
    return bot


def _wrap_lifespan(app: FastAPI, bot: SlackBot, slack: SlackSettings) -> None:
    """Run Socket Mode (when configured) inside the app's own lifespan, and drain answers on exit."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        context: AbstractAsyncContextManager[Any] = inner(application)
        async with context as state:
            socket = None
            if slack.app_token is not None:
                from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

                socket = AsyncSocketModeHandler(bot.app, slack.app_token.get_secret_value())
                await socket.connect_async()  # type: ignore[no-untyped-call]
                log.info("Slack Socket Mode connected")
            try:
                yield state
            finally:
                if socket is not None:
                    await socket.close_async()  # type: ignore[no-untyped-call]
                await bot.drain()

    app.router.lifespan_context = lifespan
