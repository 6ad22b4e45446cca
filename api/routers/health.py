"""Liveness and readiness, without authentication (for load balancers and `aiops up`)."""

from __future__ import annotations

import logging

import psycopg
import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from aiops.process_health import read_status, status_path, unhealthy
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
    # Components of the system `aiops up` runs that are down: reported, not fatal here.
    degraded = unhealthy(read_status(status_path(state.settings.state_dir)))
    status = ("degraded" if degraded else "ready") if ok else "unavailable"
    return JSONResponse(
        {"status": status, "checks": checks, "degraded": degraded},
        status_code=200 if ok else 503,
    )
