"""Request ids, structured JSON logs and Prometheus metrics.

* Every response carries ``X-Request-ID`` (the client's, when it is a sane token, else a new one);
  every log line written while handling the request carries it as ``request_id``.
* One access-log line per request: method, route template (never the raw path: ids stay out),
  status, duration. No headers, so no keys; questions only when ``log_questions`` is on.
* ``/metrics`` (``prometheus-client``, one registry per app): request counts and latency per
  route, answer stage timings, refusals, LLM fallbacks, storage errors, open SSE streams.
  Served to loopback clients only, unless ``QA_OBSERVABILITY__METRICS_KEY`` is set: then to
  requests bearing that key, from anywhere.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    generate_latest,
)
from pydantic import SecretStr
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.api.deps import runtime_of
from qa.config import ObservabilitySettings, Settings
from qa.service.metrics import Metrics

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
access_log = logging.getLogger("qa.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled ("-" outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def logging_config(settings: ObservabilitySettings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and our loggers: JSON lines on stderr."""
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if settings.log_json
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "level": settings.log_level.upper(),  # also for libraries that set DEBUG themselves
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": settings.log_level.upper()},
        "loggers": {
            "uvicorn": {"level": settings.log_level.upper()},
            # Our access log replaces uvicorn's (which has no request id).
            "uvicorn.access": {"level": "WARNING"},
        },
    }


class RequestContextMiddleware:
    """Request id, access log and HTTP metrics for every request (the outermost middleware)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # The template, never the raw path: bounded label values, no ids in logs.
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(elapsed)
            principal = scope.get("state", {}).get("principal")
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": getattr(principal, "id", None) or "-",
                },
            )
            request_id_var.reset(token)


router = APIRouter(tags=["operations"])


def metrics_allowed(request: Request, key: SecretStr | None) -> bool:
    """With ``metrics_key`` set, callers bearing it; without, loopback clients only.

    The client address is uvicorn's: the socket peer, or the forwarded client when the peer is a
    trusted proxy (``QA_SECURITY__TRUSTED_PROXIES``), so a proxy on loopback does not open it.
    """
    if key is not None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        sent = token.strip().encode() if scheme.lower() == "bearer" else b""
        return hmac.compare_digest(sent, key.get_secret_value().encode())
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus exposition format (to loopback clients, or to holders of the metrics key)."""
    runtime = runtime_of(request.app)
    if not metrics_allowed(request, runtime.settings.observability.metrics_key):
        message = "Metrics are served to loopback clients, or with QA_OBSERVABILITY__METRICS_KEY."
        return JSONResponse(status_code=403, content={"error": {"code": "forbidden", "message": message}})
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def install_observability(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """``/metrics`` and the request-context middleware (outermost)."""
    if settings.observability.metrics_enabled:
        app.include_router(router)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
