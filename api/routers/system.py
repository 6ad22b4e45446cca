"""Operator routes (platform admin token only): system health and the dead-letter stream."""

from __future__ import annotations

import logging
from typing import Annotated

import psycopg
import redis
from fastapi import APIRouter, HTTPException, Path, Query, status

from aiops import dead_letters
from aiops.process_health import unhealthy
from api import system_health
from api.deps import DbDep, PlatformAdminDep, RedisDep, SettingsDep, errors
from api.system_models import (
    ComponentOut,
    DeadLetterOut,
    DeadLetterPage,
    FailureOut,
    QueueDepthOut,
    ReplayOut,
    SystemHealthOut,
)

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

_REDIS_DOWN = "Redis is unreachable; try again shortly"
EntryId = Annotated[
    str, Path(pattern=r"^\d+-\d+$", description="A stream entry id from GET /dead-letters.")
]


@router.get("/system/health", response_model=SystemHealthOut, responses=errors(401, 403))
def system_health_(
    _admin: PlatformAdminDep,
    settings: SettingsDep,
    db: DbDep,
    client: RedisDep,
    failures: Annotated[int, Query(ge=0, le=200, description="Recent failures to list.")] = 20,
) -> SystemHealthOut:
    """Every supervised process, PostgreSQL and Redis, queue depth per stream, the
    dead-letter count and the newest failed enhancements over all tenants."""
    checks: dict[str, str] = {}
    recent: list[FailureOut] | None = None
    try:
        db.ping()
        recent = [FailureOut(**vars(f)) for f in system_health.recent_failures(db, failures)]
        checks["postgres"] = "ok"
    except psycopg.Error as exc:
        log.warning("system health: postgres unreachable: %s", exc)
        checks["postgres"] = "unreachable"
    lengths: dict[str, int] | None = None
    try:
        lengths = system_health.stream_lengths(client, settings)
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        log.warning("system health: redis unreachable: %s", exc)
        checks["redis"] = "unreachable"
    states = system_health.components(settings)
    ok = all(v == "ok" for v in checks.values())
    return SystemHealthOut(
        status=("degraded" if unhealthy(states) else "ready") if ok else "unavailable",
        checks=checks,
        supervised=bool(states),
        components=[ComponentOut(**vars(s)) for s in states],
        queue_depth=QueueDepthOut(**vars(system_health.queue_depth(settings))),
        stream_entries=lengths,
        dead_letters=lengths[settings.dead_letter_stream] if lengths is not None else None,
        recent_failures=recent,
    )


def _out(letter: dead_letters.DeadLetter, settings: SettingsDep) -> DeadLetterOut:
    return DeadLetterOut(
        entry_id=letter.entry_id,
        tenant_id=letter.tenant_id,
        event_id=letter.event_id,
        ticket_id=letter.ticket_id,
        fields=letter.fields,
        event=letter.event_json,
        replayable=letter.event_json is not None
        and dead_letters.target_stream(settings, letter) is not None,
    )


@router.get("/dead-letters", response_model=DeadLetterPage, responses=errors(401, 403, 503))
def list_dead_letters(
    _admin: PlatformAdminDep,
    settings: SettingsDep,
    client: RedisDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="How many, oldest first.")] = 50,
) -> DeadLetterPage:
    """Events the flow gave up on (bad data, permanent errors), oldest first."""
    try:
        letters = dead_letters.read(client, settings, limit)
        total = int(client.xlen(settings.dead_letter_stream))
    except redis.RedisError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, _REDIS_DOWN) from exc
    return DeadLetterPage(total=total, letters=[_out(letter, settings) for letter in letters])


@router.post(
    "/dead-letters/{entry_id}/replay",
    response_model=ReplayOut,
    responses=errors(401, 403, 404, 409, 503),
)
def replay_dead_letter(
    entry_id: EntryId, _admin: PlatformAdminDep, settings: SettingsDep, client: RedisDep
) -> ReplayOut:
    """Puts the event back on its stream for the flow and removes the dead letter, in one
    Redis transaction. Fix the cause first: a letter that fails again lands here again."""
    try:
        found = dead_letters.fetch(client, settings, [entry_id])
        if not found:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no dead letter {entry_id}; see GET /dead-letters"
            )
        try:
            stream = dead_letters.replay(client, settings, found[0])
        except dead_letters.NotReplayable as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, f"{exc}; it stays") from exc
    except redis.RedisError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, _REDIS_DOWN) from exc
    return ReplayOut(entry_id=entry_id, event_id=found[0].event_id, stream=stream)
