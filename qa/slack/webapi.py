"""Reading Slack Web API responses and failures safely (they are not always JSON objects)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError

Message = Mapping[str, Any]


def history_messages(response: Any) -> list[Message] | None:
    """The ``messages`` of a history response, or None when it has none in a usable shape."""
    data = getattr(response, "data", response)
    messages = data.get("messages") if isinstance(data, Mapping) else None
    if not isinstance(messages, list):
        return None
    return [m for m in messages if isinstance(m, Mapping)]


def describe(exc: BaseException) -> str:
    """A loggable reason without request details (which would include the token's headers).

    Slack usually answers ``{"ok": false, "error": "..."}``, but a gateway in front of it may
    answer plain text (``503 upstream connect error``): both are reasons worth logging.
    """
    if isinstance(exc, SlackApiError):
        response = exc.response
        data = getattr(response, "data", None)
        if isinstance(data, Mapping) and data.get("error"):
            return str(data["error"])
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        text = data if isinstance(data, str | bytes) and data else str(exc).splitlines()[0]
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return f"HTTP {status}: {' '.join(text.split())[:160]}"
    detail = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
