"""POST /tenants for ServiceNow and ConnectWise: their settings by name, credentials tried
first, secrets never answered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from tests.fakes.connectwise_server import ConnectWiseServer
from tests.fakes.servicenow_server import ServiceNowServer
from warehouse.db import Database
from warehouse.tenants import get_tenant, tenant_summary

SN_PASSWORD = "sn-api-password-8e7d6c"
CW_PRIVATE = "cw-api-private-key-5e4d3c"


@pytest.fixture()
def sn() -> Iterator[ServiceNowServer]:
    with ServiceNowServer(username="svc.aiops", password=SN_PASSWORD) as server:
        yield server


@pytest.fixture()
def cw() -> Iterator[ConnectWiseServer]:
    with ConnectWiseServer(
        company="acme", public_key="pubKey", private_key=CW_PRIVATE, client_id="cw-client"
    ) as server:
        yield server


def test_a_servicenow_tenant_is_created_over_the_api(
    client: TestClient,
    auth: dict[str, str],
    tenant_id: str,
    sn: ServiceNowServer,
    db: Database,
    box: SecretBox,
) -> None:
    body = {
        "tenant_id": tenant_id,
        "display_name": "Acme on ServiceNow",
        "itsm_source": "servicenow",
        "itsm_base_url": sn.base_url,
        "itsm_username": "svc.aiops",
        "itsm_api_key": SN_PASSWORD,
        "itsm_options": {"table": "problem"},
        "webhook_secret": "whsec_caller-chosen-servicenow-secret-0123456789",
    }
    created = client.post("/tenants", json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert SN_PASSWORD not in created.text
    assert [r.path for r in sn.received] == ["/api/now/table/problem"]
    config = get_tenant(db, box, tenant_id)
    assert config is not None and config.itsm_options == {"auth": "basic", "table": "problem"}


def test_refused_connectwise_keys_are_422_and_nothing_is_saved(
    client: TestClient, auth: dict[str, str], tenant_id: str, cw: ConnectWiseServer, db: Database
) -> None:
    body = {
        "tenant_id": tenant_id,
        "display_name": "Acme on ConnectWise",
        "itsm_source": "connectwise",
        "itsm_base_url": cw.base_url,
        "itsm_username": "pubKey",
        "itsm_api_key": "a-wrong-private-key",
        "itsm_options": {"company": "acme", "client_id": "cw-client"},
        "webhook_secret": "whsec_caller-chosen-connectwise-secret-0123456789",
    }
    refused = client.post("/tenants", json=body, headers=auth)
    assert refused.status_code == 422, refused.text
    assert "401" in refused.text and "a-wrong-private-key" not in refused.text
    assert tenant_summary(db, tenant_id) is None
    created = client.post("/tenants", json=body | {"itsm_api_key": CW_PRIVATE}, headers=auth)
    assert created.status_code == 201, created.text
    assert CW_PRIVATE not in created.text
