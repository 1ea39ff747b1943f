"""Issue 12, findings 4-9, each attack reproduced against a real uvicorn on 127.0.0.1.

Proxy trust and IPv6 limits, one model budget, slow and oversized clients, Host reflection,
strict ``stream``, and who may read ``/metrics``.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.api.deps import runtime_of
from qa.api.security import limit_key
from qa.api.server import server_options
from qa.config import ObservabilitySettings, SecuritySettings, Settings
from qa.pipeline import QAPipeline
from qa.service.slots import MemorySlots
from tests.conftest import make_settings
from tests.fake_llm import ScriptedLLM, completion, number_of, pipeline_with_llm
from tests.fakes import FakeEmbedder
from tests.live import serve

QUESTION = {"message": "How can technical blueprints be sent?"}


def built(root: Path, **overrides: Any) -> tuple[Settings, FastAPI]:
    settings = make_settings(root, **overrides)
    embedder = FakeEmbedder()
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: embedder))
    return settings, app


@contextlib.contextmanager
def served(root: Path, **overrides: Any) -> Iterator[str]:
    """The app under uvicorn with exactly the options ``qa serve`` uses."""
    settings, app = built(root, **overrides)
    with serve(app, **server_options(settings)) as base:
        yield base


# -- 4. client addresses: X-Forwarded-For only from trusted proxies; IPv6 by /64 -----------------


def test_forwarded_for_from_an_untrusted_peer_does_not_rotate_the_limit(tmp_path: Path) -> None:
    security = SecuritySettings(rate_limit_per_ip="3/minute")
    with served(tmp_path, security=security) as base, httpx.Client(base_url=base) as client:
        statuses = [
            client.get("/v1/documents", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(6)
        ]
    assert statuses == [200, 200, 200, 429, 429, 429]  # one client, whatever it claims


def test_a_trusted_proxy_names_the_client_and_ipv6_counts_by_64(tmp_path: Path) -> None:
    security = SecuritySettings(rate_limit_per_ip="2/minute", trusted_proxies=["127.0.0.1"])
    with served(tmp_path, security=security) as base, httpx.Client(base_url=base) as client:

        def get(forwarded: str) -> int:
            return client.get("/v1/documents", headers={"X-Forwarded-For": forwarded}).status_code

        # Real clients behind the proxy each have their own limit.
        assert [get(f"203.0.113.{n}") for n in range(4)] == [200] * 4
        # One IPv6 subscriber rotating addresses inside its /64 is one client.
        rotated = [get(f"2001:db8:1:2::{n:x}") for n in range(1, 5)]
        assert rotated == [200, 200, 429, 429]
        assert get("2001:db8:1:3::1") == 200  # the next /64 is someone else


def test_limit_keys() -> None:
    assert limit_key("2001:db8::1") == limit_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert limit_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert limit_key("203.0.113.9") == "203.0.113.9" and limit_key("testclient") == "testclient"


# -- 5. one budget for every call that holds a model ------------------------------------------


def test_every_llm_call_takes_a_slot_streamed_or_not(settings: Settings) -> None:
    def reply(payload: dict[str, Any]) -> Any:
        return completion(
            f"Technical blueprints can be dispatched online [{number_of(payload, 'blueprints')}]."
        )

    llm = ScriptedLLM([reply])
    configured = settings.model_copy(
        update={"security": SecuritySettings(max_streams=1, max_streams_per_client=1)}
    )
    embedder = FakeEmbedder()
    app = create_app(configured, lambda s: pipeline_with_llm(s, embedder, llm))
    completions = {"messages": [{"role": "user", "content": QUESTION["message"]}]}
    with TestClient(app) as client:
        slots = runtime_of(app).slots
        assert isinstance(slots, MemorySlots)
        release = slots.take("someone else")  # every model slot is taken
        assert release is not None
        calls = [
            client.post("/v1/chat", json=QUESTION),
            client.post("/v1/chat", json={**QUESTION, "stream": True}),
            client.post("/v1/chat/completions", json=completions),
            client.post("/v1/chat/completions", json={**completions, "stream": True}),
        ]
        assert [c.status_code for c in calls] == [429] * 4
        assert all(c.headers["Retry-After"] == "1" for c in calls)
        assert llm.requests == []  # no model call was started
        release()
        assert client.post("/v1/chat", json=QUESTION).json()["mode"] == "llm"
        assert runtime_of(app).slots.active == 0  # given back


def test_extractive_answers_without_a_stream_need_no_slot(tmp_path: Path) -> None:
    _, app = built(tmp_path, security=SecuritySettings(max_streams=1))
    with TestClient(app) as client:
        slots = runtime_of(app).slots
        assert isinstance(slots, MemorySlots)
        release = slots.take("someone else")
        assert client.post("/v1/chat", json=QUESTION).status_code == 200
        assert client.post("/v1/chat", json={**QUESTION, "stream": True}).status_code == 429
        assert release is not None
        release()


# -- 6. slow and oversized clients ------------------------------------------------------------


def address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def trickle(sock: socket.socket, data: bytes, every_s: float) -> bool:
    """Send ``data`` a byte at a time; False once the server has closed the connection."""
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return False
        sock.settimeout(every_s)  # waiting for a byte that never comes is the pause between sends
        try:
            if sock.recv(1, socket.MSG_PEEK) == b"":
                return False
        except TimeoutError:
            pass
        except OSError:
            return False
    return True


def test_headers_sent_a_byte_at_a_time_are_cut_off(tmp_path: Path) -> None:
    security = SecuritySettings(header_timeout_s=1.0)
    with served(tmp_path, security=security) as base, socket.create_connection(address(base)) as sock:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60 + b"\r\n\r\n"
        assert trickle(sock, head, every_s=0.1) is False  # closed before the head was complete


def test_a_body_sent_a_byte_at_a_time_gets_408(tmp_path: Path) -> None:
    security = SecuritySettings(body_timeout_s=1.0)
    with served(tmp_path, security=security) as base, socket.create_connection(address(base)) as sock:
        body = b'{"message": "How can technical blueprints be sent?"}'
        head = (
            "POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode())
        trickle(sock, body, every_s=0.1)
        sock.settimeout(10)
        response = sock.recv(65536).decode("latin-1")
    assert response.startswith("HTTP/1.1 408") and "connection: close" in response.lower()
    assert '"code":"request_timeout"' in response.replace(" ", "")


def test_an_oversized_header_is_refused(tmp_path: Path) -> None:
    with served(tmp_path) as base, httpx.Client(base_url=base) as client:
        response = client.get("/healthz", headers={"X-Big": "a" * (64 * 1024)})
        assert response.status_code in (400, 431)
        assert client.get("/healthz").status_code == 200  # a normal request after it is fine


def test_idle_keep_alive_connections_are_closed(tmp_path: Path) -> None:
    security = SecuritySettings(keep_alive_timeout_s=0.5)
    with served(tmp_path, security=security) as base, socket.create_connection(address(base)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        assert sock.recv(1) == b""  # the server hung up on the idle connection


# -- 7. the Host header is never reflected -----------------------------------------------------


def test_no_redirect_built_from_the_host_header(tmp_path: Path) -> None:
    with served(tmp_path) as base, httpx.Client(base_url=base, follow_redirects=False) as client:
        for path in ("/v1/documents/kim-russia-visit/", "/v1/documents/"):
            response = client.get(path, headers={"Host": "evil.example"})
            assert response.status_code == 404 and "location" not in response.headers, path


# -- 8. "stream": "true" is not a boolean ------------------------------------------------------


def test_stream_must_be_a_boolean_on_both_chat_endpoints(fake_client: TestClient) -> None:
    completions = {"messages": [{"role": "user", "content": QUESTION["message"]}], "stream": "true"}
    assert fake_client.post("/v1/chat/completions", json=completions).status_code == 422
    assert fake_client.post("/v1/chat", json={**QUESTION, "stream": "true"}).status_code == 422


# -- 9. /metrics: loopback by default, or with its key -----------------------------------------


def test_metrics_are_for_loopback_by_default(tmp_path: Path) -> None:
    security = SecuritySettings(trusted_proxies=["127.0.0.1"])
    with served(tmp_path, api_keys=["sk_metrics_test_1"], security=security) as base:
        assert httpx.get(f"{base}/metrics").status_code == 200  # Prometheus on the same host
        # The same proxy on loopback forwarding an outside client: not loopback any more.
        outside = httpx.get(f"{base}/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
        assert outside.status_code == 403 and outside.json()["error"]["code"] == "forbidden"


def test_metrics_key_admits_its_holders_only(tmp_path: Path) -> None:
    observability = ObservabilitySettings(metrics_key="mk_scrape_123")  # type: ignore[arg-type]
    with served(tmp_path, observability=observability) as base:
        assert httpx.get(f"{base}/metrics").status_code == 403  # even from loopback
        wrong = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        right = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer mk_scrape_123"})
        assert right.status_code == 200 and "qa_http_requests_total" in right.text
