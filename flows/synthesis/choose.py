"""Which synthesizer a tenant gets: its own model settings, else the installation's."""

from __future__ import annotations

from dataclasses import replace

from aiops.llm import LlmTarget
from aiops.settings import LlmFallback, Settings
from flows.synthesis import Synthesizer
from flows.synthesis.llm import LlmRoute, LlmSynthesizer
from flows.synthesis.offline import OfflineSynthesizer
from warehouse.tenants import TenantConfig

NO_KEY = "no-key"


def _own_pair(api_base: str | None, api_key: str | None) -> str | None:
    # An endpoint without a key gets a placeholder: litellm would otherwise send
    # OPENAI_API_KEY (or a similar variable) from this process's environment there.
    return api_key or (NO_KEY if api_base else None)


def _from_settings(fallback: str | LlmFallback) -> str | LlmTarget:
    if isinstance(fallback, str):
        return fallback
    key = fallback.api_key.get_secret_value() if fallback.api_key else None
    return LlmTarget(fallback.model, fallback.api_base, _own_pair(fallback.api_base, key))


def _resolve(fallback: str | LlmTarget, primary: LlmTarget) -> LlmTarget:
    """A plain model name shares the primary's endpoint and key; a target has its own."""
    if isinstance(fallback, str):
        return LlmTarget(fallback, primary.api_base, primary.api_key)
    return LlmTarget(
        fallback.model, fallback.api_base, _own_pair(fallback.api_base, fallback.api_key)
    )


def llm_route(tenant: TenantConfig, settings: Settings) -> LlmRoute | None:
    """Model and fallbacks: the tenant's if set, else the settings'. None when no model is
    configured anywhere: the offline synthesizer is used.

    API base and key go together: a tenant that sets either (bring your own key) gets
    its own pair, so the installation's key is never sent to an endpoint a tenant chose.
    Such a tenant without fallbacks of its own gets the installation's plain model names
    (on its own key), never the installation's fallback providers and their keys.
    A tenant endpoint without a key gets a placeholder (see _own_pair). Endpoints a
    tenant key chose are reached at public addresses only (checked on every connection).
    """
    model = tenant.llm_model or settings.llm_model
    if not model:
        return None
    own = bool(tenant.llm_api_base or tenant.llm_api_key)
    fallbacks: tuple[str | LlmTarget, ...] = tenant.llm_fallbacks or tuple(
        f for f in map(_from_settings, settings.llm_fallbacks) if not own or isinstance(f, str)
    )
    if own:
        primary = LlmTarget(model, tenant.llm_api_base, tenant.llm_api_key or NO_KEY)
    else:
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        primary = LlmTarget(model, settings.llm_api_base, key)
    targets = [primary, *(_resolve(f, primary) for f in fallbacks)]
    if own and tenant.llm_endpoints_public_only:
        targets = [replace(t, public_only=True) for t in targets]
    # The same model at the same endpoint is asked once, where it first comes.
    unique: dict[tuple[str, str | None], LlmTarget] = {}
    for target in targets:
        unique.setdefault((target.model, target.api_base), target)
    return LlmRoute(targets=tuple(unique.values()), timeout_seconds=settings.llm_timeout_seconds)


def synthesizer_for(tenant: TenantConfig, settings: Settings) -> Synthesizer:
    route = llm_route(tenant, settings)
    return OfflineSynthesizer() if route is None else LlmSynthesizer(route)
