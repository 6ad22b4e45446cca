"""Which synthesizer a tenant gets: its own model settings, else the installation's."""

from __future__ import annotations

from aiops.settings import Settings
from flows.synthesis import Synthesizer
from flows.synthesis.llm import LlmRoute, LlmSynthesizer
from flows.synthesis.offline import OfflineSynthesizer
from warehouse.tenants import TenantConfig

NO_KEY = "no-key"


def llm_route(tenant: TenantConfig, settings: Settings) -> LlmRoute | None:
    """Model and fallbacks: the tenant's if set, else the settings'. None when no model is
    configured anywhere: the offline synthesizer is used.

    API base and key go together: a tenant that sets either (bring your own key) gets
    its own pair, so the installation's key is never sent to an endpoint a tenant chose.
    A tenant endpoint without a key gets a placeholder: litellm would otherwise send
    OPENAI_API_KEY (or a similar variable) from this process's environment there.
    """
    model = tenant.llm_model or settings.llm_model
    if not model:
        return None
    fallbacks = tenant.llm_fallbacks or tuple(settings.llm_fallbacks)
    api_key: str | None
    if tenant.llm_api_base or tenant.llm_api_key:
        api_base, api_key = tenant.llm_api_base, tenant.llm_api_key or NO_KEY
    else:
        api_base = settings.llm_api_base
        api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return LlmRoute(
        models=tuple(dict.fromkeys((model, *fallbacks))),
        api_base=api_base,
        api_key=api_key,
        timeout_seconds=settings.llm_timeout_seconds,
    )


def synthesizer_for(tenant: TenantConfig, settings: Settings) -> Synthesizer:
    route = llm_route(tenant, settings)
    return OfflineSynthesizer() if route is None else LlmSynthesizer(route)
