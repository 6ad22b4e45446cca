"""A tenant's enhancements and ticket history, scoped to that tenant by PostgreSQL RLS."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from aiops.events import Event, Ticket, utcnow
from warehouse import enhancements
from warehouse.db import Database


@pytest.fixture()
def two_tenants(client: TestClient, auth: dict[str, str], tenant_id: str) -> tuple[str, str]:
    ids = (tenant_id, tenant_id + "-b")
    for tid in ids:
        body = {"tenant_id": tid, "display_name": tid, "webhook_secret": "x" * 32}
        assert client.post("/tenants", json=body, headers=auth).status_code == 201
    return ids


def _record(db: Database, tenant_id: str, event_id: str, ticket_id: str, output: str) -> None:
    event = Event(
        event_id=event_id,
        tenant_id=tenant_id,
        source="servicedesk",
        kind="created",
        ticket=Ticket(id=ticket_id, subject="Disk full"),
        received_at=utcnow(),
    )
    with db.tenant(tenant_id) as conn:
        enhancements.begin(conn, event)
        enhancements.finish(
            conn,
            event_id,
            enhancements.Result(
                status="stored",
                output=output,
                synthesizer="offline",
                timings={"total": 0.4},
                context={"similar_tickets": []},
                cost_usd=0.0012,
            ),
        )


def test_enhancements_are_listed_per_tenant_only(
    client: TestClient, auth: dict[str, str], two_tenants: tuple[str, str], db: Database
) -> None:
    mine, theirs = two_tenants
    _record(db, mine, "ev-a1", "100", "Mine: rotate the logs")
    _record(db, mine, "ev-a2", "101", "Mine: extend the volume")
    _record(db, theirs, "ev-b1", "100", "Theirs: confidential")

    listed = client.get(f"/tenants/{mine}/enhancements", headers=auth)
    by_ticket = client.get(f"/tenants/{mine}/enhancements?ticket_id=100", headers=auth)
    one = client.get(f"/tenants/{mine}/enhancements/ev-a1", headers=auth)
    foreign = client.get(f"/tenants/{mine}/enhancements/ev-b1", headers=auth)

    assert listed.status_code == 200
    assert sorted(e["event_id"] for e in listed.json()) == ["ev-a1", "ev-a2"]
    assert "output" not in listed.json()[0]
    assert [e["event_id"] for e in by_ticket.json()] == ["ev-a1"]
    assert one.json()["output"] == "Mine: rotate the logs"
    assert one.json()["cost_usd"] == pytest.approx(0.0012)
    assert foreign.status_code == 404
    assert "confidential" not in foreign.text


def test_ticket_history_bulk_upsert(
    client: TestClient, auth: dict[str, str], two_tenants: tuple[str, str], db: Database
) -> None:
    mine, theirs = two_tenants
    batch: dict[str, list[dict[str, object]]] = {
        "tickets": [
            {"id": "H-1", "subject": "VPN drops", "resolution": "Raised DPD timeout"},
            {"id": "H-2", "subject": "Printer offline", "tags": ["printing"],
             "created_at": "2024-03-01T10:00:00Z"},
        ]
    }  # fmt: skip

    first = client.post(f"/tenants/{mine}/tickets", json=batch, headers=auth)
    batch["tickets"][0]["resolution"] = "Replaced the router"
    second = client.post(f"/tenants/{mine}/tickets", json=batch, headers=auth)
    unknown_field = client.post(
        f"/tenants/{mine}/tickets", json={"tickets": [{"id": "x", "colour": "red"}]}, headers=auth
    )
    empty = client.post(f"/tenants/{mine}/tickets", json={"tickets": []}, headers=auth)

    assert first.json() == {"upserted": 2}
    assert second.json() == {"upserted": 2}
    assert unknown_field.status_code == 422
    assert empty.status_code == 422
    with db.tenant(mine) as conn:
        rows = conn.execute(
            "SELECT ticket_id, resolution, source FROM ticket_history ORDER BY ticket_id"
        ).fetchall()
    assert [(r["ticket_id"], r["resolution"], r["source"]) for r in rows] == [
        ("H-1", "Replaced the router", "api"),
        ("H-2", None, "api"),
    ]
    with db.tenant(theirs) as conn:
        assert conn.execute("SELECT count(*) AS n FROM ticket_history").fetchone() == {"n": 0}
