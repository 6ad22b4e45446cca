from __future__ import annotations

from aiops.crypto import SecretBox
from aiops.events import Ticket
from flows.indexes import FullBuild, TenantIndexes
from tests.flows.conftest import Clock, add_tenant, seed
from warehouse import tickets
from warehouse.db import Database


def _indexes(db: Database, clock: Clock) -> TenantIndexes[Ticket]:
    return TenantIndexes(
        db,
        version=tickets.index_version,
        source=FullBuild(load=tickets.all_tickets, document=lambda t: (t.id, t.text)),
        ttl_seconds=30,
        clock=clock,
    )


def test_the_index_is_rebuilt_once_the_version_changes_and_the_ttl_has_passed(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    seed(db, tenant_id, history=[Ticket(id="1", subject="Printer jam")])
    clock = Clock()
    indexes = _indexes(db, clock)
    first = indexes.get(tenant_id)
    assert [t.id for t, _ in first.search("printer", 5)] == ["1"]

    seed(db, tenant_id, history=[Ticket(id="2", subject="Printer toner empty")])
    assert indexes.get(tenant_id) is first  # within the TTL: not even the version is read
    clock.now = 31
    rebuilt = indexes.get(tenant_id)
    assert {t.id for t, _ in rebuilt.search("printer", 5)} == {"1", "2"}
    clock.now = 62
    assert indexes.get(tenant_id) is rebuilt  # version unchanged: kept


def test_search_leaves_out_the_ticket_itself(db: Database, box: SecretBox, tenant_id: str) -> None:
    add_tenant(db, box, tenant_id)
    seed(
        db,
        tenant_id,
        history=[Ticket(id="1", subject="VPN drops"), Ticket(id="2", subject="VPN drops hourly")],
    )
    hits = _indexes(db, Clock()).get(tenant_id).search("VPN drops", 1, exclude="1")
    assert [t.id for t, _ in hits] == ["2"]
