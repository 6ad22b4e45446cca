from __future__ import annotations

import pytest
from pydantic import SecretStr

from aiops.llm import LlmTarget
from aiops.settings import Settings
from flows.context import Context
from flows.synthesis.choose import NO_KEY, llm_route, synthesizer_for
from flows.synthesis.llm import LlmSynthesizer
from flows.synthesis.offline import OfflineSynthesizer
from tests.fakes.openai_server import OpenAiServer
from tests.flows.events import event
from warehouse.tenants import TenantConfig

PLATFORM = Settings(
    llm_model="openai/gpt-4o-mini",
    llm_fallbacks=["openai/gpt-4o"],
    llm_api_base="http://llm-proxy.internal/v1",
    llm_api_key=SecretStr("sk-platform"),
)


def test_no_model_anywhere_means_offline() -> None:
    tenant = TenantConfig("t1", "T1")
    assert llm_route(tenant, Settings()) is None
    assert isinstance(synthesizer_for(tenant, Settings()), OfflineSynthesizer)
    assert isinstance(synthesizer_for(tenant, PLATFORM), LlmSynthesizer)


def test_a_tenant_without_llm_settings_uses_the_installations() -> None:
    route = llm_route(TenantConfig("t1", "T1"), PLATFORM)
    assert route is not None
    assert route.models == ("openai/gpt-4o-mini", "openai/gpt-4o")
    for target in route.targets:
        assert (target.api_base, target.api_key) == ("http://llm-proxy.internal/v1", "sk-platform")


def test_a_tenants_own_model_and_fallbacks_come_first_without_repeats() -> None:
    tenant = TenantConfig(
        "t1", "T1", llm_model="anthropic/claude-3-5-haiku", llm_fallbacks=("openai/gpt-4o",)
    )
    route = llm_route(tenant, PLATFORM)
    assert route is not None
    assert route.models == ("anthropic/claude-3-5-haiku", "openai/gpt-4o")
    assert {t.api_key for t in route.targets} == {"sk-platform"}


def test_the_installations_key_never_goes_to_an_endpoint_the_tenant_chose() -> None:
    own_base = TenantConfig("t1", "T1", llm_api_base="https://llm.tenant.example/v1")
    route = llm_route(own_base, PLATFORM)
    assert route is not None
    assert [(t.api_base, t.api_key) for t in route.targets] == [
        ("https://llm.tenant.example/v1", NO_KEY)
    ] * 2

    own_key = TenantConfig("t1", "T1", llm_api_key="sk-tenant")
    route = llm_route(own_key, PLATFORM)
    assert route is not None
    assert [(t.api_base, t.api_key) for t in route.targets] == [(None, "sk-tenant")] * 2
    assert "sk-tenant" not in repr(route)


def test_a_tenant_endpoint_without_a_key_never_gets_a_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # litellm reads OPENAI_API_KEY when it is handed no key: the tenant's endpoint must
    # not receive the key this process was started with.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    with OpenAiServer(api_key=NO_KEY) as server:
        tenant = TenantConfig(
            "t1", "T1", llm_model="openai/gpt-4o-mini", llm_api_base=server.base_url
        )
        route = llm_route(tenant, Settings())
        assert route is not None

        synthesis = LlmSynthesizer(route).synthesize(
            event("t1", "42", "VPN drops every hour"), Context()
        )

        assert synthesis.model == "openai/gpt-4o-mini"
        assert server.authorizations == [f"Bearer {NO_KEY}"]


def test_each_fallback_provider_has_its_own_endpoint_and_key_and_plain_names_still_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As an operator writes it: a JSON list mixing plain names and providers.
    monkeypatch.setenv(
        "AI_AGENTS_LLM_FALLBACKS",
        '["openai/gpt-4o", {"model": "azure/aiops-gpt4o", "api_base": '
        '"https://aiops.openai.azure.com", "api_key": "az-key"}, '
        '{"model": "anthropic/claude-3-5-haiku-latest", "api_key": "sk-ant"}]',
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        llm_model="openai/gpt-4o-mini",
        llm_api_key=SecretStr("sk-openai"),
    )
    route = llm_route(TenantConfig("t1", "T1"), settings)
    assert route is not None
    assert [(t.model, t.api_base, t.api_key) for t in route.targets] == [
        ("openai/gpt-4o-mini", None, "sk-openai"),
        ("openai/gpt-4o", None, "sk-openai"),
        ("azure/aiops-gpt4o", "https://aiops.openai.azure.com", "az-key"),
        ("anthropic/claude-3-5-haiku-latest", None, "sk-ant"),
    ]
    assert "az-key" not in repr(settings) and "az-key" not in repr(route)

    # A tenant with its own key never gets the installation's providers or their keys.
    byok = llm_route(TenantConfig("t1", "T1", llm_api_key="sk-tenant"), settings)
    assert byok is not None
    assert [(t.model, t.api_key) for t in byok.targets] == [
        ("openai/gpt-4o-mini", "sk-tenant"),
        ("openai/gpt-4o", "sk-tenant"),
    ]


def test_a_tenants_fallback_provider_keeps_its_own_key_beside_its_primary() -> None:
    tenant = TenantConfig(
        "t1",
        "T1",
        llm_model="openai/gpt-4o-mini",
        llm_api_key="sk-tenant",
        llm_fallbacks=(
            "openai/gpt-4o",
            LlmTarget("anthropic/claude-3-5-haiku-latest", None, "sk-ant-tenant"),
            LlmTarget("openai/local", "https://llm.tenant.example/v1"),
        ),
    )
    route = llm_route(tenant, PLATFORM)
    assert route is not None
    assert [(t.model, t.api_base, t.api_key) for t in route.targets] == [
        ("openai/gpt-4o-mini", None, "sk-tenant"),
        ("openai/gpt-4o", None, "sk-tenant"),
        ("anthropic/claude-3-5-haiku-latest", None, "sk-ant-tenant"),
        ("openai/local", "https://llm.tenant.example/v1", NO_KEY),
    ]
