"""Every error leaves as ``{"error": {"code", "message"}}``: no tracebacks, no internal paths."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from qa.errors import BusyError, QAError

log = logging.getLogger("qa.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _describe(exc: RequestValidationError, content_type: str | None) -> tuple[int, str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "invalid_json", "The request body is not valid JSON."
    if any(e.get("type") == "model_attributes_type" and tuple(e.get("loc", ())) == ("body",) for e in errors):
        # FastAPI reads a body as JSON only when it is declared so; ``curl -d`` alone declares
        # a form, which is the usual way to end up here.
        if not _is_json(content_type or ""):
            return 415, "unsupported_media_type", "The Content-Type must be application/json."
        return 422, "invalid_request", "The request body must be a JSON object."
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(message if error.get("type") == "value_error" else f"{where}: {message}")
    return 422, "invalid_request", "; ".join(parts)


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and isinstance(route, BaseRoute) and getattr(route, "methods", None):
            methods |= set(route.methods)  # type: ignore[attr-defined]
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QAError)
    async def qa_error(request: Request, exc: QAError) -> JSONResponse:
        if exc.status_code >= 500:
            log.warning("request failed: %s: %s", exc.code, exc.message)
        response = error_response(exc.status_code, exc.code, exc.client_message)
        if isinstance(exc, BusyError):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message = _describe(exc, request.headers.get("content-type"))
        return error_response(status, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        response = error_response(exc.status_code, code, message)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; a path served by several
            # routes (GET and POST /v1/documents) must list them all.
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        response = error_response(500, "internal_error", "Something went wrong on our side.")
        # Starlette re-raises after this response and uvicorn then drops the connection: say so,
        # so a keep-alive client opens a new one instead of finding this one silently closed.
        response.headers["Connection"] = "close"
        return response
