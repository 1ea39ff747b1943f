"""Liveness and readiness probes (always open, never rate limited)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from qa.api.deps import RuntimeDep
from qa.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, response_model_exclude_none=True)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get(
    "/readyz", response_model=Health, response_model_exclude_none=True, responses={503: {"model": Health}}
)
async def readyz(runtime: RuntimeDep) -> Health | JSONResponse:
    """The index and model are loaded and questions can be answered."""
    if runtime.ready:
        return Health(status="ready")
    problem = runtime.startup_error
    detail = problem.client_message if problem else "starting"
    return JSONResponse(status_code=503, content={"status": "not_ready", "detail": detail})
