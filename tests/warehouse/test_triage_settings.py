"""triage_settings under row-level security: one tenant's policy is invisible to another
(planting and moving rows: test_rls_cross_tenant), and what a policy cannot be is refused."""

from __future__ import annotations

import pytest

from aiops.crypto import SecretBox
from tests.flows.conftest import add_tenant
from warehouse import triage
from warehouse.db import Database


def test_a_tenant_sees_and_changes_only_its_own_policy(
    db: Database, box: SecretBox, tenant_id: str
) -> None:
    other = f"{tenant_id}-b"
    add_tenant(db, box, tenant_id)
    add_tenant(db, box, other)
    with db.tenant(tenant_id) as conn:
        triage.set_settings(conn, write_fields=True, threshold=0.6)
    with db.tenant(other) as conn:
        assert triage.get_settings(conn) == triage.TriageSettings()
        seen = conn.execute("SELECT count(*) AS n FROM triage_settings").fetchone()
        assert seen is not None and seen["n"] == 0
        changed = conn.execute(
            "UPDATE triage_settings SET threshold = 0.1 WHERE tenant_id = %s", (tenant_id,)
        )
        assert changed.rowcount == 0
    with db.tenant(tenant_id) as conn:
        assert triage.get_settings(conn) == triage.TriageSettings(True, 0.6)


@pytest.mark.parametrize(
    "changes", [{"threshold": 0.0}, {"threshold": 1.2}, {"fields": ["priority", "colour"]}]
)
def test_values_outside_the_policy_are_refused_with_what_is_allowed(
    db: Database, box: SecretBox, tenant_id: str, changes: dict[str, object]
) -> None:
    add_tenant(db, box, tenant_id)
    with pytest.raises(ValueError), db.tenant(tenant_id) as conn:
        triage.set_settings(conn, **changes)  # type: ignore[arg-type]
