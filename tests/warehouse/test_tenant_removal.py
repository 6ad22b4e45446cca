"""Removing a tenant: operator only, in batches, audited, the other tenant untouched."""

from __future__ import annotations

import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from aiops import tenant_directory
from aiops.crypto import SecretBox
from aiops.embedded import ServiceUrls
from aiops.events import Ticket
from tests.warehouse.test_migrations_and_rls import TENANT_TABLES
from warehouse import tenant_removal
from warehouse.db import Database, NoOperatorError
from warehouse.tenant_context import context_keys
from warehouse.tenants import TenantConfig, create_tenant, list_tenant_ids, publish_tenant
from warehouse.tickets import upsert_tickets

PREFIX = "aiops"


def _counts(db: Database, tenant_id: str) -> dict[str, int]:
    with db.tenant(tenant_id) as conn:
        return {
            t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"]  # type: ignore[index]
            for t in sorted(TENANT_TABLES)
        }


def test_removal_deletes_in_batches_reports_and_audits(
    db: Database,
    box: SecretBox,
    redis_client: redis.Redis,
    service_urls: ServiceUrls,
    pair: tuple[str, str],
) -> None:
    gone, kept = pair
    with db.tenant(gone) as conn:
        upsert_tickets(conn, [Ticket(id=f"more-{i}", subject="disk") for i in range(4)], "test")
    config = create_tenant(db, box, TenantConfig(tenant_id=gone + "-x", display_name="x"))
    publish_tenant(redis_client, PREFIX, box, config)
    publish_tenant(redis_client, PREFIX, box, TenantConfig(gone, gone, webhook_secrets=("s",)))
    kept_before = _counts(db, kept)
    batches: list[int] = []

    removal = tenant_removal.remove_tenant(
        db, redis_client, PREFIX, gone, actor="test:operator", batch_size=2, progress=batches.append
    )

    expected = {**dict.fromkeys(TENANT_TABLES, 1), "ticket_history": 5, "tenants": 1}
    assert removal.removed == expected
    assert len(batches) > 2 and batches[-1] == 0 and sum(batches) == removal.total - 1
    assert gone not in list_tenant_ids(db) and config.tenant_id in list_tenant_ids(db)
    assert set(_counts(db, gone).values()) == {0}
    assert _counts(db, kept) == kept_before
    assert tenant_directory.sealed_secrets(redis_client, PREFIX, gone) is None
    with psycopg.connect(service_urls.operator_database_url, row_factory=dict_row) as conn:
        audit = conn.execute(
            "SELECT action, tenant_id, actor, db_user, finished_at IS NOT NULL AS finished, "
            "removed FROM tenancy.tenant_audit WHERE id = %s",
            (removal.audit_id,),
        ).fetchone()
        created = conn.execute(
            "SELECT actor FROM tenancy.tenant_audit WHERE action = 'create' AND tenant_id = %s",
            (gone,),
        ).fetchone()
    assert audit is not None
    assert (audit["action"], audit["tenant_id"], audit["actor"]) == (
        "delete",
        gone,
        "test:operator",
    )
    assert audit["finished"] and audit["db_user"]
    assert audit["removed"] == expected
    assert created == {"actor": "platform"}


def test_an_unknown_tenant_is_refused(db: Database, redis_client: redis.Redis) -> None:
    with pytest.raises(tenant_removal.UnknownTenantError):
        tenant_removal.remove_tenant(db, redis_client, PREFIX, "no-such-tenant", actor="t")


def test_an_interrupted_removal_is_finished_by_running_it_again(
    db: Database, redis_client: redis.Redis, pair: tuple[str, str]
) -> None:
    gone, _ = pair
    with db.operator() as conn:
        begun = conn.execute(
            "SELECT tenancy.begin_tenant_deletion(%s, 'first try') AS id", (gone,)
        ).fetchone()
        conn.execute("SELECT * FROM tenancy.delete_tenant_batch(%s, 1)", (begun["id"],))  # type: ignore[index]

    removal = tenant_removal.remove_tenant(db, redis_client, PREFIX, gone, actor="second try")

    assert removal.audit_id == begun["id"]  # type: ignore[index]
    assert removal.removed == {**dict.fromkeys(TENANT_TABLES, 1), "tenants": 1}
    assert gone not in list_tenant_ids(db)


def test_without_an_operator_url_tenants_cannot_be_created(
    service_urls: ServiceUrls, box: SecretBox, tenant_id: str
) -> None:
    with (
        Database(service_urls.database_url, context_keys(box).signing, max_size=1) as app_only,
        pytest.raises(NoOperatorError, match="AI_AGENTS_OPERATOR_DATABASE_URL"),
    ):
        create_tenant(app_only, box, TenantConfig(tenant_id=tenant_id, display_name="x"))


def test_the_app_role_as_operator_url_is_refused_with_a_reason(
    service_urls: ServiceUrls, box: SecretBox, tenant_id: str
) -> None:
    app_url = service_urls.database_url
    with (
        Database(app_url, context_keys(box).signing, operator_url=app_url, max_size=1) as db,
        pytest.raises(NoOperatorError, match=r"aiops_app.*granted aiops_operator"),
    ):
        create_tenant(db, box, TenantConfig(tenant_id=tenant_id, display_name="x"))
