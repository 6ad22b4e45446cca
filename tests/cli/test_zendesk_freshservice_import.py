"""`aiops history import` of Zendesk's and Freshservice's CSV exports as they write them."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Invoke
from warehouse.db import Database

OWN = Path(__file__).resolve().parents[1] / "fixtures" / "itsm"


def _rows(db: Database, tenant_id: str) -> dict[str, dict[str, object]]:
    with db.tenant(tenant_id) as conn:
        found = conn.execute(
            "SELECT ticket_id, subject, description, resolution, category, priority, status, "
            "tags, created_at, resolved_at FROM ticket_history"
        ).fetchall()
    return {str(r["ticket_id"]): dict(r) for r in found}


def test_a_zendesk_export_is_imported_with_space_separated_tags(
    aiops: Invoke, db: Database, tenant_id: str
) -> None:
    assert aiops("tenants", "create", tenant_id, "--name", "Zendesk importer").exit_code == 0
    export = OWN / "zendesk" / "zendesk_export.csv"
    result = aiops("history", "import", str(export), "--tenant", tenant_id)
    assert result.exit_code == 0, result.output
    assert "Imported 2 tickets" in result.output
    rows = _rows(db, tenant_id)
    outlook = rows["35410"]
    assert outlook["subject"] == "Outlook asks for the password every few minutes"
    assert outlook["tags"] == ["outlook", "mfa"]
    assert (outlook["category"], outlook["priority"], outlook["status"]) == (
        "Incident",
        "High",
        "Solved",
    )
    assert str(outlook["resolved_at"]).startswith("2026-02-20 11:02")
    assert outlook["resolution"] is None  # Zendesk's CSV carries no comments


def test_a_freshservice_export_is_imported_with_its_resolution_notes(
    aiops: Invoke, db: Database, tenant_id: str
) -> None:
    created = aiops(
        "tenants", "create", tenant_id, "--name", "Freshservice importer", "--itsm", "freshservice"
    )
    assert created.exit_code == 0, created.output
    export = OWN / "freshservice" / "freshservice_export.csv"
    result = aiops("history", "import", str(export), "--tenant", tenant_id)
    assert result.exit_code == 0, result.output
    rows = _rows(db, tenant_id)
    # The export shows "INC-1001"; webhooks and the API name the ticket 1001: one row.
    assert set(rows) == {"1001", "205"}
    search = rows["1001"]
    assert str(search["resolution"]).startswith("Rebuilt the Windows Search index")
    assert search["tags"] == ["outlook", "search"]
    assert str(search["resolved_at"]).startswith("2026-02-10 11:40")
    assert rows["205"]["category"] == "Access"
