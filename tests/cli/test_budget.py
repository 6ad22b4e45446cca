"""`aiops tenants budget`: shows the month's spend against the limit, sets and drops it."""

from __future__ import annotations

from aiops.crypto import SecretBox
from tests.cli.conftest import Invoke
from tests.flows.conftest import add_tenant
from tests.flows.events import event
from warehouse import budgets, enhancements
from warehouse.db import Database
from warehouse.enhancements import Result


def test_budget_shows_sets_and_drops_the_tenants_limit(
    aiops: Invoke, db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    with db.tenant(tenant_id) as conn:
        enhancements.begin(conn, event(tenant_id, "1", "x", event_id="e1"))
        enhancements.finish(conn, "e1", Result(status="stored", cost_usd=3.0))

    shown = aiops("tenants", "budget", tenant_id)
    assert shown.exit_code == 0, shown.output
    assert "no monthly LLM budget; spent $3.00 this month" in shown.output

    set_ = aiops("tenants", "budget", tenant_id, "--usd", "4")
    assert set_.exit_code == 0, set_.output
    assert "$3.00 of $4.00 this month (its own; 75 %)" in set_.output
    with db.tenant(tenant_id) as conn:
        assert budgets.tenant_limit_usd(conn) == 4.0

    dropped = aiops("tenants", "budget", tenant_id, "--default")
    assert dropped.exit_code == 0, dropped.output
    with db.tenant(tenant_id) as conn:
        assert budgets.tenant_limit_usd(conn) is None

    missing = aiops("tenants", "budget", "no-such-tenant", "--usd", "4")
    assert missing.exit_code != 0 and "no tenant 'no-such-tenant'" in missing.output
    both = aiops("tenants", "budget", tenant_id, "--usd", "4", "--default")
    assert both.exit_code != 0 and "not both" in both.output
