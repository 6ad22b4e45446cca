"""Rows as the flow and the importer leave them, with chosen timestamps."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from aiops.crypto import SecretBox
from aiops.events import Ticket
from warehouse.db import Database, TenantConnection
from warehouse.retention import Policy, set_policy
from warehouse.tenants import TenantConfig, create_tenant

STATUSES = ("succeeded", "succeeded", "succeeded", "stored", "failed", "skipped", "processing")
SOURCES = ("similar_tickets", "kb", "inventory", "monitoring")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def today() -> date:
    return datetime.now(UTC).date()


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=UTC)


def tenant(db: Database, box: SecretBox, tenant_id: str, policy: Policy | None = None) -> str:
    create_tenant(db, box, TenantConfig(tenant_id=tenant_id, display_name=tenant_id))
    if policy is not None:
        with db.tenant(tenant_id) as conn:
            set_policy(conn, policy)
    return tenant_id


def enhancement(
    conn: TenantConnection,
    event_id: str,
    created_at: datetime,
    *,
    ticket_id: str | None = None,
    status: str = "succeeded",
    seconds: float | None = 2.5,
    prompt_tokens: int | None = 100,
    completion_tokens: int | None = 50,
    cost: Decimal | None = Decimal("0.001250"),
    sources: dict[str, str] | None = None,
    subject: str = "printer jam",
) -> None:
    ticket_id = ticket_id or f"T-{event_id}"
    ticket = Ticket(id=ticket_id, subject=subject, description=f"{subject} on floor 2")
    started = created_at + timedelta(seconds=1)
    finished = started + timedelta(seconds=seconds) if seconds is not None else None
    conn.execute(
        """
        INSERT INTO enhancement_history (
            tenant_id, event_id, ticket_id, source, kind, status, attempts, context, timings,
            prompt_tokens, completion_tokens, cost_usd, received_at, started_at, finished_at,
            created_at, updated_at, ticket, output)
        VALUES (current_setting('app.current_tenant_id', true), %s, %s, 'servicedesk',
                'created', %s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            event_id,
            ticket_id,
            status,
            Jsonb({"sources": sources or {}}),
            Jsonb({"total": seconds} if seconds else {}),
            prompt_tokens,
            completion_tokens,
            cost,
            created_at,
            started,
            finished,
            created_at,
            created_at + timedelta(minutes=1),
            Jsonb(ticket.model_dump(mode="json")),
            f"note for {ticket_id}",
        ),
    )


def random_day(conn: TenantConnection, day: date, n: int, seed: int, prefix: str = "e") -> None:
    """`n` varied enhancements on `day`: every status, missing numbers, mixed sources."""
    rng = random.Random(seed)
    for i in range(n):
        status = rng.choice(STATUSES)
        sources: dict[str, Any] = {
            name: rng.choice(
                ("ok", "ok", "empty", "failed: timed out after 5s", "skipped: not configured")
            )
            for name in rng.sample(SOURCES, rng.randint(0, len(SOURCES)))
        }
        enhancement(
            conn,
            f"{prefix}{seed}-{i}",
            at(day, rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)),
            status=status,
            seconds=None if status == "processing" else round(rng.uniform(0.2, 40.0), 3),
            prompt_tokens=rng.choice((None, rng.randint(50, 4000))),
            completion_tokens=rng.choice((None, rng.randint(10, 800))),
            cost=rng.choice((None, Decimal(rng.randint(1, 99999)) / Decimal(1_000_000))),
            sources=sources,
        )


def ticket(
    conn: TenantConnection,
    ticket_id: str,
    created_at: datetime | None,
    subject: str = "VPN drops",
    **fields: Any,
) -> None:
    conn.execute(
        """
        INSERT INTO ticket_history (tenant_id, ticket_id, subject, description, created_at,
                                    category, extra)
        VALUES (current_setting('app.current_tenant_id', true), %s, %s, %s, %s, %s, %s)
        """,
        (
            ticket_id,
            subject,
            fields.get("description", f"{subject}, details"),
            created_at,
            fields.get("category"),
            Jsonb(fields.get("extra", {})),
        ),
    )
