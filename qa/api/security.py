"""Access control and abuse limits, as pure ASGI middleware (streaming-safe, no BaseHTTPMiddleware).

* Server keys (``QA_API_KEYS``) and widget keys (``QA_SECURITY__WIDGET_KEYS``, each bound to an
  origin allowlist) as ``Authorization: Bearer <key>``; compared in constant time, never logged.
  When no key of either kind is configured the API is open (development).
* Moving-window rate limits (``qa.api.ratelimit``, ``limits`` notation): per server key, per widget
  key and client IP (lower), and per client IP for everything not made with a server key. 429
  carries ``Retry-After``. With ``QA_REDIS_URL`` the counters live in Redis (``limits``' storage),
  shared by every replica; when Redis is unreachable each replica falls back to its own counters
  (fail open to per-replica limits).
* Request bodies are capped (413) before the app reads them; concurrent SSE answers are capped
  per process and per client (429).
* Security headers on every response; CORS (Starlette's middleware) admits exactly the origins of
  the widget keys plus ``QA_SECURITY__CORS_ORIGINS``.

The client IP is the socket peer; behind a reverse proxy list it in
``QA_SECURITY__TRUSTED_PROXIES`` so ``qa serve`` has uvicorn take the real client from
``X-Forwarded-For`` (uvicorn's, not hand-rolled, parsing; nobody is trusted by default). IPv6
clients are limited by their /64.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from fastapi import FastAPI, Request
from limits import parse_many
from redis.asyncio import Redis
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.api.bodylimit import BodyLimitMiddleware
from qa.api.cors import RefusingCORSMiddleware, same_origin
from qa.api.errors import error_response
from qa.api.headers import PROTECTED_PREFIX, SecurityHeadersMiddleware
from qa.api.ratelimit import RateLimiter
from qa.config import SecuritySettings, Settings
from qa.service.chat import ANONYMOUS_OWNER
from qa.storage.shared import ErrorHook

PrincipalKind = Literal["anonymous", "server", "admin", "widget"]
# The widget's browser session: issued by the server, kept by the widget in sessionStorage and
# sent back in this header (see docs/security.md, "Conversation ownership").
SESSION_HEADER = "X-QA-Session"
_SESSION_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{43}$")  # secrets.token_urlsafe(32): 256 bits


def fingerprint(secret: bytes, length: int = 16) -> str:
    """A stable, non-reversible name for a key or token (owners survive reordering keys)."""
    return hashlib.sha256(secret).hexdigest()[:length]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``id`` is safe to log and to key limits by: it never contains a key.

    ``owner`` names the conversations this caller creates and may read (qa.storage.protocols);
    it holds fingerprints, never a key or a session token.
    """

    kind: PrincipalKind
    id: str
    ip: str
    owner: str = ANONYMOUS_OWNER

    @property
    def source(self) -> str:
        """The feedback source this caller's ratings are filed under."""
        return "widget" if self.kind == "widget" else "api"

    @property
    def reads_any_conversation(self) -> bool:
        return self.kind == "admin"


def get_principal(request: Request) -> Principal:
    """The caller as identified by the access-control middleware (anonymous outside ``/v1``)."""
    principal = request.scope.get("state", {}).get("principal")
    if isinstance(principal, Principal):
        return principal
    ip = request.client.host if request.client else "unknown"
    return Principal("anonymous", f"ip:{ip}", ip)


def session_owner(key: bytes, session: str) -> str:
    """The owner of conversations made with a public (widget or page) key in one browser session."""
    return f"widget:{fingerprint(key)}:s:{fingerprint(session.encode(), 32)}"


def widget_session(headers: Headers) -> tuple[str, bool]:
    """The browser session token the widget sent, or a new one; and whether it is new.

    Any well-formed token is accepted: it only names the caller's own conversations, and one the
    server issued is 256 random bits, so nobody can guess another visitor's.
    """
    sent = headers.get(SESSION_HEADER.lower(), "").strip()
    if _SESSION_TOKEN.match(sent):
        return sent, False
    return secrets.token_urlsafe(32), True


def limit_key(ip: str) -> str:
    """The rate-limit identity of a client address: IPv4 as is, IPv6 by its /64.

    One IPv6 subscriber usually holds a whole /64 (often more), so per-address limits would let
    them rotate addresses at will.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def request_origin(scope: Scope, headers: Headers) -> str:
    """The page origin a browser request comes from.

    Browsers omit ``Origin`` on same-origin GETs (the widget fetching a document from our own
    pages), but then mark them ``Sec-Fetch-Site: same-origin``: the origin is our own.
    """
    origin = headers.get("origin")
    if origin:
        return normalise_origin(origin)
    if headers.get("sec-fetch-site") == "same-origin" and headers.get("host"):
        return normalise_origin(f"{scope.get('scheme', 'http')}://{headers['host']}")
    return ""


class AccessControlMiddleware:
    """API keys, widget origins and rate limits for every ``/v1`` request."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        redis: Redis | None = None,
        on_redis_error: ErrorHook | None = None,
    ) -> None:
        self.app = app
        security = settings.security
        self._server_keys = [k.get_secret_value().encode() for k in settings.api_keys]
        self._admin_keys = [k.get_secret_value().encode() for k in settings.admin_keys]
        self._widget_keys = [
            (k.key.get_secret_value().encode(), frozenset(normalise_origin(o) for o in k.origins))
            for k in security.widget_keys
        ]
        self._required = bool(self._server_keys or self._admin_keys or self._widget_keys)
        # A page key no widget key lists is the one made up for ``/`` (qa.api.app.with_page_key):
        # valid only on requests from this server's own pages.
        page_key = settings.web.page_key
        listed = {k.key.get_secret_value() for k in security.widget_keys}
        self._own_page_key = (
            page_key.get_secret_value().encode()
            if page_key is not None and page_key.get_secret_value() not in listed
            else None
        )
        self._per_ip = parse_many(security.rate_limit_per_ip)
        self._per_key = parse_many(security.rate_limit_per_key)
        self._per_widget = parse_many(security.widget_rate_limit)
        self.limiter = RateLimiter(redis, settings.redis_key_prefix, on_redis_error)

    @staticmethod
    def _match(token: bytes, keys: list[bytes]) -> int | None:
        # Compare against every key, without stopping early, so timing says nothing.
        found = None
        for number, key in enumerate(keys, start=1):
            if hmac.compare_digest(token, key) and found is None:
                found = number
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        address = scope["client"][0] if scope.get("client") else "unknown"
        ip = limit_key(address)  # what limits count by: the address, or an IPv6 address's /64
        scheme, _, token = headers.get("authorization", "").partition(" ")
        bearer = token.strip().encode() if scheme.lower() == "bearer" and token.strip() else None

        principal: Principal | None = None
        new_session: str | None = None
        if not self._required:
            # An open service ignores whatever key a client sends (OpenAI SDKs always send one),
            # and has a single principal: every caller may read every (non-Slack) conversation.
            principal = Principal("anonymous", f"ip:{ip}", ip)
        elif bearer is not None:
            if (number := self._match(bearer, self._admin_keys)) is not None:
                principal = Principal("admin", f"admin{number}", ip, f"admin:{fingerprint(bearer)}")
            elif (number := self._match(bearer, self._server_keys)) is not None:
                principal = Principal("server", f"key{number}", ip, f"key:{fingerprint(bearer)}")
            elif self._own_page_key is not None and hmac.compare_digest(bearer, self._own_page_key):
                if not same_origin(scope, headers):
                    await self._deny(
                        scope,
                        receive,
                        send,
                        ip,
                        403,
                        "forbidden",
                        "This key may be used only by this server's own pages.",
                    )
                    return
                # Every visitor of / shares this key: their conversations are told apart by session.
                session, fresh = widget_session(headers)
                new_session = session if fresh else None
                principal = Principal("widget", "page", ip, session_owner(bearer, session))
            elif (number := self._match(bearer, [k for k, _ in self._widget_keys])) is not None:
                origins = self._widget_keys[number - 1][1]
                if request_origin(scope, headers) not in origins:
                    await self._deny(
                        scope,
                        receive,
                        send,
                        ip,
                        403,
                        "forbidden",
                        "This key may not be used from this origin.",
                    )
                    return
                # A widget key is public (it is in the page): its conversations are told apart by
                # the browser session, issued here when the widget has none yet.
                session, fresh = widget_session(headers)
                new_session = session if fresh else None
                principal = Principal("widget", f"widget{number}", ip, session_owner(bearer, session))
            else:
                await self._deny(scope, receive, send, ip, 401, "unauthorized", "The API key is not valid.")
                return
        else:
            await self._deny(
                scope,
                receive,
                send,
                ip,
                401,
                "unauthorized",
                "An API key is required: send `Authorization: Bearer <key>`.",
            )
            return

        if principal.kind in ("server", "admin"):
            retry = await self.limiter.hit(self._per_key, principal.id)
        elif principal.kind == "widget":
            retry = await self.limiter.hit(self._per_widget, principal.id, ip) or await self.limiter.hit(
                self._per_ip, ip
            )
        else:
            retry = await self.limiter.hit(self._per_ip, ip)
        if retry is not None:
            await _limited(scope, receive, send, retry)
            return
        scope.setdefault("state", {})["principal"] = principal
        if new_session is None:
            await self.app(scope, receive, send)
            return
        session_header = new_session

        async def send_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[SESSION_HEADER] = session_header
            await send(message)

        await self.app(scope, receive, send_session)

    async def _deny(
        self, scope: Scope, receive: Receive, send: Send, ip: str, status: int, code: str, message: str
    ) -> None:
        # Failed attempts count against the IP, so guessing keys is rate limited too.
        retry = await self.limiter.hit(self._per_ip, ip)
        if retry is not None:
            await _limited(scope, receive, send, retry)
            return
        response = error_response(status, code, message)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


async def _limited(scope: Scope, receive: Receive, send: Send, retry_after: int) -> None:
    response = error_response(429, "rate_limited", f"Too many requests; retry in {retry_after} s.")
    response.headers["Retry-After"] = str(retry_after)
    await response(scope, receive, send)


def allowed_origins(security: SecuritySettings) -> list[str]:
    origins = {normalise_origin(o) for key in security.widget_keys for o in key.origins}
    origins.update(normalise_origin(o) for o in security.cors_origins)
    return sorted(origins)


def install_security(
    app: FastAPI, settings: Settings, redis: Redis | None = None, on_redis_error: ErrorHook | None = None
) -> None:
    """Register the middleware, innermost first. ``redis``: shared rate limits (``QA_REDIS_URL``)."""
    security = settings.security
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=security.max_body_bytes,
        timeout_s=security.body_timeout_s,
        max_head_bytes=security.max_header_bytes,
        upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(AccessControlMiddleware, settings=settings, redis=redis, on_redis_error=on_redis_error)
    app.add_middleware(SecurityHeadersMiddleware)
    # Outermost of the three, so preflights are answered and errors (401/429) stay readable.
    app.add_middleware(
        RefusingCORSMiddleware,
        allow_origins=allowed_origins(security),
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Last-Event-ID", SESSION_HEADER],
        expose_headers=["X-Request-ID", "Retry-After", SESSION_HEADER],
        max_age=600,
    )
