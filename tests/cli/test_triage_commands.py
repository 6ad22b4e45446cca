"""`aiops triage show|set` against the session's real PostgreSQL."""

from __future__ import annotations

from aiops.crypto import SecretBox
from tests.cli.conftest import Invoke
from tests.flows.conftest import add_tenant
from warehouse import triage
from warehouse.db import Database


def test_set_changes_only_what_is_given_and_show_lists_it(
    aiops: Invoke, db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)

    turned_on = aiops("triage", "set", tenant_id, "--write-fields", "--threshold", "0.9")
    assert turned_on.exit_code == 0, turned_on.output
    assert "written to the ticket; from 90% confidence" in turned_on.output
    narrowed = aiops("triage", "set", tenant_id, "--field", "priority", "--field", "category")
    assert narrowed.exit_code == 0, narrowed.output
    with db.tenant(tenant_id) as conn:
        policy = triage.get_settings(conn)
    assert policy == triage.TriageSettings(True, 0.9, ("priority", "category"))

    shown = aiops("triage", "show")
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if tenant_id in line)
    assert "on" in line and "90%" in line and "priority, category" in line


def test_bad_input_says_what_to_do_and_changes_nothing(
    aiops: Invoke, db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    unknown = aiops("triage", "set", tenant_id, "--field", "colour")
    assert unknown.exit_code != 0 and "choose from category, priority, type" in unknown.output
    high = aiops("triage", "set", tenant_id, "--threshold", "2")
    assert high.exit_code != 0
    nobody = aiops("triage", "set", f"{tenant_id}-nobody", "--write-fields")
    assert nobody.exit_code != 0 and "aiops tenants list" in nobody.output
    with db.tenant(tenant_id) as conn:
        assert triage.get_settings(conn) == triage.TriageSettings()
