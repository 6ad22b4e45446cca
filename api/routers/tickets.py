"""A tenant's resolved-ticket history, upserted in bulk."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AdminScopeDep, errors
from api.models import TicketBatch, TicketsUpserted
from warehouse import tickets

router = APIRouter(prefix="/tenants/{tenant_id}/tickets", tags=["tickets"])


@router.post("", response_model=TicketsUpserted, responses=errors(401, 403, 404))
def upsert(scope: AdminScopeDep, body: TicketBatch) -> TicketsUpserted:
    """Inserts new tickets and updates known ones (matched by id); at most 1,000 per call."""
    with scope.connection() as conn:
        count = tickets.upsert_tickets(conn, [t.to_ticket() for t in body.tickets], source="api")
    return TicketsUpserted(upserted=count)
