from __future__ import annotations

import psycopg
import pytest

from aiops.crypto import SecretBox
from aiops.embedded import ServiceUrls
from aiops.events import Ticket
from warehouse import migrate
from warehouse.db import Database, TenantConnection, UnsafeRoleError
from warehouse.tenants import TenantConfig, create_tenant, get_tenant
from warehouse.tickets import all_tickets, upsert_tickets

TENANT_TABLES = {
    "tenant_configs",
    "ticket_history",
    "kb_articles",
    "system_inventory",
    "enhancement_history",
    "api_keys",
    "llm_spend",
    "triage_settings",
    "agents",
    "agent_versions",
    "agent_test_cases",
    "agent_deployments",
    "sandbox_runs",
    "sandbox_jobs",
    "note_feedback",
}


def _tables(url: str) -> dict[str, tuple[bool, bool]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
        ).fetchall()
    return {name: (rls, forced) for name, rls, forced in rows}


def _count(conn: TenantConnection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row["n"])


def test_every_tenant_table_has_forced_rls(service_urls: ServiceUrls) -> None:
    tables = _tables(service_urls.migration_database_url)
    for table in TENANT_TABLES:
        assert tables[table] == (True, True), table


def test_app_role_cannot_bypass_rls(service_urls: ServiceUrls) -> None:
    with psycopg.connect(service_urls.database_url) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert row == (False, False)


def test_owner_connection_is_refused_as_app_database(service_urls: ServiceUrls) -> None:
    database = Database(service_urls.migration_database_url, b"k" * 32)
    with pytest.raises(UnsafeRoleError, match="bypasses row-level security"):
        database.open()
    database.close()


def test_tenant_cannot_read_or_write_another_tenants_rows(db: Database, box: SecretBox) -> None:
    for tid in ("rls-a", "rls-b"):
        create_tenant(db, box, TenantConfig(tenant_id=tid, display_name=tid))
        with db.tenant(tid) as conn:
            upsert_tickets(conn, [Ticket(id=f"{tid}-1", subject=f"printer of {tid}")], "test")

    with db.tenant("rls-a") as conn:
        assert [t.id for t in all_tickets(conn)] == ["rls-a-1"]
        assert _count(conn, "SELECT count(*) AS n FROM tenant_configs") == 1
        # Even an explicit predicate on the other tenant finds nothing.
        assert (
            _count(conn, "SELECT count(*) AS n FROM ticket_history WHERE tenant_id = 'rls-b'") == 0
        )
        updated = conn.execute(
            "UPDATE ticket_history SET subject = 'pwned' WHERE tenant_id = 'rls-b'"
        )
        assert updated.rowcount == 0

    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.tenant("rls-a") as conn:
        conn.execute(
            "INSERT INTO ticket_history (tenant_id, ticket_id) VALUES ('rls-b', 'planted')"
        )

    with db.tenant("rls-b") as conn:
        assert [t.subject for t in all_tickets(conn)] == ["printer of rls-b"]

    with db.platform() as conn:
        assert _count(conn, "SELECT count(*) AS n FROM ticket_history") == 0

    assert get_tenant(db, box, "rls-a") is not None
    with db.tenant("rls-a") as conn:
        row = conn.execute("SELECT webhook_secrets_enc FROM tenant_configs").fetchone()
    assert row is not None
    assert b"whsec_" not in bytes(row["webhook_secrets_enc"])


def test_migrations_downgrade_and_upgrade_again(service_urls: ServiceUrls) -> None:
    owner = service_urls.migration_database_url
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS aiops_migrations_test")
        conn.execute("CREATE DATABASE aiops_migrations_test")
    scratch = owner.replace("/aiops?", "/aiops_migrations_test?")
    try:
        migrate.upgrade(scratch)
        assert set(_tables(scratch)) >= TENANT_TABLES
        migrate.downgrade(scratch)
        assert set(_tables(scratch)) <= {"alembic_version"}
        migrate.upgrade(scratch)
        assert set(_tables(scratch)) >= TENANT_TABLES
    finally:
        with psycopg.connect(owner, autocommit=True) as conn:
            conn.execute("DROP DATABASE aiops_migrations_test WITH (FORCE)")
