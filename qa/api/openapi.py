"""OpenAPI additions: the bearer scheme and the error answers every ``/v1`` operation can give.

The middleware (keys, limits, body size) answers 401/403/413/429 for any ``/v1`` route; the spec
says so, so generated clients and ``schemathesis`` see the API as it really behaves.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from qa.config import Settings

_ERRORS = {
    "400": "The body is not valid JSON.",
    "401": "A valid API key is required.",
    "403": "The key may not be used from this origin.",
    "413": "The body is too large.",
    "415": "The body is not declared as JSON (Content-Type must be application/json).",
    "422": "The request is invalid.",
    "429": "Too many requests; see Retry-After.",
    "503": "The service cannot answer right now.",
}
_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}


def install_openapi_extras(app: FastAPI, settings: Settings) -> None:
    keys_required = bool(settings.api_keys or settings.security.widget_keys)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
        schemas = components.setdefault("schemas", {})
        schemas.setdefault(
            "ErrorResponse",
            {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
        )
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/v1"):
                continue
            for operation in operations.values():
                if keys_required:
                    operation["security"] = [{"bearer": []}]
                responses = operation.setdefault("responses", {})
                for status, description in _ERRORS.items():
                    if status in ("400", "415") and "requestBody" not in operation:
                        continue
                    entry = responses.setdefault(status, {"description": description})
                    entry["content"] = {"application/json": {"schema": _ERROR_SCHEMA}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
