"""Two tenants with a row of their own in every tenant table, for the RLS suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.types.json import Jsonb

from aiops.crypto import SecretBox
from aiops.events import Ticket
from warehouse import api_keys, budgets, knowledge
from warehouse.db import Database
from warehouse.tenants import TenantConfig, create_tenant
from warehouse.tickets import upsert_tickets


@pytest.fixture()
def pair(db: Database, box: SecretBox, tenant_id: str) -> Iterator[tuple[str, str]]:
    """Two tenants with a row of their own in every tenant table."""
    ids = (tenant_id + "-a", tenant_id + "-b")
    for tid in ids:
        create_tenant(db, box, TenantConfig(tenant_id=tid, display_name=tid))
        with db.tenant(tid) as conn:
            upsert_tickets(conn, [Ticket(id=f"{tid}-1", subject=f"printer of {tid}")], "test")
            knowledge.upsert_articles(conn, [knowledge.Article(f"{tid}-kb", "VPN")])
            knowledge.upsert_hosts(conn, [knowledge.Host(f"{tid}-host")])
            conn.execute(
                "INSERT INTO enhancement_history (tenant_id, event_id, ticket_id, source, kind,"
                " status, ticket) VALUES (current_setting('app.current_tenant_id', true), %s,"
                " '1', 'servicedesk', 'created', 'stored', %s)",
                (f"{tid}-ev", Jsonb({"id": "1"})),
            )
            api_keys.create_key(conn, f"key of {tid}", "admin")
            budgets.record_spend(conn, f"{tid}-ev", 0.01)
    yield ids
