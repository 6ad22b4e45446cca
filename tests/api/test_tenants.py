"""Tenant routes: secrets go in, are published for ingest, and never come out."""

from __future__ import annotations

import redis
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.settings import Settings
from warehouse.db import Database
from warehouse.tenants import get_tenant

SECRETS = {
    "itsm_api_key": "sdp-technician-key-0001",
    "webhook_secret": "whsec_caller-chosen-secret-0123456789",
    "llm_api_key": "sk-tenant-llm-key-0002",
}


def _body(tenant_id: str) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "display_name": "Acme Corp",
        "itsm_base_url": "https://sdp.acme.example",
        "itsm_flavor": "cloud",
        "llm_model": "gpt-4o-mini",
        "llm_fallbacks": ["gpt-4o"],
        "check_itsm_credentials": False,
        **SECRETS,
    }


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS.values():
        assert secret not in text


def test_create_list_and_get_never_return_secrets(
    client: TestClient,
    auth: dict[str, str],
    tenant_id: str,
    settings: Settings,
    db: Database,
    box: SecretBox,
    redis_client: redis.Redis,
) -> None:
    created = client.post("/tenants", json=_body(tenant_id), headers=auth)
    listed = client.get("/tenants", headers=auth)
    one = client.get(f"/tenants/{tenant_id}", headers=auth)

    assert created.status_code == 201, created.text
    for response in (created, listed, one):
        _assert_no_secret(response.text)
    body = one.json()
    assert body == created.json()
    assert body["has_itsm_credentials"] is True
    assert body["has_llm_api_key"] is True
    assert body["llm_fallbacks"] == ["gpt-4o"]
    assert (
        body["webhook_urls"]["tickets"]
        == settings.webhook_urls("servicedesk", tenant_id)["tickets"]
    )
    assert tenant_id in [t["tenant_id"] for t in listed.json()]
    stored = get_tenant(db, box, tenant_id)
    assert stored is not None
    assert stored.itsm_api_key == SECRETS["itsm_api_key"]
    assert stored.webhook_secrets == (SECRETS["webhook_secret"],)
    assert redis_client.exists(f"{settings.stream_prefix}:tenant:{tenant_id}") == 1


def test_conflicts_bad_input_and_unknown_tenants(
    client: TestClient, auth: dict[str, str], tenant_id: str
) -> None:
    assert client.post("/tenants", json=_body(tenant_id), headers=auth).status_code == 201

    again = client.post("/tenants", json=_body(tenant_id), headers=auth)
    bad_id = client.post("/tenants", json=_body("Not Valid"), headers=auth)
    short_secret = client.post(
        "/tenants", json={**_body(tenant_id + "x"), "webhook_secret": "short"}, headers=auth
    )
    key_without_url = client.post(
        "/tenants",
        json={k: v for k, v in _body(tenant_id + "y").items() if k != "itsm_base_url"},
        headers=auth,
    )
    missing = client.get(f"/tenants/{tenant_id}-missing", headers=auth)

    assert again.status_code == 409
    assert bad_id.status_code == 422
    assert short_secret.status_code == 422
    assert key_without_url.status_code == 422
    assert missing.status_code == 404
    for response in (again, bad_id, short_secret, key_without_url):
        _assert_no_secret(response.text)


def test_a_tenant_admin_switches_personal_data_masking_and_renames(
    client: TestClient, auth: dict[str, str], db: Database, box: SecretBox, tenant_id: str
) -> None:
    created = client.post("/tenants", json=_body(tenant_id), headers=auth)
    assert created.status_code == 201, created.text
    assert created.json()["mask_personal_data"] is False

    patched = client.patch(f"/tenants/{tenant_id}", json={"mask_personal_data": True}, headers=auth)

    assert patched.status_code == 200, patched.text
    assert patched.json()["mask_personal_data"] is True
    assert patched.json()["display_name"] == "Acme Corp"  # omitted: unchanged
    config = get_tenant(db, box, tenant_id)
    assert config is not None and config.mask_personal_data is True

    renamed = client.patch(f"/tenants/{tenant_id}", json={"display_name": "Acme"}, headers=auth)
    assert renamed.json()["display_name"] == "Acme"
    assert renamed.json()["mask_personal_data"] is True
    assert client.patch(f"/tenants/{tenant_id}", json={"x": 1}, headers=auth).status_code == 422
    assert client.patch(f"/tenants/{tenant_id}", json={}).status_code == 401
