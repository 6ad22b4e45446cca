"""warehouse.triage.recent_tickets: of a tenant's recent tickets, those that may resemble a
new one. A ticket whose stored signature is well formed and shares nothing with the new
ticket's is left out; one whose stored signature flows.incidents cannot read comes back, to
be compared by its text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiops.crypto import SecretBox
from aiops.events import Event, Ticket
from flows.incidents import Signature
from tests.flows.conftest import add_tenant
from warehouse import enhancements, triage
from warehouse.db import Database, TenantConnection

_NOW = datetime.now(UTC)
_MINE = {"hosts": ["srv-fs01"], "errors": ["0x80070005"], "services": ["vpn"]}
_DISJOINT = '{"hosts": ["srv-dc02"], "errors": ["1603"], "services": ["email"]}'


def _arrived(
    conn: TenantConnection, tenant_id: str, ticket_id: str, minutes_ago: int, stored: str | None
) -> str:
    """A created event of `ticket_id`, with `stored` (JSON) as its stored signature."""
    event = Event(
        event_id=f"{tenant_id}-{ticket_id}-{minutes_ago}",
        tenant_id=tenant_id,
        source="servicedesk",
        kind="created",
        ticket=Ticket(id=ticket_id, subject=f"Subject {ticket_id}", description="Body"),
        received_at=_NOW - timedelta(minutes=minutes_ago),
    )
    enhancements.begin(conn, event)
    if stored is not None:
        conn.execute(
            "UPDATE enhancement_history SET triage = jsonb_build_object('signature', %s::jsonb)"
            " WHERE event_id = %s",
            (stored, event.event_id),
        )
    return event.event_id


def test_only_tickets_that_may_resemble_the_new_one_come_back(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    stored = {
        "1": '{"hosts": ["srv-fs01", "srv-x"], "errors": [], "services": []}',
        "2": '{"hosts": [], "errors": [], "services": ["vpn", "email"]}',
        "3": _DISJOINT,
        "4": None,
        "5": '"not an object"',
        "6": '{"hosts": "srv-dc02", "errors": [], "services": []}',
        "7": '{"hosts": [1], "errors": [], "services": []}',
        "8": '{"hosts": [["srv-dc02"]], "errors": [], "services": []}',
        "9": '{"hosts": [], "errors": []}',
        "10": '{"hosts": [], "errors": ["0x80070005"], "services": []}',
    }
    with db.tenant(tenant_id) as conn:
        ids = {t: _arrived(conn, tenant_id, t, 40 - int(t), raw) for t, raw in stored.items()}
        # Each ticket counts at its first receipt: "11" first arrived unlike the new one,
        # "12" first arrived like it.
        _arrived(conn, tenant_id, "11", 12, _DISJOINT)
        _arrived(conn, tenant_id, "11", 2, stored["1"])
        first_12 = _arrived(conn, tenant_id, "12", 11, stored["1"])
        _arrived(conn, tenant_id, "12", 1, _DISJOINT)
        _arrived(conn, tenant_id, "99", 3, stored["1"])  # the new ticket itself

        rows = triage.recent_tickets(conn, _NOW, timedelta(minutes=60), "99", _MINE)

    assert [r.ticket_id for r in rows] == ["12", "10", "9", "8", "7", "6", "5", "4", "2", "1"]
    assert {r.ticket_id: r.event_id for r in rows}["12"] == first_12
    by_ticket = {r.ticket_id: r for r in rows}
    assert all(by_ticket[t].event_id == ids[t] for t in by_ticket if t in ids)
    # What came back unreadable is what flows.incidents compares by text.
    unreadable = {r.ticket_id for r in rows if Signature.from_dict(r.signature) is None}
    assert unreadable == {"4", "5", "6", "7", "8", "9"}
    assert {r.ticket_id for r in rows if r.text is not None} == {"4", "5"}


def test_a_signature_with_nothing_in_it_shares_nothing(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    with db.tenant(tenant_id) as conn:
        _arrived(conn, tenant_id, "1", 5, _DISJOINT)
        _arrived(conn, tenant_id, "2", 4, None)
        empty: dict[str, list[str]] = {"hosts": [], "errors": [], "services": []}
        rows = triage.recent_tickets(conn, _NOW, timedelta(minutes=30), "99", empty)
    assert [r.ticket_id for r in rows] == ["2"]
