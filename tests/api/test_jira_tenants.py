"""POST /tenants for a Jira tenant: flavors, e-mail, and the Jira signature header."""

from __future__ import annotations

from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from warehouse.db import Database
from warehouse.tenants import get_tenant

TOKEN = "ATATT3xFfGF0-api-jira-token-9e8d7c"


def _body(tenant_id: str, **changes: object) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "display_name": "Acme on Jira",
        "itsm_source": "jira",
        "itsm_base_url": "https://acme.atlassian.net",
        "itsm_api_key": TOKEN,
        "itsm_username": "agent@acme.example",
        "webhook_secret": "whsec_caller-chosen-jira-secret-0123456789",
        "check_itsm_credentials": False,
        **changes,
    }


def test_a_jira_cloud_tenant_is_created_with_its_email_and_never_shows_the_token(
    client: TestClient, auth: dict[str, str], tenant_id: str, db: Database, box: SecretBox
) -> None:
    created = client.post("/tenants", json=_body(tenant_id), headers=auth)
    assert created.status_code == 201, created.text
    assert TOKEN not in created.text
    body = created.json()
    assert (body["itsm_source"], body["itsm_flavor"]) == ("jira", "cloud")
    assert body["webhook_urls"]["signature_header"] == "X-Hub-Signature"
    assert "/webhook/jira?" in body["webhook_urls"]["tickets"]
    config = get_tenant(db, box, tenant_id)
    assert config is not None
    assert (config.itsm_api_key, config.itsm_username) == (TOKEN, "agent@acme.example")


def test_jira_flavors_and_the_email_rule_are_checked(
    client: TestClient, auth: dict[str, str], tenant_id: str
) -> None:
    no_email = _body(tenant_id, itsm_username=None)
    assert client.post("/tenants", json=no_email, headers=auth).status_code == 422
    sdp_flavor = _body(tenant_id, itsm_flavor="onprem")
    assert client.post("/tenants", json=sdp_flavor, headers=auth).status_code == 422
    datacenter = _body(tenant_id, itsm_flavor="datacenter", itsm_username=None)
    made = client.post("/tenants", json=datacenter, headers=auth)
    assert made.status_code == 201, made.text
    assert made.json()["itsm_flavor"] == "datacenter"
