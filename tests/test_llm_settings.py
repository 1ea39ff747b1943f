"""LLM settings come from QA_LLM__* variables; the API key never shows up in reprs or logs."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from qa.answering.llm import LLMError, OpenAICompatibleGenerator, make_client
from qa.config import LLMSettings, Settings

KEY = "sk-very-secret-value"


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_LLM__BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("QA_LLM__MODEL", "llama3.2")
    monkeypatch.setenv("QA_LLM__API_KEY", KEY)
    monkeypatch.setenv("QA_LLM__MAX_RETRIES", "4")
    llm = Settings().llm
    assert llm.enabled and llm.base_url == "http://127.0.0.1:11434/v1" and llm.model == "llama3.2"
    assert llm.max_retries == 4 and llm.api_key is not None and llm.api_key.get_secret_value() == KEY
    assert KEY not in repr(llm) and KEY not in llm.model_dump_json()


def test_no_base_url_means_no_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_LLM__BASE_URL", raising=False)
    assert Settings().llm.enabled is False


@pytest.mark.parametrize("bad", [{"max_retries": -1}, {"temperature": 3}, {"min_support": 1.5}])
def test_out_of_range_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match=next(iter(bad))):
        LLMSettings.model_validate(bad)


async def test_the_key_is_sent_but_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(503)

    settings = LLMSettings(base_url="http://llm.test/v1", api_key=SecretStr(KEY), retry_backoff=0)
    caplog.set_level(logging.DEBUG)
    async with make_client(settings, transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(LLMError) as caught:
            await OpenAICompatibleGenerator(settings, client).complete([{"role": "user", "content": "hi"}])
    assert caught.value.reason == "http_503" and seen == [f"Bearer {KEY}"] * 3
    assert caplog.records and KEY not in caplog.text
