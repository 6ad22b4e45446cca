"""`aiops tenants`: the signing secret is shown once, stored only encrypted, never listed."""

from __future__ import annotations

import base64
import json
import re
import socket

import redis
from typer.testing import CliRunner

from aiops.crypto import SecretBox
from aiops.running_system import RunningSystem, announce, forget
from aiops.settings import Settings
from aiops.tenant_directory import secrets_context
from cli.main import app
from tests.cli.conftest import Invoke
from warehouse.db import Database
from warehouse.tenants import get_tenant, list_tenant_ids


def _secret_in(output: str) -> str:
    found = re.findall(r"whsec_[A-Za-z0-9+/=]+", output)
    assert len(found) == 1, output
    return found[0]


def test_create_prints_urls_and_secret_once_and_stores_it_encrypted(
    aiops: Invoke,
    tenant_id: str,
    db: Database,
    box: SecretBox,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Acme Corp",
        "--servicedesk-url", "https://sdp.acme.example", "--skip-itsm-check",
        "--servicedesk-key", "sdp-key-123456",
        "--llm-api-key", "sk-tenant-own-key",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    secret = _secret_in(result.output)
    assert f"{settings.ingest_base_url}/webhook/servicedesk?tenant={tenant_id}" in result.output
    assert f"/webhook/servicedesk/resolved-ticket?tenant={tenant_id}" in result.output
    assert "sdp-key-123456" not in result.output
    with db.tenant(tenant_id) as conn:
        row = conn.execute("SELECT * FROM tenant_configs").fetchone()
    assert row is not None
    stored = b"".join(
        bytes(row[c]) for c in ("webhook_secrets_enc", "itsm_credentials_enc", "llm_api_key_enc")
    )
    for plain in (secret, "sdp-key-123456", "sk-tenant-own-key"):
        assert plain.encode() not in stored
    webhook_secrets = box.decrypt(
        bytes(row["webhook_secrets_enc"]), f"tenant:{tenant_id}:webhook_secrets"
    )
    assert json.loads(webhook_secrets) == [secret]
    # Published for ingest, encrypted there too.
    published = redis_client.hgetall(f"{settings.stream_prefix}:tenant:{tenant_id}")
    assert published[b"source"] == b"servicedesk"
    assert secret.encode() not in published[b"webhook_secrets"]
    sealed = base64.b64decode(published[b"webhook_secrets"])
    assert json.loads(box.decrypt(sealed, secrets_context(tenant_id))) == [secret]


def test_list_shows_tenants_without_secrets(aiops: Invoke, tenant_id: str) -> None:
    created = aiops(
        "tenants", "create", tenant_id, "--name", "Beta Ltd",
        "--servicedesk-url", "https://sdp.beta.example", "--skip-itsm-check",
        "--servicedesk-key", "beta-key-999",
    )  # fmt: skip
    secret = _secret_in(created.output)

    listed = aiops("tenants", "list")

    assert listed.exit_code == 0, listed.output
    assert tenant_id in listed.output
    assert "Beta Ltd" in listed.output
    assert secret not in listed.output
    assert "beta-key-999" not in listed.output


def test_creating_twice_is_refused_without_a_new_secret(aiops: Invoke, tenant_id: str) -> None:
    assert aiops("tenants", "create", tenant_id, "--name", "Once").exit_code == 0

    again = aiops("tenants", "create", tenant_id, "--name", "Twice")

    assert again.exit_code == 1
    assert "already exists" in again.output
    assert "whsec_" not in again.output


def test_invalid_tenant_id_is_refused_before_anything_is_written(
    aiops: Invoke, db: Database
) -> None:
    result = aiops("tenants", "create", "Acme Corp", "--name", "Acme")

    assert result.exit_code == 1
    assert "not a valid tenant id" in result.output
    with db.platform() as conn:
        assert (
            conn.execute("SELECT 1 FROM tenants WHERE tenant_id = 'Acme Corp'").fetchone() is None
        )


def test_servicedesk_key_is_asked_for_when_only_the_url_is_given(
    aiops: Invoke, tenant_id: str, db: Database, box: SecretBox
) -> None:
    result = aiops(
        "tenants", "create", tenant_id, "--name", "Prompted",
        "--servicedesk-url", "https://sdp.prompted.example", "--skip-itsm-check",
        "--servicedesk-flavor", "cloud",
        input="typed-key-42\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "typed-key-42" not in result.output
    config = get_tenant(db, box, tenant_id)
    assert config is not None
    assert (config.itsm_api_key, config.itsm_flavor) == ("typed-key-42", "cloud")


def test_unreachable_redis_fails_before_the_tenant_is_written(
    cli_env: dict[str, str], tenant_id: str, db: Database
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {**cli_env, "AI_AGENTS_REDIS_URL": f"redis://127.0.0.1:{port}/0"}

    result = CliRunner().invoke(app, ["tenants", "create", tenant_id, "--name", "X"], env=env)

    assert result.exit_code == 1
    assert "cannot reach Redis" in result.output
    assert "whsec_" not in result.output
    with db.platform() as conn:
        assert (
            conn.execute("SELECT 1 FROM tenants WHERE tenant_id = %s", (tenant_id,)).fetchone()
            is None
        )


def test_a_rotation_prints_the_new_secret_once_and_both_verify_until_it_is_finished(
    aiops: Invoke,
    tenant_id: str,
    db: Database,
    box: SecretBox,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    first = _secret_in(aiops("tenants", "create", tenant_id, "--name", "Rotating").output)

    rotated = aiops("tenants", "rotate-webhook-secret", tenant_id)
    again = aiops("tenants", "rotate-webhook-secret", tenant_id)
    published_during = _published(redis_client, settings, box, tenant_id)
    finished = aiops("tenants", "finish-webhook-rotation", tenant_id)
    finished_again = aiops("tenants", "finish-webhook-rotation", tenant_id)

    assert rotated.exit_code == 0, rotated.output
    second = _secret_in(rotated.output)
    assert second != first
    assert f"aiops tenants finish-webhook-rotation {tenant_id}" in rotated.output
    assert again.exit_code == 1
    assert "finish it first" in again.output
    assert "whsec_" not in again.output
    assert published_during == [first, second]
    assert finished.exit_code == 0, finished.output
    assert "whsec_" not in finished.output
    assert finished_again.exit_code == 1
    assert "rotate-webhook-secret" in finished_again.output
    config = get_tenant(db, box, tenant_id)
    assert config is not None and config.webhook_secrets == (second,)
    assert _published(redis_client, settings, box, tenant_id) == [second]


def test_rotating_an_unknown_tenant_says_so(aiops: Invoke) -> None:
    result = aiops("tenants", "rotate-webhook-secret", "t-nobody")

    assert result.exit_code == 1
    assert "no tenant 't-nobody'" in result.output
    assert "whsec_" not in result.output


def _published(
    client: redis.Redis, settings: Settings, box: SecretBox, tenant_id: str
) -> list[str]:
    sealed = client.hget(f"{settings.stream_prefix}:tenant:{tenant_id}", "webhook_secrets")
    assert sealed is not None
    secrets: list[str] = json.loads(
        box.decrypt(base64.b64decode(sealed), secrets_context(tenant_id))
    )
    return secrets


def test_delete_removes_the_tenant_and_prints_what_went(
    aiops: Invoke, tenant_id: str, db: Database
) -> None:
    assert aiops("tenants", "create", tenant_id, "--name", "Gone").exit_code == 0

    declined = aiops("tenants", "delete", tenant_id, input="n\n")
    kept = tenant_id in list_tenant_ids(db)
    result = aiops("tenants", "delete", tenant_id, "--yes", "--batch-size", "1")
    missing = aiops("tenants", "delete", tenant_id, "--yes")

    assert declined.exit_code != 0 and kept
    assert result.exit_code == 0, result.output
    assert f"Tenant {tenant_id!r} is removed" in result.output
    assert re.search(r"tenant_configs\s*│?\s*1", result.output), result.output
    assert tenant_id not in list_tenant_ids(db)
    assert missing.exit_code != 0 and "no tenant" in missing.output


def test_create_prints_the_webhook_urls_of_the_running_system(
    aiops: Invoke, tenant_id: str, settings: Settings
) -> None:
    # As `aiops up --ingest-port 9123` announces itself; this terminal's settings say 8000.
    running = RunningSystem(
        ingest_base_url="http://127.0.0.1:9123",
        ingest_url="http://127.0.0.1:9123",
        api_url="http://127.0.0.1:9124",
    )
    announce(settings.state_dir, running)
    try:
        result = aiops("tenants", "create", tenant_id, "--name", "Ported")
    finally:
        forget(settings.state_dir)

    assert result.exit_code == 0, result.output
    assert f"http://127.0.0.1:9123/webhook/servicedesk?tenant={tenant_id}" in result.output
    assert ":8000" not in result.output
