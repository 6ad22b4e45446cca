"""SQL run as the application role, aimed at another tenant's rows, in every tenant table.

test_migrations_and_rls.py covers ticket_history reads, updates and inserts; this adds every
other tenant table, deletes, moving one's own rows to another tenant, and a session with no
tenant set, with api_keys throughout.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.warehouse.test_migrations_and_rls import TENANT_TABLES
from warehouse.db import Database

TABLES = tuple(sorted(TENANT_TABLES))


def _counts(db: Database, tenant_id: str) -> dict[str, int]:
    with db.tenant(tenant_id) as conn:
        return {
            table: conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]  # type: ignore[index]
            for table in TABLES
        }


@pytest.mark.parametrize("table", TABLES)
def test_explicit_predicates_on_the_other_tenant_find_change_and_delete_nothing(
    db: Database, pair: tuple[str, str], table: str
) -> None:
    mine, theirs = pair
    before = _counts(db, theirs)

    with db.tenant(mine) as conn:
        seen = conn.execute(f"SELECT * FROM {table} WHERE tenant_id = %s", (theirs,)).fetchall()
        updated = conn.execute(
            f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = %s", (theirs,)
        ).rowcount
        deleted = conn.execute(f"DELETE FROM {table} WHERE tenant_id = %s", (theirs,)).rowcount
        everything = conn.execute(f"DELETE FROM {table} WHERE true RETURNING tenant_id")
        only_mine = {row["tenant_id"] for row in everything.fetchall()}
        raise psycopg.Rollback()  # keep my rows too: that delete was only to see its reach

    assert (seen, updated, deleted) == ([], 0, 0)
    assert only_mine == {mine}
    assert _counts(db, theirs) == before == dict.fromkeys(TABLES, 1)


@pytest.mark.parametrize("table", TABLES)
def test_a_session_without_a_tenant_sees_and_changes_nothing(
    db: Database, pair: tuple[str, str], table: str
) -> None:
    with db.platform() as conn:
        seen = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()
        deleted = conn.execute(f"DELETE FROM {table}").rowcount
        # Had RLS failed, that delete would have reached every tenant of the session.
        raise psycopg.Rollback()
    assert (seen, deleted) == ({"n": 0}, 0)
    for tid in pair:
        assert _counts(db, tid) == dict.fromkeys(TABLES, 1)


PLANTED = {
    "api_keys": (
        "INSERT INTO api_keys (key_id, tenant_id, name, scope, secret_sha256) "
        "VALUES ('planted0key', %s, 'planted', 'admin', '\\x00')"
    ),
    "enhancement_history": (
        "INSERT INTO enhancement_history (tenant_id, event_id, ticket_id, source, kind, status,"
        " ticket) VALUES (%s, 'planted', '1', 'servicedesk', 'created', 'stored', '{}')"
    ),
    "kb_articles": "INSERT INTO kb_articles (tenant_id, article_id, title) VALUES (%s, 'p', 'p')",
    "llm_spend": "INSERT INTO llm_spend (tenant_id, event_id, cost_usd) VALUES (%s, 'p', 1)",
    "system_inventory": "INSERT INTO system_inventory (tenant_id, hostname) VALUES (%s, 'p')",
    "ticket_history": "INSERT INTO ticket_history (tenant_id, ticket_id) VALUES (%s, 'planted')",
    "triage_settings": "INSERT INTO triage_settings (tenant_id, write_fields) VALUES (%s, true)",
    "tenant_configs": (
        "INSERT INTO tenant_configs (tenant_id, display_name, webhook_secrets_enc) "
        "VALUES (%s, 'planted', '\\x00')"
    ),
    "agents": "INSERT INTO agents (tenant_id, agent_id, name) VALUES (%s, 'planted', 'p')",
    # Pointing at the other tenant's agent "helper" (tests/warehouse/conftest.py).
    "agent_versions": (
        "INSERT INTO agent_versions (tenant_id, agent_id, version, spec, created_by) "
        "VALUES (%s, 'helper', 9, '{}', 'planted')"
    ),
    "agent_test_cases": (
        "INSERT INTO agent_test_cases (tenant_id, agent_id, version, name, ticket, expectations)"
        " VALUES (%s, 'helper', 1, 'planted', '{}', '[]')"
    ),
    "agent_deployments": (
        "INSERT INTO agent_deployments (tenant_id, agent_id, action, version, actor) "
        "VALUES (%s, 'helper', 'activate', 1, 'planted')"
    ),
    "sandbox_runs": (
        "INSERT INTO sandbox_runs (tenant_id, run_id, agent_id, version, kind, ticket_id, "
        "status, ms, stages) VALUES (%s, 'planted', 'helper', 1, 'sandbox', '1', 'ok', 1, '[]')"
    ),
    "sandbox_jobs": (
        "INSERT INTO sandbox_jobs (tenant_id, job_id, agent_id, version, kind, actor) "
        "VALUES (%s, 'planted', 'helper', 1, 'sandbox', 'planted')"
    ),
    "note_feedback": (
        "INSERT INTO note_feedback (tenant_id, event_id, helpful, via) "
        "VALUES (%s, 'planted', true, 'api')"
    ),
}


def test_every_tenant_table_has_a_planting_case() -> None:
    assert set(PLANTED) == set(TABLES)


@pytest.mark.parametrize("table", sorted(PLANTED))
def test_rows_cannot_be_planted_in_the_other_tenant(
    db: Database, pair: tuple[str, str], table: str
) -> None:
    mine, theirs = pair

    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.tenant(mine) as conn:
        conn.execute(PLANTED[table], (theirs,))
    with db.platform() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(PLANTED[table], (theirs,))

    assert _counts(db, theirs) == dict.fromkeys(TABLES, 1)
    assert _counts(db, mine) == dict.fromkeys(TABLES, 1)


@pytest.mark.parametrize("table", TABLES)
def test_rows_cannot_be_moved_to_the_other_tenant(
    db: Database, pair: tuple[str, str], table: str
) -> None:
    mine, theirs = pair

    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.tenant(mine) as conn:
        conn.execute(f"UPDATE {table} SET tenant_id = %s", (theirs,))

    assert _counts(db, theirs) == dict.fromkeys(TABLES, 1)
    assert _counts(db, mine) == dict.fromkeys(TABLES, 1)
