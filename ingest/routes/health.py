"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError

from aiops.process_health import read_status, status_path, unhealthy
from ingest.context import Context

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class Status(BaseModel):
    status: str
    # Components of the system `aiops up` runs that are down, and how: reported, not fatal
    # here (webhooks wait in Redis while the flow is down).
    degraded: dict[str, str] = {}


class Unready(Status):
    detail: str


@router.get("/health")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    response_model=Status,
    responses={503: {"model": Unready, "description": "Redis does not answer."}},
)
async def ready(context: Context) -> Status | JSONResponse:
    degraded = unhealthy(read_status(status_path(context.settings.state_dir)))
    try:
        await context.redis.ping()
    except RedisError as exc:
        log.warning("not ready: redis did not answer (%s)", type(exc).__name__)
        answer = Unready(status="unavailable", detail="redis does not answer", degraded=degraded)
        return JSONResponse(answer.model_dump(), status_code=503)
    return Status(status="degraded" if degraded else "ready", degraded=degraded)
