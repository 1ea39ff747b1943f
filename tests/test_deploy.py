"""deploy/compose.yaml is valid and uses only settings that exist and that the tests exercise.

Docker is not available here, so the file is checked as data: it parses, its services are
wired as docs/deploy.md describes, every ``QA_`` variable names a Settings field and passes
its validation, and every one of them is set somewhere in the tests.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from qa.config import Settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "deploy" / "compose.yaml"
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def interpolate(value: object) -> str:
    """Compose's ``${NAME:-default}`` / ``${NAME:?message}``, with a stand-in value for each name."""
    return INTERPOLATION.sub(lambda m: f"test-{m.group(1).lower().replace('_', '-')}", str(value))


def qa_variables() -> dict[str, dict[str, str]]:
    """Each service's ``QA_`` environment (anchors resolved by the YAML loader)."""
    found: dict[str, dict[str, str]] = {}
    for name, service in compose()["services"].items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"{name}: use the mapping form of environment"
        found[name] = {k: interpolate(v) for k, v in env.items() if k.startswith("QA_")}
    return found


def field_exists(variable: str) -> bool:
    model: type[BaseModel] = Settings
    parts = variable.removeprefix("QA_").lower().split("__")
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_compose_runs_the_parts_the_docs_describe() -> None:
    services = compose()["services"]
    assert {"api", "nginx", "postgres", "redis", "milvus", "migrate", "index"} <= set(services)
    api = services["api"]
    assert api["deploy"]["replicas"] == "${API_REPLICAS:-2}"
    # Replicas start only on a migrated database and a filled index, with Redis up.
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["index"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["qa", "db", "upgrade"]
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert services["nginx"]["volumes"] == ["./nginx.conf:/etc/nginx/nginx.conf:ro"]
    assert (COMPOSE.parent / "nginx.conf").is_file()
    env = qa_variables()["api"]
    assert env["QA_INDEX__BACKEND"] == "milvus" and env["QA_MILVUS__URI"] == "http://milvus:19530"
    assert env["QA_DATABASE_URL"].startswith("postgresql://") and env["QA_REDIS_URL"].startswith("redis://")


def test_every_qa_variable_is_a_setting() -> None:
    variables = {v for env in qa_variables().values() for v in env}
    unknown = {v for v in variables if not field_exists(v)}
    assert not unknown, f"not Settings fields: {sorted(unknown)}"


def test_the_api_environment_passes_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in qa_variables()["api"].items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url.startswith("postgresql://qa:")
    assert settings.redis_url == "redis://redis:6379/0"
    assert [k.get_secret_value() for k in settings.api_keys] == ["test-qa-api-keys"]


def test_every_qa_variable_is_one_the_tests_use() -> None:
    sources = "\n".join(p.read_text() for p in (REPO / "tests").glob("*.py") if p.name != Path(__file__).name)
    variables = {v for env in qa_variables().values() for v in env}
    unused = {v for v in variables if v not in sources}
    assert not unused, f"set in deploy/compose.yaml but in no test: {sorted(unused)}"
