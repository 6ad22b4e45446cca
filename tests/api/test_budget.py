"""The monthly LLM budget through the API: the platform sets it, a tenant key reads it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from tests.flows.conftest import add_tenant
from tests.flows.events import event
from warehouse import enhancements
from warehouse.api_keys import create_key
from warehouse.db import Database
from warehouse.enhancements import Result


def test_platform_sets_the_limit_tenant_reads_spend_and_state(
    client: TestClient, auth: dict[str, str], db: Database, box: SecretBox, tenant_id: str
) -> None:
    add_tenant(db, box, tenant_id)
    with db.tenant(tenant_id) as conn:
        enhancements.begin(conn, event(tenant_id, "1", "x", event_id="e1"))
        enhancements.finish(conn, "e1", Result(status="stored", cost_usd=4.25))
    url = f"/tenants/{tenant_id}/llm/budget"

    unset = client.get(url, headers=auth)
    assert unset.status_code == 200, unset.text
    assert unset.json() == {
        "monthly_usd": None,
        "effective_monthly_usd": None,
        "spent_this_month_usd": 4.25,
        "state": "ok",
    }
    put = client.put(url, json={"monthly_usd": 5}, headers=auth)
    assert put.status_code == 200, put.text
    assert put.json()["state"] == "warning" and put.json()["effective_monthly_usd"] == 5

    with db.tenant(tenant_id) as conn:
        key = create_key(conn, "ops", "admin")
    tenant_auth = {"Authorization": f"Bearer {key.token}"}
    assert client.get(url, headers=tenant_auth).json()["monthly_usd"] == 5
    refused = client.put(url, json={"monthly_usd": 500}, headers=tenant_auth)
    assert refused.status_code == 403, refused.text
    assert client.put(url, json={"monthly_usd": -1}, headers=auth).status_code == 422
    back = client.put(url, json={"monthly_usd": None}, headers=auth)
    assert back.json()["monthly_usd"] is None
