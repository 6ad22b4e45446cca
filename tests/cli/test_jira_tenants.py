"""`aiops tenants create --itsm jira`: Cloud and Data Center, token asked for, stored sealed."""

from __future__ import annotations

import re

from aiops.crypto import SecretBox
from aiops.settings import Settings
from tests.cli.conftest import Invoke
from warehouse.db import Database
from warehouse.tenants import get_tenant, tenant_summary

TOKEN = "ATATT3xFfGF0-cli-jira-token-5d4c3b2a"


def test_a_jira_cloud_tenant_asks_for_the_token_and_prints_the_webhook_setup(
    aiops: Invoke, tenant_id: str, db: Database, box: SecretBox, settings: Settings
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Acme",
        "--itsm", "jira", "--jira-url", "https://acme.atlassian.net", "--skip-itsm-check",
        "--jira-email", "agent@acme.example",
        input=TOKEN + "\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Jira API token" in result.output
    assert TOKEN not in result.output  # the prompt hides what is typed
    assert f"{settings.ingest_base_url}/webhook/jira?tenant={tenant_id}" in result.output
    assert "X-Hub-Signature" in result.output and "System > WebHooks" in result.output
    secret = re.findall(r"whsec_[A-Za-z0-9+/=]+", result.output)
    config = get_tenant(db, box, tenant_id)
    assert config is not None
    assert (config.itsm_source, config.itsm_flavor) == ("jira", "cloud")
    assert (config.itsm_api_key, config.itsm_username) == (TOKEN, "agent@acme.example")
    assert list(config.webhook_secrets) == secret
    with db.tenant(tenant_id) as conn:
        row = conn.execute("SELECT itsm_credentials_enc FROM tenant_configs").fetchone()
    assert row is not None
    sealed = bytes(row["itsm_credentials_enc"])
    assert TOKEN.encode() not in sealed and b"agent@acme.example" not in sealed


def test_a_jira_data_center_tenant_needs_no_email(
    aiops: Invoke, tenant_id: str, db: Database, box: SecretBox
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Acme DC",
        "--itsm", "jira", "--jira-url", "https://jira.acme.example", "--skip-itsm-check",
        "--jira-flavor", "datacenter",
        input="dc-personal-access-token\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "personal access token" in result.output
    config = get_tenant(db, box, tenant_id)
    assert config is not None
    assert (config.itsm_flavor, config.itsm_username) == ("datacenter", None)
    assert config.itsm_api_key == "dc-personal-access-token"
    summary = tenant_summary(db, tenant_id)
    assert summary is not None and summary.has_itsm_credentials


def test_jira_cloud_without_an_email_is_refused_before_anything_is_written(
    aiops: Invoke, tenant_id: str, db: Database
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Acme",
        "--itsm", "jira", "--jira-url", "https://acme.atlassian.net", "--skip-itsm-check",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "--jira-email" in result.output
    assert tenant_summary(db, tenant_id) is None
    mixed = aiops("tenants", "create", tenant_id, "--name", "A", "--jira-url", "https://x.example")
    assert mixed.exit_code == 1 and "--itsm jira" in mixed.output
