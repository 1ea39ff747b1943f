"""Property-based conformance: schemathesis drives every operation of our OpenAPI spec.

No 5xx, and status codes, content types and bodies match the spec. Bounded: a handful of
examples per operation on the fake-embedder pipeline, so it stays fast.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from qa.api.app import create_app
from qa.config import SecuritySettings
from qa.pipeline import QAPipeline
from tests.conftest import make_settings
from tests.fakes import FakeEmbedder

# Built at collection (cheap: the pipeline loads in the lifespan, on the first request).
_ROOT = Path(tempfile.mkdtemp(prefix="qa-schemathesis-"))
_EMBEDDER = FakeEmbedder()
_APP = create_app(
    make_settings(_ROOT, security=SecuritySettings(rate_limit_per_ip="100000/minute")),
    lambda s: QAPipeline.load(s, embedder_factory=lambda _: _EMBEDDER),
)
# Bodies over the size cap (QA_SECURITY__MAX_BODY_BYTES) are refused with 413 before the schema
# is even looked at, valid or not: a transport limit, like 429.
_CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "405", "413", "415", "422", "429"]
            },
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "413", "429"]
            },
        }
    }
)
schema = schemathesis.openapi.from_dict(_APP.openapi(), config=_CONFIG)
schema.app = _APP


@pytest.fixture(scope="module", autouse=True)
def cleanup() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()  # closes the store before its directory goes
    shutil.rmtree(_ROOT, ignore_errors=True)


@schema.parametrize()
@hypothesis_settings(
    max_examples=int(os.environ.get("QA_SCHEMATHESIS_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
    if case.operation.path == "/v1/chat/completions":
        # Like OpenAI's own API, a schema-valid conversation can still be unanswerable (e.g. it
        # does not end with a user message): that is a 422 with a reason, checked elsewhere.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])
    else:
        case.call_and_validate()
