"""The tenant's triage priors: counted from its own history (real PostgreSQL, under RLS),
read again only once the TTL has passed."""

from __future__ import annotations

from aiops.crypto import SecretBox
from aiops.events import Ticket
from flows.triage_priors import HistoryPriors
from tests.flows.conftest import Clock, add_tenant, seed
from warehouse.db import Database


def _ticket(tid: str, priority: str | None, **extra: str) -> Ticket:
    return Ticket(id=tid, subject=f"ticket {tid}", priority=priority, extra=extra)


def test_priors_count_each_field_per_tenant_and_follow_the_history_after_the_ttl(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    other = f"{tenant_id}-b"
    add_tenant(db, box, tenant_id)
    add_tenant(db, box, other)
    seed(
        db,
        tenant_id,
        history=[
            _ticket("1", "High", request_type="Incident"),
            _ticket("2", "High", issue_type="Bug"),
            _ticket("3", " ", type="Incident"),
            _ticket("4", None),
            # An import keeps a column it did not map under the export's own header.
            Ticket(id="6", subject="imported", extra={"Ticket type": "Question"}),
        ],
    )
    seed(db, other, history=[_ticket("9", "Low")])
    clock = Clock()
    priors = HistoryPriors(ttl_seconds=300, clock=clock)

    with db.tenant(tenant_id) as conn:
        first = priors.get(conn, tenant_id)
    assert first == {
        "category": {},
        "priority": {"High": 2},
        "type": {"Incident": 2, "Bug": 1, "Question": 1},
    }
    with db.tenant(other) as conn:
        assert priors.get(conn, other)["priority"] == {"Low": 1}

    seed(db, tenant_id, history=[_ticket("5", "Low")])
    with db.tenant(tenant_id) as conn:
        assert priors.get(conn, tenant_id) is first  # within the TTL: not counted again
    clock.now = 301
    with db.tenant(tenant_id) as conn:
        assert priors.get(conn, tenant_id)["priority"] == {"High": 2, "Low": 1}
