"""Resolved tickets into the ticket history, one transaction per tenant and source per batch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial

from aiops.events import Ticket
from flows.items import DeadLetter, Received
from flows.process import Retry, error_kind
from flows.transactions import in_tenant
from warehouse.db import Database
from warehouse.tickets import upsert_tickets

log = logging.getLogger(__name__)


def _upsert(db: Database, tenant_id: str, source: str, tickets: list[Ticket]) -> int:
    return in_tenant(db, tenant_id, lambda conn: upsert_tickets(conn, tickets, source))


Fixes = Callable[[str, list[Ticket]], list[Ticket]]


def store_resolved(
    db: Database, retry: Retry, batch: Sequence[Received], fixes: Fixes | None = None
) -> list[DeadLetter]:
    """Upserts the batch's tickets, a status-word resolution replaced by the fix `fixes`
    finds (flows.fixes); returns dead letters for the groups that failed."""
    groups: dict[tuple[str, str], list[Received]] = {}
    for item in batch:
        groups.setdefault((item.event.tenant_id, item.event.source), []).append(item)
    dead: list[DeadLetter] = []
    for (tenant_id, source), items in groups.items():
        tickets = [item.event.ticket for item in items]
        if fixes is not None:
            tickets = fixes(tenant_id, tickets)
        try:
            retry(partial(_upsert, db, tenant_id, source, tickets))
        except Exception as exc:
            kind = error_kind(exc)
            error = f"{type(exc).__name__}: {exc}"[:2_000]
            log.warning(
                "tenant %s: %d resolved tickets not stored: %s", tenant_id, len(items), error
            )
            dead += [item.dead_letter(error, kind) for item in items]
    return dead
