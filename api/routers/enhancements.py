"""A tenant's enhancement results: what the flow did with each event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import ReadScopeDep, errors
from api.models import EnhancementDetail, EnhancementSummary
from warehouse import enhancements

router = APIRouter(prefix="/tenants/{tenant_id}/enhancements", tags=["enhancements"])


@router.get("", response_model=list[EnhancementSummary], responses=errors(401, 404))
def recent(
    scope: ReadScopeDep,
    ticket_id: Annotated[str | None, Query(description="Only this ticket's events.")] = None,
    status: Annotated[
        Literal["processing", "succeeded", "stored", "failed"] | None,
        Query(description="Only events in this state."),
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Only events recorded at or after this time.")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Only events recorded before this time.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[EnhancementSummary]:
    """Newest first."""
    with scope.connection() as conn:
        rows = enhancements.recent(
            conn, limit=limit, ticket_id=ticket_id, status=status, since=since, until=until
        )
    return [EnhancementSummary.model_validate(row) for row in rows]


@router.get("/{event_id}", response_model=EnhancementDetail, responses=errors(401, 404))
def one(scope: ReadScopeDep, event_id: str) -> EnhancementDetail:
    """One event with its context, prompt and the note text."""
    with scope.connection() as conn:
        row = enhancements.get(conn, event_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no event {event_id!r} for this tenant")
    return EnhancementDetail.model_validate(row)
