"""Every write to ticket_history (flow, import, API, demo) masks credentials first."""

from __future__ import annotations

from aiops.crypto import SecretBox
from aiops.events import Ticket
from warehouse.db import Database
from warehouse.tenants import TenantConfig, create_tenant
from warehouse.tickets import upsert_tickets

PASSWORD = "Wn4$kQ8!tB2x"


def test_ticket_history_never_holds_a_pasted_password(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    create_tenant(db, box, TenantConfig(tenant_id=tenant_id, display_name=tenant_id))
    ticket = Ticket(
        id="9",
        subject=f"reset done, new password: {PASSWORD}",
        description=f"connect with postgres://svc:{PASSWORD}@db.internal/app",
        resolution=f"told the user pwd={PASSWORD}",
        tags=[f"password={PASSWORD}"],
        extra={"notes": f"password: {PASSWORD}"},
    )
    with db.tenant(tenant_id) as conn:
        upsert_tickets(conn, [ticket], "import")
        row = conn.execute("SELECT ticket_history::text AS whole FROM ticket_history").fetchone()
    assert row is not None
    assert PASSWORD not in row["whole"]
    assert "svc" in row["whole"] and "db.internal" in row["whole"]
    assert "[REDACTED:" in row["whole"]
