"""`aiops history show`: recent enhancements of one tenant, and one event in full."""

from __future__ import annotations

from typing import Any

from aiops.events import Event, Ticket, utcnow
from tests.cli.conftest import Invoke
from warehouse import enhancements, triage
from warehouse.db import Database


def _record(db: Database, tenant_id: str, event_id: str, ticket_id: str, **result: Any) -> None:
    event = Event(
        event_id=event_id,
        tenant_id=tenant_id,
        source="servicedesk",
        kind="created",
        ticket=Ticket(id=ticket_id, subject="Printer offline"),
        received_at=utcnow(),
    )
    with db.tenant(tenant_id) as conn:
        enhancements.begin(conn, event)
        enhancements.finish(conn, event_id, enhancements.Result(**result))


def test_recent_and_one_event_in_detail(aiops: Invoke, tenant_id: str, db: Database) -> None:
    assert aiops("tenants", "create", tenant_id, "--name", "Shown").exit_code == 0
    _record(
        db, tenant_id, "ev-ok", "4711",
        status="stored", synthesizer="offline", output="Restart the spooler on PRINT01.",
        timings={"gather": 1200.5, "synthesize": 2700.0, "total": 3932.62},
        context={"similar_tickets": [{"id": "1"}, {"id": "2"}]},
    )  # fmt: skip
    _record(
        db, tenant_id, "ev-bad", "4712",
        status="failed", error="ServiceDesk Plus answered 401", error_kind="permanent",
    )  # fmt: skip

    recent = aiops("history", "show", "--tenant", tenant_id)
    one = aiops("history", "show", "--tenant", tenant_id, "--event", "ev-ok")
    only_ticket = aiops("history", "show", "--tenant", tenant_id, "--ticket", "4712")
    only_failed = aiops("history", "show", "--tenant", tenant_id, "--status", "failed")

    assert recent.exit_code == 0, recent.output
    for text in ("ev-ok", "ev-bad", "stored", "failed", "3.93s", "answered 401"):
        assert text in recent.output
    assert "3932" not in recent.output  # the flow records milliseconds; shown as seconds
    assert one.exit_code == 0, one.output
    assert "Restart the spooler on PRINT01." in one.output
    assert "similar_tickets: 2 items" in one.output
    assert "ev-ok" not in only_ticket.output and "ev-bad" in only_ticket.output
    assert only_failed.exit_code == 0, only_failed.output
    assert "ev-ok" not in only_failed.output and "ev-bad" in only_failed.output


def test_other_tenants_events_are_not_found(aiops: Invoke, tenant_id: str, db: Database) -> None:
    other = tenant_id + "-other"
    for tid in (tenant_id, other):
        assert aiops("tenants", "create", tid, "--name", tid).exit_code == 0
    _record(db, other, "ev-theirs", "1", status="stored", output="secret plans")

    mine = aiops("history", "show", "--tenant", tenant_id)
    theirs = aiops("history", "show", "--tenant", tenant_id, "--event", "ev-theirs")

    assert "ev-theirs" not in mine.output
    assert theirs.exit_code == 1
    assert "secret plans" not in theirs.output


def test_skipped_noise_says_why_it_got_no_note(aiops: Invoke, tenant_id: str, db: Database) -> None:
    assert aiops("tenants", "create", tenant_id, "--name", "Noisy").exit_code == 0
    _record(db, tenant_id, "ev-ooo", "4720", status="processing")
    with db.tenant(tenant_id) as conn:
        triage.record_skipped(conn, "ev-ooo", "out_of_office", {"noise": {}}, {"total": 3.0})

    recent = aiops("history", "show", "--tenant", tenant_id)
    one = aiops("history", "show", "--tenant", tenant_id, "--event", "ev-ooo")

    assert "skipped" in recent.output and "no note: out_of_office" in recent.output
    assert "no note      out_of_office" in one.output
