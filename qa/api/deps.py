"""Dependencies shared by the routers, as ``Annotated`` aliases.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in the thread pool, a
thread hop per request for a mere attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from qa.config import Settings
from qa.pipeline import QAPipeline
from qa.service.chat import ChatService
from qa.service.runtime import Runtime
from qa.storage.factory import Store


def runtime_of(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request.app)


async def get_pipeline(request: Request) -> QAPipeline:
    """The loaded pipeline, or 503 with the reason it is not loaded."""
    return runtime_of(request.app).require_pipeline()


async def get_chat(request: Request) -> ChatService:
    return runtime_of(request.app).chat


async def get_store(request: Request) -> Store:
    return runtime_of(request.app).store


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (``create_app(settings)``; tests pass their own).

    Read from the runtime rather than a dependency override: FastAPI re-analyses override
    callables on every request, which cost a measurable share of a 5 ms answer.
    """
    return runtime_of(request.app).settings


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PipelineDep = Annotated[QAPipeline, Depends(get_pipeline)]
ChatDep = Annotated[ChatService, Depends(get_chat)]
StoreDep = Annotated[Store, Depends(get_store)]
