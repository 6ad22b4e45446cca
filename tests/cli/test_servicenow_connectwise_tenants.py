"""`aiops tenants create --itsm servicenow|connectwise`: the plugins' own options, secrets
asked for without echo, credentials tried against the stand-in before anything is saved."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from aiops.crypto import SecretBox
from aiops.settings import Settings
from tests.cli.conftest import Invoke
from tests.fakes.connectwise_server import ConnectWiseServer
from tests.fakes.servicenow_server import ServiceNowServer
from warehouse.db import Database
from warehouse.tenants import get_tenant, tenant_summary

SN_PASSWORD = "sn-cli-password-4f3e2d"
SN_SECRET = "sn-cli-client-secret-9a8b"
CW_PRIVATE = "cw-cli-private-key-1b2c3d"


@pytest.fixture()
def sn() -> Iterator[ServiceNowServer]:
    with ServiceNowServer(
        username="aiops.integration",
        password=SN_PASSWORD,
        client_id="sn-client",
        client_secret=SN_SECRET,
    ) as server:
        yield server


@pytest.fixture()
def cw() -> Iterator[ConnectWiseServer]:
    with ConnectWiseServer(
        company="acme", public_key="pubKey", private_key=CW_PRIVATE, client_id="cw-client"
    ) as server:
        yield server


def test_a_servicenow_tenant_on_oauth_is_checked_then_saved(
    aiops: Invoke,
    tenant_id: str,
    sn: ServiceNowServer,
    db: Database,
    box: SecretBox,
    settings: Settings,
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Acme",
        "--itsm", "servicenow", "--servicenow-url", sn.base_url,
        "--servicenow-user", "aiops.integration", "--servicenow-auth", "oauth",
        "--servicenow-client-id", "sn-client", "--servicenow-client-secret", SN_SECRET,
        "--servicenow-table", "sc_req_item",
        input=SN_PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert SN_PASSWORD not in result.output and SN_SECRET not in result.output
    assert [r.path for r in sn.received] == ["/oauth_token.do", "/api/now/table/sc_req_item"]
    assert f"/webhook/servicenow?tenant={tenant_id}" in result.output
    assert "x_aiops.webhook_secret" in result.output
    config = get_tenant(db, box, tenant_id)
    assert config is not None
    assert (config.itsm_source, config.itsm_api_key, config.itsm_username) == (
        "servicenow",
        SN_PASSWORD,
        "aiops.integration",
    )
    assert config.itsm_options == {
        "auth": "oauth",
        "table": "sc_req_item",
        "client_id": "sn-client",
    }
    assert config.itsm_secrets == {"client_secret": SN_SECRET}
    assert len(re.findall(r"whsec_[A-Za-z0-9+/=]+", result.output)) == 1


def test_a_servicenow_tenant_with_a_wrong_password_is_not_saved(
    aiops: Invoke, tenant_id: str, sn: ServiceNowServer, db: Database
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Acme",
        "--itsm", "servicenow", "--servicenow-url", sn.base_url,
        "--servicenow-user", "aiops.integration", "--servicenow-password", "mistyped",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "401" in result.output and "mistyped" not in result.output
    assert tenant_summary(db, tenant_id) is None


def test_a_servicenow_table_outside_the_choices_is_refused(aiops: Invoke, tenant_id: str) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Acme",
        "--itsm", "servicenow", "--servicenow-url", "https://acme.service-now.com",
        "--servicenow-user", "u", "--servicenow-password", "p", "--servicenow-table", "sys_user",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "incident" in result.output and "sys_user" in result.output
    assert "Nothing was saved" in result.output


def test_a_connectwise_tenant_is_checked_then_saved_with_the_callback_steps(
    aiops: Invoke, tenant_id: str, cw: ConnectWiseServer, db: Database, box: SecretBox
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Acme",
        "--itsm", "connectwise", "--connectwise-url", cw.base_url,
        "--connectwise-company", "acme", "--connectwise-public-key", "pubKey",
        "--connectwise-client-id", "cw-client",
        input=CW_PRIVATE + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert CW_PRIVATE not in result.output
    assert [r.path for r in cw.received] == ["/v4_6_release/apis/3.0/service/tickets"]
    assert "/system/callbacks" in result.output
    assert f"/webhook/connectwise?tenant={tenant_id}&token=<secret>" in result.output
    config = get_tenant(db, box, tenant_id)
    assert config is not None
    assert (config.itsm_api_key, config.itsm_username) == (CW_PRIVATE, "pubKey")
    assert config.itsm_options == {"company": "acme", "client_id": "cw-client"}


def test_connectwise_without_a_client_id_is_refused_before_anything_is_written(
    aiops: Invoke, tenant_id: str, db: Database
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Acme",
        "--itsm", "connectwise", "--connectwise-url", "https://api-na.myconnectwise.net",
        "--connectwise-company", "acme", "--connectwise-public-key", "pubKey",
        "--connectwise-private-key", CW_PRIVATE,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "--connectwise-client-id" in result.output
    assert tenant_summary(db, tenant_id) is None
