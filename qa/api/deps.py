"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qa.config import Settings
from qa.errors import NotReadyError, QAError
from qa.pipeline import QAPipeline


async def get_pipeline(request: Request) -> QAPipeline:
    """The loaded pipeline, or 503 with the reason it is not loaded."""
    pipeline: QAPipeline | None = getattr(request.app.state, "pipeline", None)
    if pipeline is None:
        problem: QAError | None = getattr(request.app.state, "startup_error", None)
        raise problem or NotReadyError("The service is still starting; try again shortly.")
    return pipeline


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (``create_app(settings)``; tests pass their own).

    Read from ``app.state`` rather than a dependency override: FastAPI re-analyses override
    callables on every request, which cost a measurable share of a 5 ms answer.
    """
    settings: Settings = request.app.state.settings
    return settings


# The dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` ones in the thread
# pool, a thread hop per request for a mere attribute read.
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PipelineDep = Annotated[QAPipeline, Depends(get_pipeline)]
