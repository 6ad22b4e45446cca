"""A tenant's own LLM endpoint or ITSM address, chosen with a tenant key, is reached only
at a public address, checked as the flow connects; the same endpoint set by the platform
operator (an in-cluster LLM, say) is reached wherever it is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiops.crypto import SecretBox
from aiops.llm import LlmTarget
from aiops.settings import Settings
from tests.fakes.openai_server import OpenAiServer
from tests.fakes.rebinding_dns import REBINDING_HOST, rebinding_dns
from tests.fakes.sdp_server import SdpServer
from tests.flows.conftest import SDP_KEY, add_tenant, recorded, run_flow
from tests.flows.events import entry, event
from warehouse import tenants
from warehouse.db import Database

KEY = "sk-tenant-own-key"


@pytest.fixture()
def llm() -> Iterator[OpenAiServer]:
    with OpenAiServer(api_key=KEY) as server:
        yield server


def test_a_tenant_chosen_endpoint_that_rebinds_to_loopback_is_never_called(
    flow_settings: Settings,
    db: Database,
    box: SecretBox,
    tenant_id: str,
    llm: OpenAiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rebound = llm.base_url.replace("127.0.0.1", REBINDING_HOST)
    add_tenant(
        db,
        box,
        tenant_id,
        llm_model="openai/own-model",
        llm_api_base=rebound,
        llm_api_key=KEY,
        llm_fallbacks=(LlmTarget("openai/backup", llm.base_url, KEY),),
        llm_endpoints_public_only=True,
    )
    ticket = event(tenant_id, "1", "VPN drops every hour")

    with rebinding_dns(monkeypatch, public_answers=0):
        run_flow(flow_settings.model_copy(update={"flow_attempts": 1}), [entry(ticket)])

    assert llm.requests == [] and llm.authorizations == []
    row = recorded(db, tenant_id, ticket.event_id)
    attempts = row["context"]["llm_attempts"]
    assert [a["model"] for a in attempts] == ["openai/own-model", "openai/backup"]
    for attempt in attempts:
        assert attempt["outcome"] == "failed"
        assert "not a public address" in attempt["error"]


def test_the_same_endpoint_set_by_the_platform_operator_is_called(
    flow_settings: Settings, db: Database, box: SecretBox, tenant_id: str, llm: OpenAiServer
) -> None:
    add_tenant(db, box, tenant_id, llm_model="openai/own-model", llm_api_base=llm.base_url,
               llm_api_key=KEY)  # fmt: skip
    ticket = event(tenant_id, "2", "VPN drops every hour")

    run_flow(flow_settings, [entry(ticket)])

    assert [r["model"] for r in llm.requests] == ["own-model"]
    assert recorded(db, tenant_id, ticket.event_id)["model"] == "openai/own-model"


def test_who_set_the_endpoints_is_stored_with_them(
    db: Database, box: SecretBox, tenant_id: str, llm: OpenAiServer
) -> None:
    add_tenant(db, box, tenant_id)
    for by_tenant in (True, False):
        with db.tenant(tenant_id) as conn:
            tenants.update_llm(
                conn, box, model="openai/m", fallbacks=(), api_base=llm.base_url,
                api_key=KEY, set_by_tenant=by_tenant,
            )  # fmt: skip
        stored = tenants.get_tenant(db, box, tenant_id)
        assert stored is not None and stored.llm_endpoints_public_only is by_tenant


def test_an_itsm_address_a_tenant_chose_is_never_reached_once_it_rebinds_to_loopback(
    flow_settings: Settings,
    db: Database,
    box: SecretBox,
    tenant_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SdpServer() as sdp:
        rebound = sdp.base_url.replace("127.0.0.1", REBINDING_HOST)
        add_tenant(
            db, box, tenant_id, itsm_base_url=rebound, itsm_flavor="onprem",
            itsm_api_key=SDP_KEY, itsm_endpoint_public_only=True,
        )  # fmt: skip
        ticket = event(tenant_id, "3", "Printer offline")

        with rebinding_dns(monkeypatch, public_answers=0):
            run_flow(flow_settings.model_copy(update={"flow_attempts": 1}), [entry(ticket)])

        assert sdp.received == []
    row = recorded(db, tenant_id, ticket.event_id)
    assert row["status"] == "failed" and row["note_id"] is None
    assert "not a public address" in row["error"] or "ConnectError" in row["error"], row["error"]


def test_a_tenant_endpoint_stored_for_another_provider_is_not_called_through_litellm(
    flow_settings: Settings, db: Database, box: SecretBox, tenant_id: str, llm: OpenAiServer
) -> None:
    add_tenant(
        db, box, tenant_id, llm_model="anthropic/claude-3-5-haiku-latest",
        llm_api_base=llm.base_url, llm_api_key=KEY, llm_endpoints_public_only=True,
    )  # fmt: skip
    ticket = event(tenant_id, "4", "Teams will not start")

    run_flow(flow_settings.model_copy(update={"flow_attempts": 1}), [entry(ticket)])

    assert llm.requests == []
    (attempt,) = recorded(db, tenant_id, ticket.event_id)["context"]["llm_attempts"]
    assert attempt["outcome"] == "failed" and "OpenAI-compatible" in attempt["error"]
