"""The service's Prometheus metrics and the one-line answer log, shared by every surface."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from qa.config import ObservabilitySettings
from qa.contract import Answer

answer_log = logging.getLogger("qa.answers")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The app's Prometheus metrics, in a private registry (several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "qa_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "qa_http_request_duration_seconds",
            "HTTP request duration (SSE: whole stream)",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stage = Histogram(
            "qa_answer_stage_seconds",
            "Time per answer stage (retrieval, answer, llm…)",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "qa_answers_total", "Answers given", ["mode", "answerable", "surface"], registry=r
        )
        self.refusals = Counter("qa_refusals_total", "Questions the corpus could not answer", registry=r)
        self.llm_fallbacks = Counter(
            "qa_llm_fallbacks_total", "LLM answers replaced by the extractive answer", registry=r
        )
        self.store_errors = Counter(
            "qa_store_errors_total", "Conversation store failures", ["operation"], registry=r
        )
        self.redis_errors = Counter(
            "qa_redis_errors_total",
            "Redis calls that failed (the replica fell back to its own state)",
            ["concern"],
            registry=r,
        )
        self.streams = Gauge("qa_sse_streams_active", "SSE answers being streamed", registry=r)

    def observe_answer(self, answer: Answer, surface: str = "api") -> None:
        for stage, ms in answer.timings_ms.items():
            self.stage.labels(stage).observe(ms / 1000)
        self.answers.labels(answer.mode, str(answer.answerable).lower(), surface).inc()
        if not answer.answerable:
            self.refusals.inc()
        if answer.fallback_reason:
            self.llm_fallbacks.inc()


def log_answer(settings: ObservabilitySettings, question: str, answer: Answer, surface: str) -> None:
    """One line per answer; the question itself only when the operator opted in."""
    fields: dict[str, Any] = {
        "conversation_id": answer.conversation_id,
        "message_id": answer.message_id,
        "answerable": answer.answerable,
        "mode": answer.mode,
        "citations": len(answer.citations),
        "timings_ms": answer.timings_ms,
        "question_chars": len(question),
        "surface": surface,
    }
    if settings.log_questions:
        fields["question"] = question
    answer_log.info("answered", extra=fields)
