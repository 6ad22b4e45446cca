"""Liveness and readiness, without authentication (for load balancers and `aiops up`)."""

from __future__ import annotations

import logging

import psycopg
import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep

log = logging.getLogger(__name__)

router = APIRouter(prefix="/health", tags=["health"])


@router.get("")
def alive() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "PostgreSQL or Redis is unreachable"}})
def ready(state: StateDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        state.db.ping()
        checks["postgres"] = "ok"
    except psycopg.Error as exc:
        log.warning("readiness: postgres unreachable: %s", exc)
        checks["postgres"] = "unreachable"
    try:
        state.redis.ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        log.warning("readiness: redis unreachable: %s", exc)
        checks["redis"] = "unreachable"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )
