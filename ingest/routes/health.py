"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError

from ingest.context import Context

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class Status(BaseModel):
    status: str


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
async def ready(context: Context) -> dict[str, str] | JSONResponse:
    try:
        await context.redis.ping()
    except RedisError as exc:
        log.warning("not ready: redis did not answer (%s)", type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "detail": "redis does not answer"}, status_code=503
        )
    return {"status": "ready"}
