"""Resolved tickets that a webhook only named (`Event.fetch`): read from the ITSM, and
stored into the ticket history only if the ITSM says they are resolved. Most are updates
of open tickets, skipped. Runs in the enhance pool, as it does I/O per event.
"""

from __future__ import annotations

import logging

from aiops.errors import PermanentError
from flows.items import Outcome, Received
from flows.pointers import read_pointed
from flows.process import Services, error_kind
from flows.transactions import in_tenant
from warehouse.tickets import upsert_tickets

log = logging.getLogger(__name__)

_ERROR_CHARS = 2_000


def is_pointed_resolved(received: Received) -> bool:
    return received.event.kind == "resolved" and received.event.fetch


def store_pointed_resolved(received: Received, services: Services) -> Outcome:
    """Reads the ticket; if it is resolved, upserts it into the history. Never raises."""
    event = received.event
    try:
        tenant = services.retry(lambda: services.tenant(event.tenant_id))
        if tenant is None:
            raise PermanentError(f"unknown tenant {event.tenant_id!r}")
        client = services.itsm(tenant)
        read = services.retry(lambda: read_pointed(event, client))
        if read.ticket.resolved_at is None:
            return Outcome(received, "skipped")
        services.retry(
            lambda: in_tenant(
                services.db,
                event.tenant_id,
                lambda conn: upsert_tickets(conn, [read.ticket], event.source),
            )
        )
        return Outcome(received, "stored")
    except Exception as exc:
        kind = error_kind(exc)
        error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
        log.warning(
            "tenant %s ticket %s not read into history: %s", event.tenant_id, event.ticket.id, error
        )
        return Outcome(received, "failed", error=error, error_kind=kind)
