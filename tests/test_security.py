"""Keys, origins, rate limits, body and stream limits, headers, and no secrets in logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from limits import parse_many

from qa.api.app import create_app
from qa.api.observability import logging_config
from qa.api.ratelimit import LocalMovingWindow
from qa.config import SecuritySettings, Settings, WidgetKey
from qa.contract import MAX_MESSAGE_CHARS
from qa.pipeline import QAPipeline
from qa.service.slots import MemorySlots
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder

SERVER_KEY = "sk_test_5f0c1d2e3a4b"
WIDGET_KEY = "pk_test_9a8b7c6d5e4f"
SITE = "https://news.example.org"
QUESTION = {"message": "How can technical blueprints be sent?"}


def keyed_client(tmp_path_factory: pytest.TempPathFactory, **security: object) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path_factory.mktemp("secure"),
        api_keys=[SERVER_KEY],
        security=SecuritySettings(
            widget_keys=[WidgetKey(key=WIDGET_KEY, origins=[SITE])],  # type: ignore[arg-type]
            **security,  # type: ignore[arg-type]
        ),
    )
    embedder = FakeEmbedder()
    app = create_app(settings, lambda s: QAPipeline.load(s, embedder_factory=lambda _: embedder))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from keyed_client(tmp_path_factory)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("sk_wrong"), {"Authorization": SERVER_KEY}, {"Authorization": "Basic abc"}, bearer("")],
)
def test_missing_or_wrong_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/chat", json=QUESTION, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/v1/documents", headers=headers).status_code == 401


def test_server_key_is_accepted_and_probes_stay_open(client: TestClient) -> None:
    assert client.post("/v1/chat", json=QUESTION, headers=bearer(SERVER_KEY)).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_widget_key_only_from_its_origins(client: TestClient) -> None:
    ok = client.post("/v1/chat", json=QUESTION, headers={**bearer(WIDGET_KEY), "Origin": SITE})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == SITE
    for origin in ("https://evil.example", None, SITE + ".evil.example"):
        headers = bearer(WIDGET_KEY) | ({"Origin": origin} if origin else {})
        denied = client.post("/v1/chat", json=QUESTION, headers=headers)
        assert denied.status_code == 403, origin
        assert denied.json()["error"]["code"] == "forbidden"


def test_widget_feedback_is_filed_under_widget(client: TestClient) -> None:
    headers = {**bearer(WIDGET_KEY), "Origin": SITE}
    asked = client.post("/v1/chat", json=QUESTION, headers=headers)
    answer = asked.json()
    headers["X-QA-Session"] = asked.headers["X-QA-Session"]  # the browser session it was issued
    receipt = client.post(
        "/v1/feedback", json={"message_id": answer["message_id"], "rating": "up"}, headers=headers
    )
    assert receipt.json()["source"] == "widget"


def test_cors_preflight_matches_the_allowlist(client: TestClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = client.options("/v1/chat", headers={"Origin": SITE, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SITE
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = client.options("/v1/chat", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


def test_over_the_limit_is_429_with_retry_after(tmp_path_factory: pytest.TempPathFactory) -> None:
    for client in keyed_client(tmp_path_factory, widget_rate_limit="3/minute", rate_limit_per_key="5/minute"):
        widget = {**bearer(WIDGET_KEY), "Origin": SITE}
        statuses = [client.get("/v1/documents", headers=widget).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/v1/documents", headers=widget)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        # The widget's budget is its own: the server key still has its (higher) one.
        server = [client.get("/v1/documents", headers=bearer(SERVER_KEY)).status_code for _ in range(6)]
        assert server == [200] * 5 + [429]


def test_local_limits_count_the_last_window_exactly() -> None:
    """This process's counters (no Redis) keep the moving-window rule of ``limits``."""
    now = [1000.0]
    window = LocalMovingWindow(clock=lambda: now[0])
    [limit] = parse_many("3/minute")
    assert [window.hit(limit, "a") for _ in range(3)] == [None, None, None]
    assert window.hit(limit, "a") == 60  # the first hit leaves the window in 60 s
    assert window.hit(limit, "b") is None  # each caller has a budget of its own
    now[0] += 30
    assert window.hit(limit, "a") == 30  # refused hits do not count
    now[0] += 30
    assert [window.hit(limit, "a") for _ in range(4)] == [None, None, None, 60]
    now[0] += 3600  # long forgotten: a fresh budget
    assert [window.hit(limit, "a") for _ in range(4)] == [None, None, None, 60]


def test_guessing_keys_is_rate_limited_by_ip(tmp_path_factory: pytest.TempPathFactory) -> None:
    for client in keyed_client(tmp_path_factory, rate_limit_per_ip="3/minute"):
        statuses = [client.get("/v1/documents", headers=bearer(f"sk_guess{n}")).status_code for n in range(5)]
        assert statuses == [401, 401, 401, 429, 429]


def test_oversized_body_is_413(client: TestClient) -> None:
    big = {"message": "x" * (70 * 1024)}
    response = client.post("/v1/chat", json=big, headers=bearer(SERVER_KEY))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds for streamed bodies too
        yield b'{"message": "'
        for _ in range(80):
            yield b"y" * 1024
        yield b'"}'

    streamed = client.post(
        "/v1/chat", content=chunks(), headers={**bearer(SERVER_KEY), "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_overlong_message_is_422(client: TestClient) -> None:
    response = client.post("/v1/chat", json={"message": "why " * 1000}, headers=bearer(SERVER_KEY))
    assert response.status_code == 422 and "longer than" in response.json()["error"]["message"]
    # The schema's maxLength counts what is sent: padding that trimming would remove counts too
    # (schemathesis found a padded query accepted by /v1/search).
    padded = "\u0085" + "y" * MAX_MESSAGE_CHARS
    for path, field in (("/v1/chat", "message"), ("/v1/search", "query")):
        response = client.post(path, json={field: padded}, headers=bearer(SERVER_KEY))
        assert response.status_code == 422 and "longer than" in response.json()["error"]["message"]


def test_stream_slots_cap_total_and_per_client() -> None:
    slots = MemorySlots(total=3, per_client=2)
    a1, a2 = slots.take("a"), slots.take("a")
    assert a1 and a2 and slots.take("a") is None
    b1 = slots.take("b")
    assert b1 and slots.take("c") is None and slots.active == 3
    a1()
    a1()  # releasing twice is harmless
    assert slots.active == 2 and slots.take("c") is not None


def test_stream_over_the_cap_is_429(tmp_path_factory: pytest.TempPathFactory) -> None:
    for client in keyed_client(tmp_path_factory):
        slots: MemorySlots = client.app.state.runtime.slots  # type: ignore[attr-defined]
        hold = [slots.take("key1") for _ in range(slots.per_client)]
        response = client.post("/v1/chat", json={**QUESTION, "stream": True}, headers=bearer(SERVER_KEY))
        assert response.status_code == 429 and response.headers["Retry-After"] == "1"
        for release in hold:
            assert release is not None
            release()
        streamed = client.post("/v1/chat", json={**QUESTION, "stream": True}, headers=bearer(SERVER_KEY))
        assert streamed.status_code == 200 and slots.active == 0


def test_security_headers(client: TestClient) -> None:
    api = client.get("/v1/documents", headers=bearer(SERVER_KEY))
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert api.headers["Cache-Control"] == "no-store"
    assert "Referrer-Policy" in api.headers


def test_no_key_appears_in_logs(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/v1/chat", json=QUESTION, headers=bearer(SERVER_KEY))
    client.post("/v1/chat", json=QUESTION, headers=bearer(SERVER_KEY + "x"))
    client.post("/v1/chat", json=QUESTION, headers={**bearer(WIDGET_KEY), "Origin": "https://evil.example"})
    client.post("/v1/chat", json={"message": "x" * 3000}, headers=bearer(SERVER_KEY))
    assert any(r.name == "qa.access" for r in caplog.records)
    formatter = logging.Formatter()
    for record in caplog.records:
        text = formatter.format(record) + repr(record.__dict__)
        assert SERVER_KEY not in text and WIDGET_KEY not in text
        # Questions stay out of INFO logs unless log_questions is on.
        assert "technical blueprints" not in text


def test_json_logs_carry_request_id_and_keep_questions_out_unless_enabled(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    import io
    import json

    from pythonjsonlogger.json import JsonFormatter

    from qa.api.observability import RequestIdFilter

    spec = logging_config(Settings().observability)["formatters"]["default"]
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter(spec["fmt"], rename_fields=spec["rename_fields"]))
    handler.addFilter(RequestIdFilter())
    qa_logger = logging.getLogger("qa")
    qa_logger.addHandler(handler)
    level = qa_logger.level
    qa_logger.setLevel(logging.INFO)
    try:
        for client in keyed_client(tmp_path_factory):
            client.post("/v1/chat", json=QUESTION, headers={**bearer(SERVER_KEY), "X-Request-ID": "req-42"})
    finally:
        qa_logger.removeHandler(handler)
        qa_logger.setLevel(level)
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    mine = [r for r in records if r["logger"] in ("qa.access", "qa.answers")]
    assert {r["logger"] for r in mine} == {"qa.access", "qa.answers"}
    assert all(r["request_id"] == "req-42" and r["level"] == "INFO" for r in mine)
    access = next(r for r in mine if r["logger"] == "qa.access")
    assert (access["route"], access["status"], access["client"]) == ("/v1/chat", 200, "key1")
    assert SERVER_KEY not in buffer.getvalue() and "blueprints" not in buffer.getvalue()


def test_questions_are_logged_only_when_enabled(caplog: pytest.LogCaptureFixture) -> None:
    from qa.config import ObservabilitySettings
    from qa.contract import Answer
    from qa.service.metrics import log_answer

    answer = Answer(answer="a", answerable=False, citations=[], conversation_id="c", message_id="m")
    caplog.set_level(logging.INFO, logger="qa.answers")
    log_answer(ObservabilitySettings(), "my private question", answer, "api")
    log_answer(ObservabilitySettings(log_questions=True), "my opted-in question", answer, "api")
    questions = [getattr(r, "question", None) for r in caplog.records]
    assert questions == [None, "my opted-in question"]


def test_key_settings_parse_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_API_KEYS", " sk_a , sk_b,")
    monkeypatch.setenv("QA_SECURITY__WIDGET_KEYS", '[{"key": "pk_a", "origins": ["https://a.example"]}]')
    settings = Settings()
    assert [k.get_secret_value() for k in settings.api_keys] == ["sk_a", "sk_b"]
    assert "sk_a" not in repr(settings) and "pk_a" not in repr(settings)
    assert settings.security.widget_keys[0].origins == ["https://a.example"]
    monkeypatch.setenv("QA_DATABASE_URL", "postgresql://qa@db:5432/qa")
    assert Settings().database_url == "postgresql://qa@db:5432/qa"
    monkeypatch.setenv("QA_DATABASE_URL", "mysql://db/qa")
    with pytest.raises(ValueError, match="postgresql://"):
        Settings()
    monkeypatch.setenv("QA_REDIS_URL", "http://cache:6379")
    with pytest.raises(ValueError, match="redis://"):
        Settings(database_url="sqlite://")
