"""Hostile text never fails anyone else (issue 12, finding 1), with the real model and uvicorn.

The attack: `{"message": "x \\ud800"}` reached the ONNX tokenizer, which raised a TypeError that the
query batcher handed to every question of the batch: 30 normal + 2 bad concurrent requests gave
13 innocent 500s. Now text is checked at the edge (422) and the batcher isolates a failing text.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.answering.events import Started, StreamEvent, Token
from qa.api.app import create_app
from qa.config import Settings
from qa.contract import Turn
from qa.embedding.base import Embedder, Vectors
from qa.embedding.batching import BatchingEmbedder
from qa.pipeline import QAPipeline
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder
from tests.live import serve
from tests.test_api import sse_events

INNOCENT = "What did Chun In-bum say about munitions workers?"
HOSTILE_BODIES = [
    b'{"message": "x \\ud800"}',  # a lone surrogate, as JSON allows
    b'{"message": "\\udfff\\ud800 who?"}',
    b'{"message": "a\\u0000b"}',  # NUL
    b'{"message": "\\u200b\\u200c\\ufeff \\u2060"}',  # zero-width only: looks empty, is empty
    b'{"message": "ok", "history": [{"role": "user", "content": "\\ud800"}]}',
]


def post_raw(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def live(real_settings: Settings, real_pipeline: QAPipeline) -> Iterator[str]:
    # Rate limits are not what is under test here (all requests come from one address).
    security = real_settings.security.model_copy(update={"rate_limit_per_ip": "100000/minute"})
    unlimited = real_settings.model_copy(update={"security": security})
    with serve(create_app(unlimited, lambda _: real_pipeline)) as base:
        yield base


@pytest.mark.integration
def test_bad_text_is_422_on_every_surface(live: str) -> None:
    with httpx.Client(base_url=live, timeout=60) as client:
        for body in HOSTILE_BODIES:
            response = post_raw(client, "/v1/chat", body)
            assert response.status_code == 422, body
            assert response.json()["error"]["code"] == "invalid_request"
        search = post_raw(client, "/v1/search", b'{"query": "arms \\ud800"}')
        assert search.status_code == 422
        for content in ('"x \\ud800"', '[{"type": "text", "text": "x \\ud800"}]', '"\\u200b"'):
            body = f'{{"messages": [{{"role": "user", "content": {content}}}]}}'.encode()
            assert post_raw(client, "/v1/chat/completions", body).status_code == 422, content


@pytest.mark.integration
def test_bad_requests_among_good_ones_fail_only_themselves(live: str) -> None:
    """The reported attack: 30 normal and 2 bad concurrent requests (here 3 rounds of 40)."""

    def ask(n: int) -> tuple[bool, int]:
        hostile = n % 8 == 0
        with httpx.Client(base_url=live, timeout=60) as client:
            if hostile:
                body = HOSTILE_BODIES[(n // 8) % len(HOSTILE_BODIES)]
                return True, post_raw(client, "/v1/chat", body).status_code
            return False, client.post("/v1/chat", json={"message": INNOCENT}).status_code

    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(ask, range(120)))
    assert {status for hostile, status in results if hostile} == {422}
    assert {status for hostile, status in results if not hostile} == {200}


class Gated:
    """Wraps the real model: its first call waits for the gate so other callers queue behind it."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.model_id, self.dimension = inner.model_id, inner.dimension

    def embed(self, texts: list[str]) -> Vectors:
        self.entered.set()
        self.gate.wait(timeout=30)
        return self.inner.embed(texts)


@pytest.mark.integration
def test_the_real_tokenizer_failure_stays_with_its_text(real_embedder: Embedder) -> None:
    """Past the edge checks (a future surface that forgets them): the batch still isolates."""
    model = real_embedder.inner if isinstance(real_embedder, BatchingEmbedder) else real_embedder
    with pytest.raises(Exception):  # noqa: B017, PT011  # the tokenizer's own TypeError today
        model.embed(["x \ud800"])
    gated = Gated(model)
    batcher = BatchingEmbedder(gated, max_batch=32, lanes=1)
    texts = [f"question {n} about the visit" for n in range(8)]
    texts[5] = "poison \ud800"
    with ThreadPoolExecutor(len(texts)) as pool:
        first = pool.submit(batcher.embed, [texts[0]])
        assert gated.entered.wait(timeout=30)
        rest = [pool.submit(batcher.embed, [t]) for t in texts[1:]]
        while batcher.queued < len(texts) - 1:
            threading.Event().wait(0.005)
        gated.gate.set()
        outcomes = [f.exception() or f.result() for f in [first, *rest]]
    assert batcher.isolations == 1
    for n, outcome in enumerate(outcomes):
        if n == 5:
            assert isinstance(outcome, Exception)
        else:
            assert isinstance(outcome, np.ndarray)
            assert np.allclose(outcome, model.embed([texts[n]]), atol=1e-5)


# Arbitrary Unicode plus what the generators rarely produce: surrogates, NUL, zero-width characters.
_ALPHABET = st.one_of(
    st.characters(),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from(["\x00", "\u200b", "\u200d", "\ufeff", "\u2060", "\x7f", "\n", " "]),
)


@pytest.mark.integration
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=_ALPHABET, max_size=60))
def test_fuzz_no_5xx_and_no_cross_request_failure(live: str, text: str) -> None:
    """Each example is sent with innocent questions at the same time, on /v1/chat and /v1/search."""
    body = json.dumps({"message": text}).encode()  # ASCII-escaped, so lone surrogates survive
    search = json.dumps({"query": text}).encode()

    def hostile(path: str, payload: bytes) -> int:
        with httpx.Client(base_url=live, timeout=60) as client:
            return post_raw(client, path, payload).status_code

    def innocent(_: int) -> int:
        with httpx.Client(base_url=live, timeout=60) as client:
            return client.post("/v1/chat", json={"message": INNOCENT}).status_code

    with ThreadPoolExecutor(8) as pool:
        bad = [pool.submit(hostile, "/v1/chat", body), pool.submit(hostile, "/v1/search", search)]
        good = list(pool.map(innocent, range(6)))
    assert all(f.result() in (200, 422) for f in bad), [f.result() for f in bad]
    assert good == [200] * 6


# -- a failure after the 200 is sent, and a 500, are both said ----------------------------------


class FailingPipeline(QAPipeline):
    """Streams a token, then fails with an error that is not one of ours (a bug, say)."""

    async def answer_stream(  # type: ignore[override]
        self, question: str, history: list[Turn] | None = None, conversation_id: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        yield Started("c_broken", "extractive")
        yield Token("Half an answer ")
        raise TypeError("a bug deep inside")

    async def answer(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise TypeError("a bug deep inside")


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("broken"))
    embedder = FakeEmbedder()
    app = create_app(settings, lambda s: FailingPipeline.load(s, embedder_factory=lambda _: embedder))
    with serve(app) as base:
        yield base


def test_a_stream_that_fails_ends_with_an_error_event(broken: str) -> None:
    with httpx.Client(base_url=broken, timeout=30) as client:
        response = client.post("/v1/chat", json={"message": INNOCENT, "stream": True})
        events = sse_events(response.text)
        assert [name for name, _ in events][-1] == "error"
        assert events[-1][1] == {"code": "internal_error", "message": "Something went wrong on our side."}
        chunks = client.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": INNOCENT}], "stream": True}
        )
        data = [line.removeprefix("data: ") for line in chunks.text.splitlines() if line.startswith("data: ")]
        assert json.loads(data[-1])["error"]["code"] == "internal_error"


def test_a_500_says_connection_close_and_the_next_request_works(broken: str) -> None:
    with httpx.Client(base_url=broken, timeout=30) as client:
        failed = client.post("/v1/chat", json={"message": INNOCENT})
        assert failed.status_code == 500 and failed.headers["connection"] == "close"
        assert "bug" not in failed.text and "Traceback" not in failed.text
        assert client.get("/healthz").status_code == 200  # a fresh connection, no reset
