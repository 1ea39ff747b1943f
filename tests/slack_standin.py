"""A stand-in for Slack, on 127.0.0.1: the Web API methods the bot uses, and ``response_url``s.

Slack itself is unreachable from tests, so the real ``slack_sdk``/``slack_bolt`` clients talk to
this aiohttp server instead (``QA_SLACK__API_BASE_URL``). It answers like Slack (``ok``, ``ts``,
``messages``; HTTP 429 + ``Retry-After`` for ``ratelimited``), keeps the messages it is sent so
``conversations.replies`` returns real threads, and records every call for assertions.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0TEAM"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None = None


@dataclass
class SlackStandIn:
    token: str
    app_token: str = "xapp-1-test-app-token"
    calls: list[Call] = field(default_factory=list)
    responses: list[Call] = field(default_factory=list)  # posts to response_url, by name
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)
    base: str = ""
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    _socket: web.WebSocketResponse | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _clock: int = 0

    # -- control from tests ------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.base}/respond/{name}"

    def next_ts(self) -> str:
        with self._lock:
            self._clock += 1
            return f"{1_700_000_000 + self._clock}.{self._clock:06d}"

    def add_message(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        """A message someone wrote (as Slack would store it); returns it with its ``ts``."""
        message: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": self.next_ts()}
        if thread_ts:
            message["thread_ts"] = thread_ts
        with self._lock:
            self.messages.setdefault(channel, []).append(message)
        return message

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail with Slack error ``error``
        (``"plain:<text>"``: a plain-text HTTP 503, as a gateway in front of Slack answers)."""
        with self._lock:
            self.failures.setdefault(method, []).extend([error] * times)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, condition: Callable[[], object], timeout: float = 30.0) -> None:
        """Poll until ``condition()`` is truthy (the bot answers in the background)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; calls so far: {[c.method for c in self.calls]}")
            time.sleep(0.02)

    # -- the server --------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        if isinstance(args.get("blocks"), str):
            args["blocks"] = json.loads(args["blocks"])
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        with self._lock:
            self.calls.append(Call(method, args, token))
            queued = self.failures.get(method)
            failure = queued.pop(0) if queued else None
        expected = self.app_token if method == "apps.connections.open" else self.token
        if token != expected and args.get("token") != expected:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if failure == "ratelimited":
            return web.json_response(
                {"ok": False, "error": failure}, status=429, headers={"Retry-After": "0"}
            )
        if failure and failure.startswith("plain:"):  # a gateway in front of Slack, not Slack
            return web.Response(status=503, text=failure.removeprefix("plain:"), content_type="text/plain")
        if failure:
            return web.json_response({"ok": False, "error": failure})
        return web.json_response(self._answer(method, args))

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "apps.connections.open":
            return {"ok": True, "url": self.base.replace("http://", "ws://") + "/socket"}
        if method == "auth.test":
            return {"ok": True, "team_id": TEAM, "team": "Test", "user_id": BOT_USER, "bot_id": BOT_ID}
        if method == "chat.postMessage":
            message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": self.next_ts()}
            message.update({k: args[k] for k in ("text", "blocks", "thread_ts") if args.get(k)})
            with self._lock:
                self.messages.setdefault(str(args["channel"]), []).append(message)
            return {"ok": True, "channel": args["channel"], "ts": message["ts"], "message": message}
        if method in ("reactions.add", "reactions.remove"):
            return {"ok": True}
        if method == "conversations.replies":
            root = str(args["ts"])
            with self._lock:
                thread = [
                    m
                    for m in self.messages.get(str(args["channel"]), [])
                    if root in (m["ts"], m.get("thread_ts"))
                ]
            return {"ok": True, "messages": sorted(thread, key=lambda m: float(m["ts"])), "has_more": False}
        if method == "conversations.history":
            latest, oldest = float(args.get("latest", "inf")), float(args.get("oldest", "0"))
            with self._lock:
                found = [
                    m
                    for m in self.messages.get(str(args["channel"]), [])
                    if oldest < float(m["ts"]) < latest and m.get("thread_ts") in (None, m["ts"])
                ]
            return {"ok": True, "messages": sorted(found, key=lambda m: -float(m["ts"])), "has_more": False}
        return {"ok": False, "error": "unknown_method"}

    async def _respond(self, request: web.Request) -> web.Response:
        with self._lock:
            self.responses.append(Call(request.match_info["name"], await request.json()))
        return web.Response(text="ok")

    async def _socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, push envelopes the test sends, record the app's acks."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0APP"}})
        self._socket = ws
        async for frame in ws:
            if frame.type.name == "TEXT":
                with self._lock:
                    self.socket_acks.append(json.loads(frame.data))
        return ws

    def push_envelope(self, envelope: dict[str, Any]) -> None:
        """Send one Socket Mode envelope to the connected app (wait for the connection first)."""
        self.wait_for(lambda: self._socket is not None)
        assert self._socket is not None
        asyncio.run_coroutine_threadsafe(self._socket.send_json(envelope), self._loop).result(10)

    # -- lifecycle: its own event loop in a thread --------------------------------------------

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_get("/socket", self._socket_mode)
        self._runner = web.AppRunner(app, access_log=None)

        async def begin() -> None:
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = self._runner.addresses[0][1]
            self.base = f"http://127.0.0.1:{port}"

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(begin())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="slack-standin", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Slack stand-in did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


# -- requests as Slack sends them, signed with the signing secret ------------------------------


def sign(secret: str, body: str, timestamp: str) -> str:
    """Slack's v0 signature: HMAC-SHA256 of ``v0:{timestamp}:{body}`` (as SignatureVerifier checks)."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def post_to_app(
    url: str,
    secret: str | None,
    body: str,
    content_type: str = "application/json",
    *,
    timestamp: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST ``body`` to our ``/slack/events`` the way Slack does (unsigned when ``secret`` is None)."""
    stamp = timestamp or str(int(time.time()))
    sent = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, **(headers or {})}
    if secret is not None:
        sent["X-Slack-Signature"] = sign(secret, body, stamp)
    return httpx.post(f"{url}/slack/events", content=body.encode(), headers=sent, timeout=10)


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
    )


def mention(channel: str, message: dict[str, Any]) -> dict[str, Any]:
    """The ``app_mention`` event Slack sends for a stored message that mentions the bot."""
    event = {"type": "app_mention", "channel": channel, "event_ts": message["ts"]}
    event.update({k: message[k] for k in ("user", "text", "ts", "thread_ts") if k in message})
    return event


def message_event(channel: str, message: dict[str, Any], channel_type: str) -> dict[str, Any]:
    event = {"type": "message", "channel": channel, "channel_type": channel_type, "event_ts": message["ts"]}
    event.update({k: message[k] for k in ("user", "text", "ts", "thread_ts") if k in message})
    return event
