"""Resolved tickets: the memory that similar-ticket search draws on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from aiops.events import Ticket
from aiops.ticket_masking import mask_ticket
from warehouse.db import TenantConnection

_UPSERT = """
INSERT INTO ticket_history (
    tenant_id, ticket_id, source, subject, description, resolution, category, priority,
    status, tags, extra, created_at, resolved_at, updated_at)
VALUES (current_setting('app.current_tenant_id', true), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
        %s, %s, now())
ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET
    source = EXCLUDED.source, subject = EXCLUDED.subject,
    description = EXCLUDED.description, resolution = EXCLUDED.resolution,
    category = EXCLUDED.category, priority = EXCLUDED.priority, status = EXCLUDED.status,
    tags = EXCLUDED.tags, extra = EXCLUDED.extra, created_at = EXCLUDED.created_at,
    resolved_at = EXCLUDED.resolved_at, updated_at = now()
"""


def upsert_tickets(conn: TenantConnection, tickets: Sequence[Ticket], source: str) -> int:
    """Insert or refresh tickets of the connection's tenant, credentials masked; returns how
    many."""
    tickets = [mask_ticket(t) for t in tickets]
    with conn.cursor() as cur:
        cur.executemany(
            _UPSERT,
            [
                (
                    t.id,
                    source,
                    t.subject,
                    t.description,
                    t.resolution,
                    t.category,
                    t.priority,
                    t.status,
                    t.tags,
                    Jsonb(t.extra),
                    t.created_at,
                    t.resolved_at,
                )
                for t in tickets
            ],
        )
    return len(tickets)


def index_version(conn: TenantConnection) -> tuple[int, datetime | None]:
    """Changes whenever a row is added, changed or removed: the cache key for indexes."""
    row = conn.execute(
        "SELECT count(*) AS n, max(updated_at) AS last FROM ticket_history"
    ).fetchone()
    assert row is not None
    return row["n"], row["last"]


# Where a ticket's request/issue type is kept among its extra fields: as the plugins
# normalize it, then as an import keeps a column it did not map (under the export's header:
# Freshservice and ConnectWise "Type", Zendesk "Ticket type"), first found wins.
TYPE_KEYS = (
    *("request_type", "issue_type", "type", "ticket_type"),
    *("Type", "Ticket type", "Request Type", "Issue Type"),
)
# Only the type of the extra fields: the rest (raw vendor fields) is not needed to search.
_TYPE_ONLY = ", ".join(f"'{key}', extra -> '{key}'" for key in TYPE_KEYS)
_TICKET_COLUMNS = (
    "ticket_id, subject, description, resolution, category, priority, status, tags,"
    f" created_at, resolved_at, jsonb_strip_nulls(jsonb_build_object({_TYPE_ONLY})) AS extra"
)


def _ticket(r: dict[str, Any]) -> Ticket:
    return Ticket(
        id=r["ticket_id"],
        subject=r["subject"],
        description=r["description"],
        resolution=r["resolution"],
        category=r["category"],
        priority=r["priority"],
        status=r["status"],
        tags=list(r["tags"]),
        extra=dict(r["extra"]),
        created_at=r["created_at"],
        resolved_at=r["resolved_at"],
    )


def all_tickets(conn: TenantConnection) -> list[Ticket]:
    rows = conn.execute(f"SELECT {_TICKET_COLUMNS} FROM ticket_history ORDER BY id").fetchall()
    return [_ticket(r) for r in rows]


def tickets_by_id(conn: TenantConnection, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
    """The tenant's tickets among `ticket_ids` (those that still exist), by id."""
    rows = conn.execute(
        f"SELECT {_TICKET_COLUMNS} FROM ticket_history WHERE ticket_id = ANY(%s)",
        (list(ticket_ids),),
    ).fetchall()
    return {r["ticket_id"]: _ticket(r) for r in rows}
