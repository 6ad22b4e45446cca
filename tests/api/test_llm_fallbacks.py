"""A tenant's failover chain through the API: each fallback provider's key is tested with
its own model at its own endpoint before anything is saved, stored sealed, never shown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiops.crypto import SecretBox
from aiops.llm import LlmTarget
from tests.fakes.openai_server import OpenAiServer
from tests.flows.conftest import add_tenant
from warehouse.db import Database
from warehouse.tenants import get_tenant

PRIMARY_KEY = "sk-primary-provider-key-0000000001"
BACKUP_KEY = "sk-backup-provider-key-00000000002"
WRONG_KEY = "sk-backup-provider-typo-0000000003"


@pytest.fixture()
def providers() -> Iterator[tuple[OpenAiServer, OpenAiServer]]:
    with OpenAiServer(api_key=PRIMARY_KEY) as primary, OpenAiServer(api_key=BACKUP_KEY) as backup:
        yield primary, backup


def _put(client: TestClient, auth: dict[str, str], tenant_id: str, body: dict[str, Any]) -> Any:
    return client.put(f"/tenants/{tenant_id}/llm", json=body, headers=auth)


def _chain(primary: OpenAiServer, backup: OpenAiServer, backup_key: str | None) -> dict[str, Any]:
    provider: dict[str, Any] = {"model": "openai/backup-model", "api_base": backup.base_url}
    if backup_key is not None:
        provider["api_key"] = backup_key
    return {
        "model": "openai/gpt-4o-mini",
        "api_base": primary.base_url,
        "api_key": PRIMARY_KEY,
        "fallbacks": ["openai/gpt-4o", provider],
    }


def test_each_fallback_key_is_tested_saved_sealed_and_never_shown(
    client: TestClient,
    auth: dict[str, str],
    db: Database,
    box: SecretBox,
    tenant_id: str,
    providers: tuple[OpenAiServer, OpenAiServer],
) -> None:
    primary, backup = providers
    add_tenant(db, box, tenant_id)

    put = _put(client, auth, tenant_id, _chain(primary, backup, BACKUP_KEY))

    assert put.status_code == 200, put.text
    # Each key was tried at its own provider with its own model, and only there.
    assert [r["model"] for r in primary.requests] == ["gpt-4o-mini"]
    assert [r["model"] for r in backup.requests] == ["backup-model"]
    assert backup.authorizations == [f"Bearer {BACKUP_KEY}"]
    body = put.json()
    assert body["fallbacks"] == [
        "openai/gpt-4o",
        {"model": "openai/backup-model", "api_base": backup.base_url, "has_api_key": True},
    ]
    for answer in (put.text, client.get(f"/tenants/{tenant_id}/llm", headers=auth).text):
        assert BACKUP_KEY not in answer and PRIMARY_KEY not in answer
    stored = get_tenant(db, box, tenant_id)
    assert stored is not None
    assert stored.llm_fallbacks == (
        "openai/gpt-4o",
        LlmTarget("openai/backup-model", backup.base_url, BACKUP_KEY),
    )

    # Sent again without the fallback's key: the stored one is kept, and tested again.
    again = _put(client, auth, tenant_id, _chain(primary, backup, None))
    assert again.status_code == 200, again.text
    assert backup.authorizations == [f"Bearer {BACKUP_KEY}"] * 2
    stored = get_tenant(db, box, tenant_id)
    assert stored is not None and stored.llm_fallbacks[1] == LlmTarget(
        "openai/backup-model", backup.base_url, BACKUP_KEY
    )


def test_a_refused_fallback_key_is_422_naming_the_fallback_and_nothing_is_saved(
    client: TestClient,
    auth: dict[str, str],
    db: Database,
    box: SecretBox,
    tenant_id: str,
    providers: tuple[OpenAiServer, OpenAiServer],
) -> None:
    primary, backup = providers
    add_tenant(db, box, tenant_id, llm_model="openai/original")

    put = _put(client, auth, tenant_id, _chain(primary, backup, WRONG_KEY))

    assert put.status_code == 422, put.text
    detail = put.json()["detail"]
    assert detail.startswith("fallback 2 (openai/backup-model): ")
    assert "refused the key" in detail and "nothing was saved" in detail
    assert WRONG_KEY not in put.text
    stored = get_tenant(db, box, tenant_id)
    assert stored is not None
    assert (stored.llm_model, stored.llm_fallbacks, stored.llm_api_key) == (
        "openai/original",
        (),
        None,
    )


def test_a_fallback_provider_without_any_key_is_refused(
    client: TestClient,
    auth: dict[str, str],
    db: Database,
    box: SecretBox,
    tenant_id: str,
    providers: tuple[OpenAiServer, OpenAiServer],
) -> None:
    primary, backup = providers
    add_tenant(db, box, tenant_id)
    put = _put(client, auth, tenant_id, _chain(primary, backup, None))
    assert put.status_code == 422, put.text
    assert "needs its api_key" in put.json()["detail"]
    assert backup.requests == []
