"""Provider failover for real: litellm's OpenAI provider against two OpenAI stand-ins,
each a provider with its own endpoint and key, the first one failing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from aiops.crypto import SecretBox
from aiops.llm import LlmTarget
from aiops.settings import LlmFallback, Settings
from tests.fakes.openai_server import OpenAiServer
from tests.flows.conftest import add_tenant, recorded, run_flow
from tests.flows.events import entry, event
from warehouse.db import Database
from warehouse.tenants import get_tenant

FIRST_KEY, SECOND_KEY = "sk-first-provider", "sk-second-provider"


@pytest.fixture()
def providers() -> Iterator[tuple[OpenAiServer, OpenAiServer]]:
    with OpenAiServer(api_key=FIRST_KEY) as first, OpenAiServer(api_key=SECOND_KEY) as second:
        yield first, second


def test_a_tenants_chain_fails_over_to_a_provider_with_its_own_endpoint_and_key(
    flow_settings: Settings,
    db: Database,
    box: SecretBox,
    tenant_id: str,
    providers: tuple[OpenAiServer, OpenAiServer],
) -> None:
    first, second = providers
    first.fail_models = {"gpt-4o-mini"}
    add_tenant(
        db,
        box,
        tenant_id,
        llm_model="openai/gpt-4o-mini",
        llm_api_base=first.base_url,
        llm_api_key=FIRST_KEY,
        llm_fallbacks=(LlmTarget("openai/backup-model", second.base_url, SECOND_KEY),),
    )
    # Stored sealed, read back whole.
    stored = get_tenant(db, box, tenant_id)
    assert stored is not None
    assert stored.llm_fallbacks == (LlmTarget("openai/backup-model", second.base_url, SECOND_KEY),)
    with db.tenant(tenant_id) as conn:
        raw = conn.execute(
            "SELECT llm_fallbacks::text AS listed, llm_fallback_keys_enc FROM tenant_configs"
        ).fetchone()
    assert raw is not None and SECOND_KEY not in raw["listed"]
    assert SECOND_KEY.encode() not in bytes(raw["llm_fallback_keys_enc"])

    ticket = event(tenant_id, "5", "Outlook keeps asking for the password")
    run_flow(flow_settings, [entry(ticket)])

    assert [r["model"] for r in first.requests] == ["gpt-4o-mini"]
    assert [r["model"] for r in second.requests] == ["backup-model"]
    # Each provider got its own key, and only its own.
    assert first.authorizations == [f"Bearer {FIRST_KEY}"]
    assert second.authorizations == [f"Bearer {SECOND_KEY}"]
    row = recorded(db, tenant_id, ticket.event_id)
    assert (row["status"], row["model"]) == ("stored", "openai/backup-model")
    failed, answered = row["context"]["llm_attempts"]
    assert (failed["model"], failed["api_base"], failed["outcome"]) == (
        "openai/gpt-4o-mini",
        first.base_url,
        "failed",
    )
    assert "InternalServerError" in failed["error"]
    assert (answered["model"], answered["api_base"]) == ("openai/backup-model", second.base_url)
    assert FIRST_KEY not in str(row["context"]) and SECOND_KEY not in str(row["context"])


def test_the_platform_default_chain_fails_over_between_providers_across_retries(
    flow_settings: Settings,
    db: Database,
    box: SecretBox,
    tenant_id: str,
    providers: tuple[OpenAiServer, OpenAiServer],
) -> None:
    first, second = providers
    add_tenant(db, box, tenant_id)
    platform = flow_settings.model_copy(
        update={
            "llm_model": "openai/gpt-4o-mini",
            "llm_api_base": first.base_url,
            "llm_api_key": SecretStr(FIRST_KEY),
            "llm_fallbacks": [
                "openai/gpt-4o",  # plain name: the first provider again
                LlmFallback(
                    model="openai/other", api_base=second.base_url, api_key=SecretStr(SECOND_KEY)
                ),
            ],
            "flow_attempts": 2,
        }
    )
    first.fail_models = {"gpt-4o-mini", "gpt-4o"}
    second.fail_models = {"other"}
    doomed = event(tenant_id, "6", "Scanner offline")

    run_flow(platform, [entry(doomed)])

    assert set(first.authorizations) == {f"Bearer {FIRST_KEY}"}
    assert set(second.authorizations) == {f"Bearer {SECOND_KEY}"}
    row = recorded(db, tenant_id, doomed.event_id)
    assert (row["status"], row["error_kind"]) == ("failed", "transient")
    attempts = row["context"]["llm_attempts"]
    assert [(a["try"], a["model"], a["api_base"]) for a in attempts] == [
        (t, model, base)
        for t in (1, 2)
        for model, base in (
            ("openai/gpt-4o-mini", first.base_url),
            ("openai/gpt-4o", first.base_url),
            ("openai/other", second.base_url),
        )
    ]
    assert all(a["outcome"] == "failed" and "InternalServerError" in a["error"] for a in attempts)
