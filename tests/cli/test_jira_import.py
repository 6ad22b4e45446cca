"""`aiops history import` of a Jira CSV export as Jira writes it."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Invoke
from warehouse.db import Database

EXPORT = (
    Path(__file__).resolve().parents[1] / "fixtures" / "itsm" / "jira" / "jira_cloud_export.csv"
)


def test_a_jira_export_is_imported_with_the_fix_text_as_resolution(
    aiops: Invoke, db: Database, tenant_id: str
) -> None:
    assert aiops("tenants", "create", tenant_id, "--name", "Jira importer").exit_code == 0

    result = aiops("history", "import", str(EXPORT), "--tenant", tenant_id)

    assert result.exit_code == 0, result.output
    assert "Imported 3 tickets" in result.output
    with db.tenant(tenant_id) as conn:
        rows = {
            r["ticket_id"]: r
            for r in conn.execute(
                "SELECT ticket_id, subject, description, resolution, category, priority, "
                "status, tags, extra, created_at, resolved_at FROM ticket_history"
            ).fetchall()
        }
    assert set(rows) == {"HELP-8", "HELP-43", "HELP-51"}  # issue keys, as webhooks name them
    vpn = rows["HELP-8"]
    assert vpn["resolution"].startswith("Root cause: the split-tunnel profile")
    assert "vpn-remote-v7" in vpn["resolution"] and "{{" not in vpn["resolution"]
    assert vpn["extra"]["resolution_name"] == "Done"
    assert vpn["description"].startswith("Since this morning the VPN client disconnects")
    assert "h3." not in vpn["description"]
    assert vpn["tags"] == ["vpn", "remote-work"]
    assert (vpn["category"], vpn["priority"], vpn["status"]) == (
        "[System] Incident",
        "High",
        "Resolved",
    )
    assert vpn["created_at"].isoformat() == "2024-11-19T08:10:00+00:00"
    assert vpn["resolved_at"] is not None
    assert rows["HELP-43"]["resolution"].startswith("Replaced the network cable")
    # No comment: nothing says what fixed it; the name is kept as the name, not as a fix.
    assert rows["HELP-51"]["resolution"] is None
    assert rows["HELP-51"]["extra"]["resolution_name"] == "Won't Do"
