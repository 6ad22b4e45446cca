"""DELETE /tenants/{id}: the platform admin token only; reports what went, audited."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from aiops.embedded import ServiceUrls
from warehouse.db import Database
from warehouse.tenants import list_tenant_ids


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_admin_token_removes_a_tenant_and_gets_the_counts(
    client: TestClient,
    auth: dict[str, str],
    tenant_id: str,
    db: Database,
    service_urls: ServiceUrls,
) -> None:
    body = {"tenant_id": tenant_id, "display_name": "Gone Ltd", "webhook_secret": "x" * 32}
    assert client.post("/tenants", json=body, headers=auth).status_code == 201
    key = client.post(
        f"/tenants/{tenant_id}/api-keys", json={"name": "ops", "scope": "admin"}, headers=auth
    )
    tenant_admin = _bearer(key.json()["token"])

    refused = client.delete(f"/tenants/{tenant_id}", headers=tenant_admin)
    removed = client.delete(f"/tenants/{tenant_id}", headers=auth)
    again = client.delete(f"/tenants/{tenant_id}", headers=auth)

    assert refused.status_code == 403, refused.text
    assert removed.status_code == 200, removed.text
    answer = removed.json()
    assert answer["removed"] == {"tenant_configs": 1, "api_keys": 1, "tenants": 1}
    assert again.status_code == 404
    assert tenant_id not in list_tenant_ids(db)
    assert client.get(f"/tenants/{tenant_id}", headers=tenant_admin).status_code == 401
    with psycopg.connect(service_urls.operator_database_url) as conn:
        row = conn.execute(
            "SELECT actor, removed FROM tenancy.tenant_audit WHERE id = %s",
            (answer["audit_id"],),
        ).fetchone()
    assert row is not None and row[0] == "api:platform-admin"
    assert {table: n for table, n in row[1].items() if n} == answer["removed"]


def test_without_a_token_nothing_is_removed(
    client: TestClient, auth: dict[str, str], tenant_id: str, db: Database
) -> None:
    body = {"tenant_id": tenant_id, "display_name": "Kept Ltd", "webhook_secret": "x" * 32}
    assert client.post("/tenants", json=body, headers=auth).status_code == 201

    assert client.delete(f"/tenants/{tenant_id}").status_code == 401
    assert client.delete(f"/tenants/{tenant_id}", headers=_bearer("wrong")).status_code == 401
    assert tenant_id in list_tenant_ids(db)
