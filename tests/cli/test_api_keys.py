"""`aiops api-keys`: the token is printed once, works against the API, and stops at revoke."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from aiops.settings import Settings
from api.app import create_app
from tests.cli.conftest import Invoke
from warehouse.db import Database


def _token_in(output: str) -> str:
    found = re.findall(r"aiok_[a-z0-9_-]+\.[A-Za-z0-9]+\.[A-Za-z0-9_-]+", output)
    assert len(found) == 1, output
    return found[0]


def test_create_list_revoke(aiops: Invoke, tenant_id: str, settings: Settings) -> None:
    assert aiops("tenants", "create", tenant_id, "--name", "Acme").exit_code == 0

    made = aiops("api-keys", "create", tenant_id, "--name", "PSA sync", "--scope", "admin")
    assert made.exit_code == 0, made.output
    token = _token_in(made.output)
    key_id = token.split(".")[1]
    assert "will not be shown again" in made.output

    listed = aiops("api-keys", "list", tenant_id)
    assert listed.exit_code == 0, listed.output
    assert key_id in listed.output and "PSA sync" in listed.output and "admin" in listed.output
    assert token.split(".")[2] not in listed.output

    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get(f"/tenants/{tenant_id}", headers=headers).status_code == 200
        revoked = aiops("api-keys", "revoke", tenant_id, key_id)
        assert revoked.exit_code == 0, revoked.output
        assert "revoked" in revoked.output
        assert client.get(f"/tenants/{tenant_id}", headers=headers).status_code == 401


def test_unknown_tenants_and_keys_say_what_to_do(
    aiops: Invoke, tenant_id: str, db: Database
) -> None:
    missing = aiops("api-keys", "create", tenant_id, "--name", "x")
    assert missing.exit_code == 1
    assert "aiops tenants list" in missing.output
    with db.tenant(tenant_id) as conn:
        assert conn.execute("SELECT count(*) AS n FROM api_keys").fetchone() == {"n": 0}
    assert aiops("api-keys", "list", tenant_id).exit_code == 1

    assert aiops("tenants", "create", tenant_id, "--name", "Acme").exit_code == 0
    empty = aiops("api-keys", "list", tenant_id)
    assert "No API keys yet" in empty.output
    unknown = aiops("api-keys", "revoke", tenant_id, "abcdefgh12345678")
    assert unknown.exit_code == 1
    assert f"aiops api-keys list {tenant_id}" in unknown.output
    bad_scope = aiops("api-keys", "create", tenant_id, "--name", "x", "--scope", "owner")
    assert bad_scope.exit_code == 2
