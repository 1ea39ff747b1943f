"""How ``qa serve`` runs uvicorn: proxy trust, header limits and timeouts for slow clients.

uvicorn alone keeps a connection that sends its headers a byte at a time open forever (its
keep-alive timer is cancelled by every byte and never armed for a new connection), and its default
parser (httptools) accepts a 50 MB header. So the server uses h11, whose incomplete-event limit
caps the request head, with a deadline for the head; bodies have theirs in ``BodyLimitMiddleware``
(408). A reverse proxy in front (nginx: ``client_header_timeout``, ``client_body_timeout``) is
still the first line; these limits hold when it is missing or misconfigured.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from qa.config import Settings


def guarded_h11(header_timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request head takes too long.

    The deadline runs from the connection opening and from each completed response (the next
    request on a keep-alive connection) until the head is complete.
    """

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()  # what nginx does on client_header_timeout, minus the 408

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()  # the head is in; the body has its own deadline

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` from the settings."""
    security = settings.security
    return {
        "http": guarded_h11(security.header_timeout_s),
        "h11_max_incomplete_event_size": security.max_header_bytes,
        "timeout_keep_alive": security.keep_alive_timeout_s,
        # Only listed proxies may set the client address and scheme; none by default (uvicorn's
        # own default trusts 127.0.0.1, which let any local client rotate its rate-limit key).
        "proxy_headers": bool(security.trusted_proxies),
        "forwarded_allow_ips": list(security.trusted_proxies),
    }
