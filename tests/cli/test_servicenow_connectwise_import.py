"""`aiops history import` of a ServiceNow incident export and a ConnectWise board export,
as those systems write them: the ids are the ones their webhooks name a ticket by."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.conftest import Invoke
from warehouse.db import Database

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "itsm"


def _imported(aiops: Invoke, db: Database, tenant_id: str, export: Path) -> dict[str, Any]:
    assert aiops("tenants", "create", tenant_id, "--name", "importer").exit_code == 0
    result = aiops("history", "import", str(export), "--tenant", tenant_id)
    assert result.exit_code == 0, result.output
    with db.tenant(tenant_id) as conn:
        return {
            r["ticket_id"]: r
            for r in conn.execute(
                "SELECT ticket_id, subject, description, resolution, priority, status, extra, "
                "created_at, resolved_at FROM ticket_history"
            ).fetchall()
        }


def test_a_servicenow_export_is_keyed_by_sys_id_with_close_notes_as_resolution(
    aiops: Invoke, db: Database, tenant_id: str
) -> None:
    rows = _imported(
        aiops, db, tenant_id, FIXTURES / "servicenow" / "servicenow_incident_export.csv"
    )
    assert len(rows) == 3
    outlook = rows["9d385017c611228701d22104cc95c371"]
    assert outlook["subject"] == "Outlook keeps asking for the password"
    assert outlook["resolution"].startswith("Cleared the cached credentials")
    assert outlook["extra"]["number"] == "INC0010023"
    assert outlook["extra"]["close_code"] == "Solved (Permanently)"  # kept, not the fix text
    assert outlook["created_at"].isoformat() == "2026-11-02T08:14:02+00:00"
    assert outlook["resolved_at"] is not None


def test_a_connectwise_export_is_keyed_by_ticket_number(
    aiops: Invoke, db: Database, tenant_id: str
) -> None:
    rows = _imported(
        aiops, db, tenant_id, FIXTURES / "connectwise" / "connectwise_ticket_export.csv"
    )
    assert set(rows) == {"250314", "250377"}
    drive = rows["250377"]
    assert drive["subject"] == "Shared drive S: not mapping at logon"
    assert drive["resolution"].startswith("The GPO drive map pointed at the retired file server")
    assert drive["created_at"].isoformat() == "2026-12-01T07:55:00+00:00"
    assert drive["resolved_at"].isoformat() == "2026-12-01T09:30:00+00:00"
    assert drive["extra"]["Company"] == "Fabrikam"
