"""The API tries ITSM credentials before saving them, on create and on PATCH."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from tests.fakes.jira_server import JiraServer
from tests.fakes.loopback import free_port
from tests.fakes.rebinding_dns import REBINDING_HOST, rebinding_dns
from warehouse import api_keys
from warehouse.db import Database
from warehouse.tenants import get_tenant, tenant_summary

EMAIL = "agent@acme.example"
TOKEN = "ATATT3xFfGF0-api-checked-token-77aa"


@pytest.fixture()
def jira() -> Iterator[JiraServer]:
    with JiraServer(flavor="cloud", email=EMAIL, token=TOKEN) as server:
        yield server


def _body(tenant_id: str, url: str, token: str = TOKEN) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "display_name": "Checked on Jira",
        "itsm_source": "jira",
        "itsm_base_url": url,
        "itsm_api_key": token,
        "itsm_username": EMAIL,
        "webhook_secret": "whsec_caller-chosen-checked-secret-0123456789",
    }


def test_good_credentials_are_tried_then_saved(
    client: TestClient, auth: dict[str, str], tenant_id: str, jira: JiraServer
) -> None:
    created = client.post("/tenants", json=_body(tenant_id, jira.base_url), headers=auth)
    assert created.status_code == 201, created.text
    assert [r.path for r in jira.received] == ["/rest/api/3/myself"]
    assert TOKEN not in created.text


def test_refused_credentials_are_422_and_nothing_is_saved(
    client: TestClient, auth: dict[str, str], tenant_id: str, jira: JiraServer, db: Database
) -> None:
    body = _body(tenant_id, jira.base_url, token="mistyped-token-0000")
    refused = client.post("/tenants", json=body, headers=auth)
    assert refused.status_code == 422, refused.text
    assert "refused the credentials (401)" in refused.text
    assert "mistyped-token-0000" not in refused.text
    assert tenant_summary(db, tenant_id) is None


def test_an_unreachable_itsm_is_502_unless_the_check_is_skipped(
    client: TestClient, auth: dict[str, str], tenant_id: str, db: Database
) -> None:
    body = _body(tenant_id, f"http://127.0.0.1:{free_port()}")
    unreachable = client.post("/tenants", json=body, headers=auth)
    assert unreachable.status_code == 502, unreachable.text
    assert "check_itsm_credentials" in unreachable.text
    assert tenant_summary(db, tenant_id) is None
    saved = client.post("/tenants", json={**body, "check_itsm_credentials": False}, headers=auth)
    assert saved.status_code == 201, saved.text


def test_settings_the_plugin_does_not_declare_are_refused(
    client: TestClient, auth: dict[str, str], tenant_id: str, jira: JiraServer
) -> None:
    body = {**_body(tenant_id, jira.base_url), "itsm_options": {"subdomain": "acme"}}
    assert client.post("/tenants", json=body, headers=auth).status_code == 422
    body = {**_body(tenant_id, jira.base_url), "itsm_secrets": {"client_secret": "x"}}
    assert client.post("/tenants", json=body, headers=auth).status_code == 422
    unknown = {**_body(tenant_id, jira.base_url), "itsm_source": "lotus-notes"}
    assert client.post("/tenants", json=unknown, headers=auth).status_code == 422


def test_patch_replaces_the_connection_after_trying_it(
    client: TestClient,
    auth: dict[str, str],
    tenant_id: str,
    jira: JiraServer,
    db: Database,
    box: SecretBox,
) -> None:
    body = {
        "tenant_id": tenant_id,
        "display_name": "Stores notes only",
        "itsm_source": "jira",
        "webhook_secret": "whsec_caller-chosen-checked-secret-0123456789",
    }
    assert client.post("/tenants", json=body, headers=auth).status_code == 201
    url = f"/tenants/{tenant_id}"
    wrong = {"itsm_base_url": jira.base_url, "itsm_api_key": "nope", "itsm_username": EMAIL}
    assert client.patch(url, json=wrong, headers=auth).status_code == 422
    right = {**wrong, "itsm_api_key": TOKEN}
    patched = client.patch(url, json=right, headers=auth)
    assert patched.status_code == 200, patched.text
    assert patched.json()["has_itsm_credentials"] is True and TOKEN not in patched.text
    config = get_tenant(db, box, tenant_id)
    assert config is not None
    assert (config.itsm_base_url, config.itsm_api_key, config.itsm_flavor) == (
        jira.base_url,
        TOKEN,
        "cloud",
    )
    # A tenant's own admin key may not point the server at an address inside it.
    with db.tenant(tenant_id) as conn:
        key = api_keys.create_key(conn, "tenant admin", "admin")
    own = {"Authorization": f"Bearer {key.token}"}
    inside = client.patch(url, json=right, headers=own)
    assert inside.status_code == 422 and "public" in inside.text


def test_the_plugins_and_their_settings_are_listed(
    client: TestClient, auth: dict[str, str]
) -> None:
    listed = client.get("/itsm-plugins", headers=auth)
    assert listed.status_code == 200, listed.text
    by_name = {p["name"]: p for p in listed.json()}
    assert {"servicedesk", "jira", "zendesk", "freshservice"} <= set(by_name)
    zendesk = {f["name"]: f for f in by_name["zendesk"]["fields"]}
    assert zendesk["token"]["api_field"] == "itsm_api_key" and zendesk["token"]["secret"]
    assert zendesk["email"]["api_field"] == "itsm_username"
    jira = {f["name"]: f for f in by_name["jira"]["fields"]}
    assert jira["email"]["flavors"] == ["cloud"]
    assert jira["flavor"]["choices"] == ["cloud", "datacenter"]
    assert client.get("/itsm-plugins").status_code == 401


def test_a_tenant_key_cannot_skip_the_address_check_and_its_choice_is_stored(
    client: TestClient,
    auth: dict[str, str],
    tenant_id: str,
    jira: JiraServer,
    db: Database,
    box: SecretBox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = {**_body(tenant_id, jira.base_url), "check_itsm_credentials": False}
    assert client.post("/tenants", json=body, headers=auth).status_code == 201
    url = f"/tenants/{tenant_id}"
    with db.tenant(tenant_id) as conn:
        own = {"Authorization": f"Bearer {api_keys.create_key(conn, 'ops', 'admin').token}"}
    inside = {"itsm_base_url": jira.base_url, "itsm_api_key": TOKEN, "itsm_username": EMAIL,
              "check_itsm_credentials": False}  # fmt: skip

    refused = client.patch(url, json=inside, headers=own)

    assert refused.status_code == 422 and "public" in refused.text
    config = get_tenant(db, box, tenant_id)
    assert config is not None and config.itsm_endpoint_public_only is False  # the platform's

    # A name that looks public when saved is saved as the tenant's choice: the flow then
    # reaches it at public addresses only (tests/flows/test_public_only_endpoints.py).
    rebound = jira.base_url.replace("127.0.0.1", REBINDING_HOST)
    with rebinding_dns(monkeypatch, public_answers=1):
        saved = client.patch(url, json={**inside, "itsm_base_url": rebound}, headers=own)
    assert saved.status_code == 200, saved.text
    config = get_tenant(db, box, tenant_id)
    assert config is not None
    assert (config.itsm_base_url, config.itsm_endpoint_public_only) == (rebound, True)
    assert jira.received == []
