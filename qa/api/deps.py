"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qa.config import Settings, get_settings
from qa.errors import NotReadyError, QAError
from qa.pipeline import QAPipeline


def get_pipeline(request: Request) -> QAPipeline:
    """The loaded pipeline, or 503 with the reason it is not loaded."""
    pipeline: QAPipeline | None = getattr(request.app.state, "pipeline", None)
    if pipeline is None:
        problem: QAError | None = getattr(request.app.state, "startup_error", None)
        raise problem or NotReadyError("The service is still starting; try again shortly.")
    return pipeline


SettingsDep = Annotated[Settings, Depends(get_settings)]
PipelineDep = Annotated[QAPipeline, Depends(get_pipeline)]
