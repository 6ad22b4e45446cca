"""The triage policy through the API, and skipped noise and suggestions in the history."""

from __future__ import annotations

from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from tests.flows.conftest import add_tenant
from tests.flows.events import event
from warehouse import enhancements, triage
from warehouse.api_keys import create_key
from warehouse.db import Database


def test_a_tenant_admin_key_sets_the_policy_and_a_read_key_only_reads_it(
    client: TestClient, auth: dict[str, str], db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    url = f"/tenants/{tenant_id}/triage"
    with db.tenant(tenant_id) as conn:
        admin = create_key(conn, "ops", "admin")
        reader = create_key(conn, "dash", "read")
    as_admin = {"Authorization": f"Bearer {admin.token}"}
    as_reader = {"Authorization": f"Bearer {reader.token}"}

    first = client.get(url, headers=as_reader)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "write_fields": False,
        "threshold": 0.8,
        "fields": ["category", "priority", "type"],
    }
    put = client.put(url, json={"write_fields": True, "threshold": 0.9}, headers=as_admin)
    assert put.status_code == 200, put.text
    assert put.json() == {
        "write_fields": True,
        "threshold": 0.9,
        "fields": ["category", "priority", "type"],
    }
    only = client.put(url, json={"fields": ["priority"]}, headers=auth)
    assert only.json() == {"write_fields": True, "threshold": 0.9, "fields": ["priority"]}
    assert client.put(url, json={"write_fields": False}, headers=as_reader).status_code == 403
    for bad in ({"threshold": 0}, {"threshold": 1.5}, {"fields": ["colour"]}, {"other": 1}):
        assert client.put(url, json=bad, headers=as_admin).status_code == 422, bad
    with db.tenant(tenant_id) as conn:
        assert triage.get_settings(conn).fields == ("priority",)


def test_the_history_shows_why_noise_was_skipped_and_the_suggestions(
    client: TestClient, auth: dict[str, str], db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    suggestion = {"field": "category", "value": "Email", "confidence": 0.83}
    with db.tenant(tenant_id) as conn:
        enhancements.begin(conn, event(tenant_id, "1", "Auto-Reply: hi", event_id="noise-1"))
        triage.record_skipped(
            conn, "noise-1", "auto_reply", {"noise": {"reason": "auto_reply"}}, {"total": 1.0}
        )
        enhancements.begin(conn, event(tenant_id, "2", "Outlook", event_id="real-1"))
        enhancements.finish(
            conn,
            "real-1",
            enhancements.Result(status="succeeded"),
            {"suggestions": [suggestion], "written": {}},
        )

    listed = client.get(f"/tenants/{tenant_id}/enhancements", headers=auth).json()
    by_id = {row["event_id"]: row for row in listed}
    assert by_id["noise-1"]["status"] == "skipped"
    assert by_id["noise-1"]["skip_reason"] == "auto_reply"
    detail = client.get(f"/tenants/{tenant_id}/enhancements/real-1", headers=auth).json()
    assert detail["triage"]["suggestions"] == [suggestion]
